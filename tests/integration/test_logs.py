"""The processors log structured JSON lines that name the tenant and the conversation they
are about, and carry no secret."""

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from tests.api.client import ApiClient
from tests.api.desks import close_desk, drained, open_desk

CUSTOMER = "logs_jane"
PROCESSORS = ("ProcessInboundFunction", "SendRepliesFunction")


@contextmanager
def function_logs(stack) -> Iterator[io.StringIO]:
    """What the functions log meanwhile. Their Powertools handlers (on the "twittnow"
    logger, which every function's Logger shares) keep the stream they were made with, so
    pytest's capture would not see them: they write here instead."""
    for function in stack.template.functions:
        if function.logical_id in PROCESSORS:
            stack.runtime.load_handler(function)  # its Logger, and so its handler, exists
    handlers = [
        handler
        for handler in logging.getLogger("twittnow").handlers
        if isinstance(handler, logging.StreamHandler)
    ]
    assert handlers, "the functions' logger has no handler"
    output = io.StringIO()
    streams = [handler.setStream(output) for handler in handlers]
    try:
        yield output
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)


def log_records(output: str) -> list[dict]:
    """The Powertools log lines of `output`."""
    records = []
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "level" in record:
            records.append(record)
    return records


def test_failed_attempts_are_logged_with_tenant_and_conversation_and_no_secret(
    stack_environment,
):
    stack = stack_environment
    api = ApiClient(stack, over_http=False)
    api.admin_token = api.login(stack.admin_username, stack.admin_password)
    desk = open_desk(api)
    try:
        with function_logs(stack) as logged:
            desk.servicenow_fault(endpoint="case", status=503, times=1)
            desk.customer_dm(CUSTOMER, "Hello?")
            drained(stack)
            [case] = desk.cases_of(CUSTOMER)
            requests.post(
                f"{desk.x_url}/sandbox/faults",
                json={"endpoint": "dm", "status": 503, "times": 1},
                timeout=10,
            ).raise_for_status()
            reply = api.post(
                "/events/",
                token=desk.token,
                json={"case": case["number"], "message": "We are on it."},
            )
            assert reply.status == 202, reply.body
            drained(stack)
    finally:
        close_desk(desk)

    output = logged.getvalue()
    failed = [
        record
        for record in log_records(output)
        if record["message"] == "Attempt failed" and record.get("tenant_id") == desk.tenant_id
    ]
    assert {record["function_name"].rsplit("-", 1)[-1] for record in failed} == set(PROCESSORS)
    assert {record["conversation_id"] for record in failed} == {
        desk.conversation_with(CUSTOMER)["id"]
    }
    for secret in (
        stack.servicenow_sandbox.admin_password,
        stack.x_sandbox.consumer_secret,
        desk.token,
    ):
        assert secret not in output
