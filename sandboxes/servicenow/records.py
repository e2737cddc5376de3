"""The sandbox instance's tables: cases with their journals, consumers with their social
profiles, attachments; and ServiceNow's encoded queries over them.

Records are flat dicts of strings, as the REST APIs answer them (sysparm_display_value
false): "state": "6", "active": "true", references as sys_ids.
"""

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

CASE_TABLE = "sn_customerservice_case"
CONSUMER_TABLE = "csm_consumer"
SOCIAL_PROFILE_TABLE = "sn_app_cs_social_social_profile"
SOCIAL_CHANNEL_TABLE = "sn_app_cs_social_social_channel"
# Reference fields a query or sysparm_fields may dot-walk: table -> field -> table.
REFERENCES = {
    CASE_TABLE: {
        "consumer": CONSUMER_TABLE,
        "sn_app_cs_social_social_profile": SOCIAL_PROFILE_TABLE,
    },
    SOCIAL_PROFILE_TABLE: {"consumer": CONSUMER_TABLE, "channel": SOCIAL_CHANNEL_TABLE},
}
NEW, OPEN, RESOLVED, CLOSED, CANCELLED = "1", "10", "6", "3", "7"
INACTIVE_STATES = (CLOSED, CANCELLED)


def new_sys_id() -> str:
    return secrets.token_hex(16)


def now() -> str:
    """ServiceNow's GMT timestamp format."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


class InvalidQuery(ValueError):
    pass


@dataclass(frozen=True)
class User:
    sys_id: str
    login: str
    name: str


@dataclass
class Tables:
    """Every table of the instance; the caller holds the sandbox's lock."""

    records: dict[str, dict[str, dict]] = field(
        default_factory=lambda: {
            table: {}
            for table in (CASE_TABLE, CONSUMER_TABLE, SOCIAL_PROFILE_TABLE, SOCIAL_CHANNEL_TABLE)
        }
    )
    journal: list[dict] = field(default_factory=list)  # activity entries, oldest first
    attachments: dict[str, dict] = field(default_factory=dict)  # metadata by sys_id
    _case_numbers: itertools.count = field(default_factory=lambda: itertools.count(10001))
    _consumer_numbers: itertools.count = field(default_factory=lambda: itertools.count(10001))

    # ------------------------------------------------------------ cases

    def create_case(self, fields: dict[str, str], user: User) -> dict:
        created = now()
        case = {
            "short_description": "",
            "description": "",
            "contact_type": "",
            "consumer": "",
            "correlation_id": "",
            "priority": "4",
            "state": NEW,
            "active": "true",
            "comments": "",
            "work_notes": "",
            "resolved_at": "",
            "closed_at": "",
            "close_notes": "",
            **{name: value for name, value in fields.items() if name not in JOURNAL_FIELDS},
            "sys_id": new_sys_id(),
            "number": f"CS{next(self._case_numbers):07d}",
            "sys_class_name": CASE_TABLE,
            "opened_at": created,
            "sys_created_on": created,
            "sys_created_by": user.login,
            "sys_updated_on": created,
            "sys_updated_by": user.login,
            "sys_mod_count": "0",
        }
        self.records[CASE_TABLE][case["sys_id"]] = case
        self._journal_fields(case, fields, user)
        return case

    def case(self, sys_id_or_number: str) -> dict | None:
        cases = self.records[CASE_TABLE]
        return cases.get(sys_id_or_number) or next(
            (case for case in cases.values() if case["number"] == sys_id_or_number), None
        )

    def update_case(self, case: dict, fields: dict[str, str], user: User) -> None:
        """Sets `fields`; comments and work_notes append journal entries instead."""
        for name, value in fields.items():
            if name not in JOURNAL_FIELDS and name not in ("sys_id", "number"):
                case[name] = value
        state = fields.get("state")
        if state == RESOLVED:
            case["resolved_at"] = now()
        if state in INACTIVE_STATES:
            case["active"], case["closed_at"] = "false", now()
        self._journal_fields(case, fields, user)
        case["sys_updated_on"], case["sys_updated_by"] = now(), user.login
        case["sys_mod_count"] = str(int(case["sys_mod_count"]) + 1)

    def _journal_fields(self, case: dict, fields: dict[str, str], user: User) -> None:
        for element in JOURNAL_FIELDS:
            if fields.get(element):
                self.add_journal_entry(case, element, fields[element], user)

    def add_journal_entry(
        self, case: dict, element: str, value: str, user: User, attachment: dict | None = None
    ) -> dict:
        created = now()
        entry = {
            "sys_id": new_sys_id(),
            "case": case["sys_id"],
            "number": case["number"],
            "element": element,
            "field_label": JOURNAL_LABELS[element],
            "value": value,
            "name": user.name,
            "login_name": user.name,
            "user_sys_id": user.sys_id,
            "initials": "".join(part[0] for part in user.name.split()[:2]).upper(),
            "sys_created_on": created,
            "sys_created_on_adjusted": created,
            "contains_code": "false",
        }
        if attachment is not None:
            entry["attachment"] = attachment
        self.journal.append(entry)
        return entry

    def activities(self, case: dict) -> list[dict]:
        """The case's activity entries, newest first, as the activities endpoint lists them."""
        entries = [entry for entry in self.journal if entry["case"] == case["sys_id"]]
        return [
            {name: value for name, value in entry.items() if name not in ("case", "number")}
            for entry in reversed(entries)
        ]

    # ------------------------------------------------------------ consumers

    def create_consumer(self, fields: dict[str, str], user: User) -> dict:
        """A consumer; social_channel, social_handle and social_handle_url make its social
        profile, as the Consumer API does."""
        social = {name: fields.get(name, "") for name in SOCIAL_FIELDS}
        created = now()
        consumer = {
            "first_name": "",
            "last_name": "",
            "email": "",
            "active": "true",
            **{name: value for name, value in fields.items() if name not in SOCIAL_FIELDS},
            "sys_id": new_sys_id(),
            "number": f"CSMR{next(self._consumer_numbers):07d}",
            "sys_created_on": created,
            "sys_created_by": user.login,
            "sys_updated_on": created,
            "sys_updated_by": user.login,
        }
        consumer.setdefault(
            "name", " ".join(filter(None, (consumer["first_name"], consumer["last_name"])))
        )
        self.records[CONSUMER_TABLE][consumer["sys_id"]] = consumer
        if all(social.values()):
            profile = {
                "sys_id": new_sys_id(),
                "profile": social["social_handle"],
                "profile_url": social["social_handle_url"],
                # The channel's own id of the user: the Consumer API cannot set it.
                "social_id": "",
                "channel": self._channel(social["social_channel"]),
                "consumer": consumer["sys_id"],
                "account": "",
                "contact": "",
                "sys_created_on": created,
                "sys_updated_on": created,
            }
            self.records[SOCIAL_PROFILE_TABLE][profile["sys_id"]] = profile
        return consumer

    def _channel(self, name: str) -> str:
        channels = self.records[SOCIAL_CHANNEL_TABLE]
        for sys_id, channel in channels.items():
            if channel["name"].lower() == name.lower():
                return sys_id
        channel = {"sys_id": new_sys_id(), "name": name}
        channels[channel["sys_id"]] = channel
        return channel["sys_id"]

    def update_social_profile(self, profile: dict, fields: dict[str, str]) -> None:
        """Sets `fields` of the profile, as the Table API's PATCH does; the record's own
        sys_ fields stay the instance's."""
        for name, value in fields.items():
            if not name.startswith("sys_"):
                profile[name] = value
        profile["sys_updated_on"] = now()

    def social_profiles(self, consumer: dict) -> list[dict]:
        channels = self.records[SOCIAL_CHANNEL_TABLE]
        return [
            {
                "sys_id": profile["sys_id"],
                "channel": channels[profile["channel"]]["name"],
                "social_id": profile["social_id"],
                "handle": profile["profile"],
                "url": profile["profile_url"],
            }
            for profile in self.records[SOCIAL_PROFILE_TABLE].values()
            if profile["consumer"] == consumer["sys_id"]
        ]

    # ------------------------------------------------------------ queries

    def query(
        self, table: str, encoded_query: str, fields: list[str], limit: int, offset: int
    ) -> list[dict]:
        """The records of `table` matching `encoded_query`, with `fields` (all if empty)."""
        conditions, order = _parse(encoded_query)

        def matches(record: dict) -> bool:
            def value(path: str) -> str:
                return self.value(table, record, path)

            return all(condition(value) for condition in conditions)

        matching = [record for record in self.records[table].values() if matches(record)]
        for path, descending in reversed(order):
            matching.sort(key=lambda record: self.value(table, record, path), reverse=descending)
        page = matching[offset : offset + limit]
        if not fields:
            return [dict(record) for record in page]
        return [{path: self.value(table, record, path) for path in fields} for record in page]

    def value(self, table: str, record: dict, path: str) -> str:
        """A field's value, dot-walking references ("consumer.first_name")."""
        name, _, rest = path.partition(".")
        value = record.get(name, "")
        if not rest:
            return value
        target = REFERENCES.get(table, {}).get(name)
        referenced = self.records[target].get(value) if target else None
        return self.value(target, referenced, rest) if referenced else ""


JOURNAL_FIELDS = ("comments", "work_notes")
JOURNAL_LABELS = {
    "comments": "Additional comments",
    "work_notes": "Work notes",
    "attachment": "Attachment",
}
SOCIAL_FIELDS = ("social_channel", "social_handle", "social_handle_url")


def _parse(encoded_query: str):
    """Conditions (field=value, field!=value, fieldISEMPTY, fieldISNOTEMPTY; ANDed with ^)
    and ORDERBY / ORDERBYDESC clauses. Like ServiceNow's default, = ignores case."""
    conditions, order = [], []
    for term in filter(None, encoded_query.split("^")):
        if term.startswith("ORDERBYDESC"):
            order.append((term.removeprefix("ORDERBYDESC"), True))
        elif term.startswith("ORDERBY"):
            order.append((term.removeprefix("ORDERBY"), False))
        elif term.endswith("ISNOTEMPTY"):
            path = term.removesuffix("ISNOTEMPTY")
            conditions.append(lambda value, path=path: value(path) != "")
        elif term.endswith("ISEMPTY"):
            path = term.removesuffix("ISEMPTY")
            conditions.append(lambda value, path=path: value(path) == "")
        elif "!=" in term:
            path, expected = term.split("!=", 1)
            conditions.append(
                lambda value, path=path, expected=expected: value(path).lower() != expected.lower()
            )
        elif "=" in term:
            path, expected = term.split("=", 1)
            conditions.append(
                lambda value, path=path, expected=expected: value(path).lower() == expected.lower()
            )
        else:
            raise InvalidQuery(f"The sandbox does not understand the query term {term!r}.")
    return conditions, order
