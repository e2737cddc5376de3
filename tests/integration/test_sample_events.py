"""Every function of template.yaml has a sample event in events/ that its handler answers
without a server error (the samples' tokens and signatures are not valid here: most answer
401), and queue functions handle without failing a record."""

import json
from pathlib import Path

import pytest

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def test_every_function_has_a_sample_event(local_stack):
    missing = [
        f.logical_id
        for f in local_stack.template.functions
        if not (EVENTS_DIR / f"{f.logical_id}.json").exists()
    ]
    assert missing == []


def test_every_handler_answers_its_sample_event_without_a_server_error(stack_environment):
    for function in stack_environment.template.functions:
        event = json.loads((EVENTS_DIR / f"{function.logical_id}.json").read_text())
        answer = stack_environment.runtime.invoke(function, event)
        if function.queue_triggers:
            assert answer == {"batchItemFailures": []}, function.logical_id
            continue
        if function.schedules:  # a scheduled run reports what it did, and raises on failure
            assert isinstance(answer, dict), function.logical_id
            continue
        assert answer["statusCode"] < 500, (function.logical_id, answer)
        # The OAuth callback answers the person's browser with a page; all else with JSON.
        if answer["statusCode"] >= 400 and _content_type(answer).startswith("application/json"):
            assert {"error", "code", "details", "request_id"} <= set(json.loads(answer["body"]))


def _content_type(answer: dict) -> str:
    headers = {
        **answer.get("headers", {}),
        **{k: v[0] for k, v in answer.get("multiValueHeaders", {}).items()},
    }
    return headers.get("Content-Type", "")


@pytest.mark.parametrize("name", sorted(path.stem for path in EVENTS_DIR.glob("*.json")))
def test_no_sample_event_is_left_without_a_function(local_stack, name):
    assert name in {function.logical_id for function in local_stack.template.functions}
