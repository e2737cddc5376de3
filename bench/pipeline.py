"""Pipeline: customers' DMs through the whole inbound path (X's signed delivery to the
webhook, the queue, the processor) to the sandbox ServiceNow, which answers every call
`--latency-ms` late.

    .venv/bin/python -m bench.pipeline [--customers 100] [--messages 10] [--latency-ms 50]

A fresh local stack (free port) and one tenant on its sandboxes, with no custom fields.
Each customer writes `--messages` DMs on the sandbox X, which delivers them to the
webhook over HTTP. Two phases, each timed until the queues are empty: every customer's
first DM (a new customer: a consumer and a case), then all the others (follow-ups on the
open cases). Per phase: ServiceNow calls (the sandbox's request counter) and DynamoDB
calls of the functions (botocore's before-call events on boto3's default session, which
the functions' clients come from), split into the webhook's (API threads) and the
processor's (queue pollers). X delivers the service's own DMs back to it (the
acknowledgements' echoes): they count in the first phase, as they would in production.

Locally one poller feeds the processor one batch at a time: the throughput is one Lambda
instance's. Goal: one ServiceNow call per follow-up on an open case, at most three for a
new customer's first DM.
"""

import argparse
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import boto3
import requests

from bench.common import machine, new_desk, start_stack
from tests.api.desks import Desk

READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
SENDERS = 8  # customers writing at once; each customer's DMs stay in order
SETTLE_SECONDS = 1800


class DynamoDbCalls:
    """The DynamoDB calls made through boto3's default session, by (caller, operation).
    Must exist before the functions make their clients: a client copies the session's
    event hooks when it is made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter = Counter()
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", self._count)

    def _count(self, event_name: str, **_) -> None:
        # The local stack's pollers run the queue functions; API threads run the webhook.
        caller = "processor" if threading.current_thread().name.startswith("poller-") else "webhook"
        with self._lock:
            self._counts[caller, event_name.rpartition(".")[2]] += 1

    def snapshot(self) -> Counter:
        with self._lock:
            return Counter(self._counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=10, help="DMs per customer")
    parser.add_argument("--latency-ms", type=int, default=50, help="ServiceNow's, per call")
    options = parser.parse_args()

    dynamodb = DynamoDbCalls()
    stack = start_stack()
    try:
        desk = new_desk(stack)
        servicenow(desk, "PUT", "/sandbox/settings", latency_ms=options.latency_ms)
        customers = [f"customer{index:03d}" for index in range(options.customers)]
        print(
            f"pipeline: {options.customers} customers x {options.messages} DMs, ServiceNow "
            f"{options.latency_ms} ms per call, {machine()}"
        )
        phases = [
            ("new customers' first DMs", range(1, 2)),
            ("follow-ups on open cases", range(2, options.messages + 1)),
        ]
        results = [
            run_phase(stack, desk, dynamodb, name, customers, numbers) for name, numbers in phases
        ]
        overview = servicenow(desk, "GET", "/sandbox")
    finally:
        stack.stop()

    messages = sum(count for count, _, _ in results)
    seconds = sum(elapsed for _, elapsed, _ in results)
    comments = sum(1 for line in overview["journal"] if line["element"] == "comments")
    print(
        f"all: {messages} DMs in {seconds:.1f} s, {messages / seconds:.1f} DMs/s; ServiceNow "
        f"has {len(overview['cases'])} cases and {comments} comments"
    )
    first, follow_up = (calls for _, _, calls in results)
    met = first <= 3 and follow_up <= 1
    print(
        f"goal: <= 3 ServiceNow calls for a first DM ({first:.2f}), 1 per follow-up "
        f"({follow_up:.2f}): {'met' if met else 'missed'}"
    )


def run_phase(
    stack, desk: Desk, dynamodb: DynamoDbCalls, name: str, customers: list[str], numbers: range
) -> tuple[int, float, float]:
    """Sends DM number `numbers` of every customer and waits for the queues to empty;
    prints what it cost. Answers (DMs, seconds, ServiceNow calls per DM)."""
    servicenow_before = servicenow(desk, "GET", "/sandbox")["requests"]
    dynamodb_before = dynamodb.snapshot()
    started = time.perf_counter()

    def write(customer: str) -> None:
        for number in numbers:
            desk.customer_dm(customer, f"Message {number} from {customer}")

    with ThreadPoolExecutor(SENDERS) as senders:
        list(senders.map(write, customers))
    settle(stack)
    elapsed = time.perf_counter() - started

    servicenow_after = servicenow(desk, "GET", "/sandbox")["requests"]
    dynamodb_calls = dynamodb.snapshot() - dynamodb_before
    count = len(customers) * len(numbers)
    servicenow_calls = (servicenow_after["total"] - servicenow_before["total"]) / count
    routes = Counter(servicenow_after["by_route"]) - Counter(servicenow_before["by_route"])
    print(f"{name}: {count} DMs in {elapsed:.1f} s, {count / elapsed:.1f} DMs/s")
    print(
        f"  ServiceNow calls per DM {servicenow_calls:.2f}: "
        + ", ".join(f"{route} {calls / count:.2f}" for route, calls in sorted(routes.items()))
    )
    for caller in ("webhook", "processor"):
        calls = {op: n for (who, op), n in dynamodb_calls.items() if who == caller}
        reads = sum(n for op, n in calls.items() if op in READS)
        writes = sum(calls.values()) - reads
        print(
            f"  DynamoDB per DM, {caller:9}: {reads / count:5.2f} reads, "
            f"{writes / count:5.2f} writes ("
            + ", ".join(f"{op} {n / count:.2f}" for op, n in sorted(calls.items()))
            + ")"
        )
    return count, elapsed, servicenow_calls


def settle(stack) -> None:
    """Waits until the queues are empty and X has made the deliveries it makes in the
    background (the echoes of the service's DMs), and those are handled too."""
    assert stack.drain(SETTLE_SECONDS), "the queues did not drain"
    assert stack.x_sandbox.drain(SETTLE_SECONDS), "the sandbox X did not deliver"
    assert stack.drain(SETTLE_SECONDS), "the queues did not drain"


def servicenow(desk: Desk, method: str, path: str, **body) -> dict:
    answer = requests.request(method, desk.servicenow_url + path, json=body or None, timeout=60)
    answer.raise_for_status()
    return answer.json()


if __name__ == "__main__":
    main()
