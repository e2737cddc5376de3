"""The case correlation id: what the inbound processor builds, case events read back."""

import pytest

from twittnow import correlation_ids
from twittnow.correlation_ids import CaseCorrelation


@pytest.mark.parametrize(
    ("conversation_id", "event_id"),
    [("5b8f0c3e9d2a4f6b8c1d2e3f4a5b6c7d", "1900000000000000001"), ("0f3a", "revoke:1500:17")],
)
def test_a_built_correlation_id_parses_back(conversation_id, event_id):
    built = correlation_ids.for_case(conversation_id, event_id)
    assert built == f"twittnow:{conversation_id}:{event_id}"
    assert correlation_ids.parse(built) == CaseCorrelation(conversation_id, event_id)


@pytest.mark.parametrize(
    "correlation_id",
    [
        "",
        "twittnow",
        "twittnow:",
        "twittnow:0f3a",
        "twittnow:0f3a:",
        "twittnow::1790",
        "other:0f3a:1790",
        "TWITTNOW:0f3a:1790",
        "CS0001005",
    ],
)
def test_what_is_not_one_of_ours_names_no_conversation(correlation_id):
    assert correlation_ids.parse(correlation_id) is None
