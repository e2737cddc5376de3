"""Request and response shapes of POST /events/."""

import re
from enum import StrEnum

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from twittnow.api import Body

# Sys_ids are hex digits and case numbers a prefix and digits (CS0001005). A case may be
# looked up in a ServiceNow encoded query, where "^" would add conditions of the caller's
# choosing and "javascript:" would run a script: such values are refused here, before any
# lookup.
_RECORD_REFERENCE = re.compile(r"[A-Za-z0-9_-]+")
_REFERENCE_HINTS = {
    "case": "the case's sys_id or its number, like CS0001005",
    "number": "the case number, like CS0001005",
    "target": "the customer's consumer sys_id",
}


class CaseEventType(StrEnum):
    COMMENT = "comment"  # an agent's customer-visible comment: sent to the customer
    RESOLVED = "resolved"  # the closing message, if any, then the conversation ends
    CLOSED = "closed"


class CaseEventRequest(Body):
    """What the update set's business rule sends (JSON), or the original API's form
    fields. Fields ServiceNow may add are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    case: str | None = Field(None, max_length=64, description="The case's sys_id or number.")
    number: str | None = Field(None, max_length=40, description="The case number.")
    target: str | None = Field(
        None, max_length=64, description="The customer's consumer sys_id, as the original API took."
    )
    message: str = Field("", max_length=10_000)
    type: CaseEventType = CaseEventType.COMMENT
    event_id: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="ServiceNow's id of the change, so that a retried event is delivered once.",
    )

    @field_validator("case", "number", "target")
    @classmethod
    def _record_reference(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and not _RECORD_REFERENCE.fullmatch(value):
            raise ValueError(
                # A field validator's info always names the field; pydantic types it optional.
                f"Send {_REFERENCE_HINTS[info.field_name]}: letters, digits, '-' and '_' only."  # type: ignore[index]
            )
        return value

    @field_validator("event_id")
    @classmethod
    def _printable(cls, event_id: str | None) -> str | None:
        # It becomes part of an SQS deduplication id, which allows only these characters.
        if event_id is not None and not all("!" <= char <= "~" for char in event_id):
            raise ValueError("must be printable ASCII characters without spaces")
        return event_id


class CaseEventAccepted(Body):
    id: str  # the event id (ServiceNow's, or one derived from the event)
    conversation: str
    status: str  # the reply's status: "queued", or what became of an event sent before
