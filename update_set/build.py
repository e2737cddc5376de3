"""Builds twittnow_update_set.xml, the update set a tenant imports into its ServiceNow
instance (System Update Sets > Retrieved Update Sets > Import Update Set from XML), from
business_rule.js and business_rule_condition.js:

    python -m update_set.build

The file has the shape of an instance's own "Export to XML": an <unload> holding one
sys_remote_update_set and one sys_update_xml per record, whose <payload> is the record's
<record_update> document, escaped. The same inputs always give the same bytes (sys_ids are
derived from names, dates are fixed), so tests/update_set can check that the checked-in
file is a fresh build. Change VERSION and RELEASED_ON with the rule, so that an instance
tells the sets apart.
"""

import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "twittnow_update_set.xml"
SCRIPT = HERE / "business_rule.js"
CONDITION = HERE / "business_rule_condition.js"

VERSION = "1.0.0"
RELEASED_ON = "2026-05-01 00:00:00"
UPDATE_SET_NAME = f"Twittnow {VERSION}"
CASE_TABLE = "sn_customerservice_case"
RULE_NAME = "Twittnow: send case updates to X"
AUTHOR = "admin"
# sys_ids are uuid5 of a record's name in this namespace: stable across builds and versions,
# so a newer set updates the records an older one created instead of adding twins.
_SYS_IDS = uuid.UUID("be4f4707-e897-4590-957a-d189ee0efec7")
_GLOBAL = {"display_value": "Global"}


@dataclass(frozen=True)
class Property:
    name: str
    type: str
    description: str


PROPERTIES = (
    Property(
        "twittnow.events_endpoint",
        "string",
        "Base URL of the Twittnow API, such as "
        "https://abc.execute-api.us-east-1.amazonaws.com/prod. Case updates are posted to "
        "<this URL>/events/. Empty: nothing is sent.",
    ),
    Property(
        "twittnow.api_key",
        "password2",
        "The developer API key Twittnow gave this tenant (POST /api-key/), sent as "
        "'Authorization: Token <key>'. Empty: nothing is sent.",
    ),
    Property(
        "twittnow.integration_user",
        "string",
        "User name of the user Twittnow signs in as (the admin_user of the tenant's "
        "ServiceNow details). Its comments are the customers' own messages from X, so they "
        "are never sent back.",
    ),
)


@dataclass(frozen=True)
class Record:
    """One record of the set: its table, its fields, and how the update lists it."""

    table: str
    name: str
    type_label: str  # the sys_update_xml's type, as the instance shows it
    target_table: str  # the sys_update_xml's table: the table a business rule runs on
    fields: dict[str, str]

    @property
    def sys_id(self) -> str:
        return sys_id(f"{self.table}:{self.name}")

    @property
    def update_name(self) -> str:
        return f"{self.table}_{self.sys_id}"


def sys_id(name: str) -> str:
    return uuid.uuid5(_SYS_IDS, name).hex


def business_rule() -> Record:
    return Record(
        table="sys_script",
        name=RULE_NAME,
        type_label="Business Rule",
        target_table=CASE_TABLE,
        fields={
            "abort_action": "false",
            "access": "package_private",
            "action_delete": "false",
            "action_insert": "false",
            "action_query": "false",
            "action_update": "true",
            "active": "true",
            "add_message": "false",
            "advanced": "true",
            "change_fields": "false",
            "client_callable": "false",
            "collection": CASE_TABLE,
            "condition": condition(),
            "description": (
                "Sends agents' customer-visible comments, and the case being resolved or "
                "closed, to the Twittnow API, which replies to the customer on X. Settings: "
                "the twittnow.* system properties."
            ),
            "execute_function": "false",
            "filter_condition": "",
            "is_rest": "false",
            "message": "",
            "name": RULE_NAME,
            "order": "100",
            "priority": "100",
            "role_conditions": "",
            "script": SCRIPT.read_text(encoding="utf-8"),
            "template": "",
            "when": "async",
        },
    )


def condition() -> str:
    """business_rule_condition.js on one line, as the rule's condition field holds it."""
    return " ".join(CONDITION.read_text(encoding="utf-8").split())


def system_property(prop: Property) -> Record:
    return Record(
        table="sys_properties",
        name=prop.name,
        type_label="System Property",
        target_table="",
        fields={
            "choices": "",
            "description": prop.description,
            "ignore_cache": "false",
            "is_private": "false",
            "name": prop.name,
            "read_roles": "",
            "suffix": prop.name.removeprefix("twittnow."),
            "type": prop.type,
            "value": "",
            "write_roles": "",
        },
    )


def records() -> list[Record]:
    return [business_rule(), *(system_property(prop) for prop in PROPERTIES)]


def build() -> str:
    """The update set's XML."""
    set_id = sys_id(f"sys_remote_update_set:{UPDATE_SET_NAME}")
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?><unload unload_date="{RELEASED_ON}">',
        _remote_update_set(set_id),
        *(_update_xml(record, set_id) for record in records()),
        "</unload>",
    ]
    return "\n".join(parts) + "\n"


def _remote_update_set(set_id: str) -> str:
    return _flat_record(
        "sys_remote_update_set",
        {
            "application": ("global", _GLOBAL),
            "application_name": "Global",
            "application_scope": "global",
            "application_version": "",
            "collisions": "",
            "commit_date": "",
            "deleted": "",
            "description": (
                "Twittnow: agents' replies on CSM cases go to the customer on X. "
                f"Set its {len(PROPERTIES)} system properties (twittnow.*) after committing."
            ),
            "inserted": "",
            "name": UPDATE_SET_NAME,
            "origin_sys_id": "",
            "parent": ("", {"display_value": ""}),
            "release_date": "",
            "remote_base_update_set": ("", {"display_value": ""}),
            "remote_parent_id": "",
            "remote_sys_id": sys_id(f"sys_update_set:{UPDATE_SET_NAME}"),
            "state": "loaded",
            "summary": "",
            "sys_class_name": "sys_remote_update_set",
            "sys_created_by": AUTHOR,
            "sys_created_on": RELEASED_ON,
            "sys_id": set_id,
            "sys_mod_count": "0",
            "sys_updated_by": AUTHOR,
            "sys_updated_on": RELEASED_ON,
            "update_set": ("", {"display_value": ""}),
            "update_source": ("", {"display_value": ""}),
            "updated": "",
        },
    )


def _update_xml(record: Record, set_id: str) -> str:
    return _flat_record(
        "sys_update_xml",
        {
            "action": "INSERT_OR_UPDATE",
            "application": ("global", _GLOBAL),
            "category": "customer",
            "comments": "",
            "name": record.update_name,
            "payload": _payload(record),
            "remote_update_set": (set_id, {"display_value": UPDATE_SET_NAME}),
            "replace_on_upgrade": "false",
            "sys_created_by": AUTHOR,
            "sys_created_on": RELEASED_ON,
            "sys_id": sys_id(f"sys_update_xml:{UPDATE_SET_NAME}:{record.update_name}"),
            "sys_mod_count": "0",
            "sys_updated_by": AUTHOR,
            "sys_updated_on": RELEASED_ON,
            "table": record.target_table,
            "target_name": record.name,
            "type": record.type_label,
            "update_domain": "global",
            "update_set": ("", {"display_value": ""}),
            "view": "",
        },
    )


def _payload(record: Record) -> str:
    """The record as the instance writes it into an update: its fields, then the
    bookkeeping every application file has, one field a line, the script in CDATA."""
    fields = {
        **record.fields,
        "sys_class_name": record.table,
        "sys_created_by": AUTHOR,
        "sys_created_on": RELEASED_ON,
        "sys_id": record.sys_id,
        "sys_mod_count": "0",
        "sys_name": record.name,
        "sys_package": ("global", {**_GLOBAL, "source": "global"}),
        "sys_policy": "",
        "sys_scope": ("global", _GLOBAL),
        "sys_update_name": record.update_name,
        "sys_updated_by": AUTHOR,
        "sys_updated_on": RELEASED_ON,
    }
    lines = [
        f'<?xml version="1.0" encoding="UTF-8"?><record_update table="{record.table}">',
        f'    <{record.table} action="INSERT_OR_UPDATE">',
        *(f"        {_field(name, fields[name])}" for name in sorted(fields)),
        f"    </{record.table}>",
        "</record_update>",
    ]
    return "\n".join(lines)


def _flat_record(table: str, fields: dict) -> str:
    lines = [f'<{table} action="INSERT_OR_UPDATE">']
    lines += [_field(name, value) for name, value in fields.items()]
    lines.append(f"</{table}>")
    return "\n".join(lines)


def _field(name: str, value: str | tuple[str, dict[str, str]]) -> str:
    value, attributes = value if isinstance(value, tuple) else (value, {})
    attrs = "".join(f" {key}={quoteattr(val)}" for key, val in attributes.items())
    if name == "script":
        if "]]>" in value:
            raise ValueError("business_rule.js must not contain ']]>' (it goes in CDATA)")
        return f"<{name}{attrs}><![CDATA[{value}]]></{name}>"
    if not value:
        return f"<{name}{attrs}/>"
    return f"<{name}{attrs}>{escape(value)}</{name}>"


def main() -> None:
    OUTPUT.write_text(build(), encoding="utf-8", newline="\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
