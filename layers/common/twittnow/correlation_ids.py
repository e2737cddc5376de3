"""The correlation id of a case the inbound processor opens: "twittnow:<conversation>:<X
event id>", from the conversation's first message. ServiceNow keeps it on the case, so a
retried create finds the case an earlier attempt made, and a case event for a case not yet
linked to its conversation still finds the conversation."""

from typing import NamedTuple

PREFIX = "twittnow"


class CaseCorrelation(NamedTuple):
    conversation_id: str
    event_id: str


def for_case(conversation_id: str, event_id: str) -> str:
    return f"{PREFIX}:{conversation_id}:{event_id}"


def parse(correlation_id: str) -> CaseCorrelation | None:
    """The conversation and event a correlation id names; None when it is not one of ours
    (another integration's, or none)."""
    prefix, _, rest = correlation_id.partition(":")
    conversation_id, _, event_id = rest.partition(":")
    if prefix != PREFIX or not conversation_id or not event_id:
        return None
    return CaseCorrelation(conversation_id, event_id)
