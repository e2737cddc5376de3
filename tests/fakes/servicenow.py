"""A fake of tenants' ServiceNow instances (twittnow.clients.servicenow.ServiceNowClient):
cases, consumers and their social profiles, comments, work notes and attachments, kept in
memory with sys_ids and case numbers. Failures are scripted with `fail`, using the real
client's exceptions; what the real client refuses before sending anything (a malformed
sys_id, an unsafe query value), this refuses too."""

import uuid
from dataclasses import dataclass
from datetime import UTC
from itertools import count
from typing import Any

from tests.fakes.scripted import Scripted
from twittnow import clock
from twittnow.clients.servicenow import (
    SYS_ID,
    Activity,
    Case,
    CaseState,
    Consumer,
    ServiceNowNotFound,
    SocialProfile,
    _encoded_query,  # the client's own check of query values
)


@dataclass(frozen=True)
class Attachment:
    case_sys_id: str
    file_name: str
    content_type: str
    data: bytes


class FakeServiceNowInstance(Scripted):
    """One instance, as ServiceNowApi. Records are dicts of the instance's fields, with
    string values as the API answers them."""

    def __init__(self, instance_url: str):
        super().__init__()
        self.instance_url = instance_url
        self.user = "admin"  # the integration user last connected: the author of its entries
        # The social channels the instance has: create_consumer makes a profile on these.
        self.social_channels = {"Twitter"}
        self.cases: dict[str, dict[str, str]] = {}
        self.consumers: dict[str, dict[str, str]] = {}
        self.profiles: dict[str, dict[str, str]] = {}
        self.activities: dict[str, list[Activity]] = {}  # by case sys_id, oldest first
        self.attachments: dict[str, Attachment] = {}  # by sys_id
        self._numbers = count(1)

    # ------------------------------------------------------------ for tests

    def add_case(self, consumer_sys_id: str = "", **fields: str) -> Case:
        """A case as if an agent (or an earlier attempt) made it; not recorded as a call."""
        sys_id = uuid.uuid4().hex
        self.cases[sys_id] = {
            "short_description": "",
            "description": "",
            "correlation_id": "",
            **fields,
            "consumer": consumer_sys_id,
            "sys_id": sys_id,
            "number": f"CS{next(self._numbers):07d}",
        }
        self.set_state(sys_id, fields.get("state", CaseState.NEW))
        self.activities[sys_id] = []
        return self._case(sys_id)

    def set_state(self, case: str, state: str) -> Case:
        """An agent moving the case on (CaseState.RESOLVED, CLOSED...). A resolved case stays
        active: it waits for the customer."""
        record = self.cases[self._case_sys_id(case)]
        record["state"] = state
        record["active"] = "false" if state in (CaseState.CLOSED, CaseState.CANCELLED) else "true"
        return self._case(record["sys_id"])

    def delete_case(self, case: str) -> None:
        del self.cases[self._case_sys_id(case)]

    def add_consumer(self, first_name: str = "", last_name: str = "", **fields: str) -> Consumer:
        """A consumer, without a social profile (add_profile gives it one)."""
        sys_id = uuid.uuid4().hex
        self.consumers[sys_id] = {**fields, "first_name": first_name, "last_name": last_name}
        return self._consumer(sys_id)

    def add_profile(
        self, consumer_sys_id: str, handle: str, social_id: str = "", channel: str = "Twitter"
    ) -> SocialProfile:
        sys_id = uuid.uuid4().hex
        self.profiles[sys_id] = {
            "social_id": social_id,
            "profile": handle,
            "profile_url": f"https://x.com/{handle}",
            "channel": channel,
            "consumer": consumer_sys_id,
        }
        return self._profile(sys_id)

    def comments(self, case: str) -> list[str]:
        """The texts of the case's comments, oldest first (case: its sys_id or number)."""
        return self._entries(case, "comments")

    def work_notes(self, case: str) -> list[str]:
        return self._entries(case, "work_notes")

    def files(self, case: str) -> list[Attachment]:
        sys_id = self._case_sys_id(case)
        return [a for a in self.attachments.values() if a.case_sys_id == sys_id]

    # ------------------------------------------------------------ ServiceNowApi

    def check_case_api(self) -> None:
        self._called("check_case_api")

    def create_consumer(
        self,
        first_name: str,
        last_name: str,
        social_channel: str,
        social_handle: str,
        social_handle_url: str,
        **extra_fields: str,
    ) -> Consumer:
        """With a profile on the channel, if the instance has it; its social_id stays
        empty, as the Consumer API cannot set it."""
        self._called(
            "create_consumer",
            first_name=first_name,
            last_name=last_name,
            social_channel=social_channel,
            social_handle=social_handle,
            social_handle_url=social_handle_url,
            **extra_fields,
        )
        consumer = self.add_consumer(first_name, last_name, **extra_fields)
        if social_channel in self.social_channels:
            profile = self.add_profile(consumer.sys_id, social_handle, channel=social_channel)
            self.profiles[profile.sys_id]["profile_url"] = social_handle_url
        return consumer

    def get_consumer(self, sys_id: str) -> Consumer:
        self._called("get_consumer", sys_id=sys_id)
        self._known(self.consumers, sys_id)
        return self._consumer(sys_id)

    def find_social_profile(self, social_channel: str, social_id: str) -> SocialProfile | None:
        self._called("find_social_profile", social_channel=social_channel, social_id=social_id)
        return self._oldest_profile(channel=social_channel, social_id=social_id)

    def social_profile_of(self, consumer_sys_id: str, social_channel: str) -> SocialProfile | None:
        self._called(
            "social_profile_of", consumer_sys_id=consumer_sys_id, social_channel=social_channel
        )
        return self._oldest_profile(consumer=consumer_sys_id, channel=social_channel)

    def set_social_profile(self, sys_id: str, **fields: str) -> SocialProfile:
        self._called("set_social_profile", sys_id=sys_id, **fields)
        self._known(self.profiles, sys_id)
        self.profiles[sys_id].update(fields)
        return self._profile(sys_id)

    def create_case(
        self,
        short_description: str,
        description: str,
        consumer_sys_id: str,
        *,
        correlation_id: str,
        contact_type: str = "social",
        **extra_fields: str,
    ) -> Case:
        self._called(
            "create_case",
            short_description=short_description,
            description=description,
            consumer_sys_id=consumer_sys_id,
            correlation_id=correlation_id,
            contact_type=contact_type,
            **extra_fields,
        )
        fields = {
            **extra_fields,  # as the client's body: the named fields win
            "short_description": short_description,
            "description": description,
            "correlation_id": correlation_id,
            "contact_type": contact_type,
        }
        return self.add_case(consumer_sys_id, **fields)

    def get_case(self, sys_id_or_number: str) -> Case:
        """By sys_id or number; ServiceNowNotFound if none."""
        self._called("get_case", sys_id_or_number=sys_id_or_number)
        return self._case(self._case_sys_id(sys_id_or_number))

    def find_case_by_correlation_id(self, correlation_id: str) -> Case | None:
        """The newest case made with it."""
        self._called("find_case_by_correlation_id", correlation_id=correlation_id)
        _encoded_query(("correlation_id", correlation_id))
        made = [sys_id for sys_id, c in self.cases.items() if c["correlation_id"] == correlation_id]
        return self._case(made[-1]) if made else None

    def add_comment(self, case_sys_id: str, text: str) -> Case:
        """A customer-visible comment; answers the case as it is now."""
        self._called("add_comment", case_sys_id=case_sys_id, text=text)
        return self._add_entry(case_sys_id, "comments", text)

    def add_work_note(self, case_sys_id: str, text: str) -> Case:
        self._called("add_work_note", case_sys_id=case_sys_id, text=text)
        return self._add_entry(case_sys_id, "work_notes", text)

    def case_activities(self, case_sys_id: str) -> list[Activity]:
        """Comments, work notes and attachments, newest first."""
        self._called("case_activities", case_sys_id=case_sys_id)
        self._known(self.cases, case_sys_id)
        return self.activities[case_sys_id][::-1]

    def attach_file(self, case_sys_id: str, file_name: str, content_type: str, data: bytes) -> str:
        self._called(
            "attach_file",
            case_sys_id=case_sys_id,
            file_name=file_name,
            content_type=content_type,
            data=data,
        )
        self._known(self.cases, case_sys_id)  # our choice: a file on no record is refused
        sys_id = uuid.uuid4().hex
        self.attachments[sys_id] = Attachment(case_sys_id, file_name, content_type, data)
        self.activities[case_sys_id].append(self._activity("attachment", file_name))
        return sys_id

    # ------------------------------------------------------------ records

    def _case_sys_id(self, case: str) -> str:
        if SYS_ID.fullmatch(case):
            self._known(self.cases, case)
            return case
        found = next((sys_id for sys_id, c in self.cases.items() if c["number"] == case), None)
        if found is None:
            raise ServiceNowNotFound(f"No case {case}.", status_code=404)
        return found

    def _case(self, sys_id: str) -> Case:
        record = self.cases[sys_id]
        return Case(
            sys_id=sys_id,
            number=record["number"],
            state=record["state"],
            active=record["active"] == "true",
            correlation_id=record["correlation_id"],
            short_description=record["short_description"],
            consumer_sys_id=record["consumer"],
        )

    def _consumer(self, sys_id: str) -> Consumer:
        record = self.consumers.get(sys_id, {})
        return Consumer(sys_id, record.get("first_name", ""), record.get("last_name", ""))

    def _profile(self, sys_id: str) -> SocialProfile:
        record = self.profiles[sys_id]
        return SocialProfile(
            sys_id=sys_id,
            social_id=record["social_id"],
            handle=record["profile"],
            url=record["profile_url"],
            consumer=self._consumer(record["consumer"]),
        )

    def _oldest_profile(self, **conditions: str) -> SocialProfile | None:
        _encoded_query(*conditions.items())
        for sys_id, record in self.profiles.items():
            if record["consumer"] and all(record[k] == v for k, v in conditions.items()):
                return self._profile(sys_id)
        return None

    def _add_entry(self, case_sys_id: str, kind: str, text: str) -> Case:
        self._known(self.cases, case_sys_id)
        self.activities[case_sys_id].append(self._activity(kind, text))
        return self._case(case_sys_id)

    def _activity(self, kind: str, text: str) -> Activity:
        created_on = clock.now().astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")  # GMT
        return Activity(uuid.uuid4().hex, kind, text, self.user, created_on)

    def _entries(self, case: str, kind: str) -> list[str]:
        entries = self.activities[self._case_sys_id(case)]
        return [entry.text for entry in entries if entry.kind == kind]

    @staticmethod
    def _known(records: dict[str, Any], sys_id: str) -> None:
        # The client refuses a malformed sys_id before sending; the instance answers 404
        # for an unknown one.
        if not SYS_ID.fullmatch(sys_id) or sys_id not in records:
            raise ServiceNowNotFound(f"No record with sys_id {sys_id!r}.", status_code=404)


class FakeServiceNow:
    """Every tenant's instance, as Ports.servicenow: connecting records the instance URL,
    user and password, and answers that instance's fake (one per URL, made on first use)."""

    def __init__(self) -> None:
        self.instances: dict[str, FakeServiceNowInstance] = {}
        self.connections: list[tuple[str, str, str]] = []  # (instance URL, user, password)

    def __call__(self, instance_url: str, username: str, password: str) -> FakeServiceNowInstance:
        self.connections.append((instance_url, username, password))
        instance = self.instance(instance_url)
        instance.user = username
        return instance

    def instance(self, instance_url: str) -> FakeServiceNowInstance:
        url = instance_url.rstrip("/")
        return self.instances.setdefault(url, FakeServiceNowInstance(url))
