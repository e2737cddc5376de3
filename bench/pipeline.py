"""Pipeline: customers' DMs or posts through the whole inbound path, and what they cost.

X's signed delivery to the webhook, the queue, the processor, to the sandbox ServiceNow,
which answers every call `--latency-ms` late.

    .venv/bin/python -m bench.pipeline [--customers 100] [--messages 10] [--latency-ms 50]
        [--channel dm|post]

A fresh local stack (free port) and one tenant on its sandboxes, with no custom fields.
Each customer writes `--messages` DMs on the sandbox X, which delivers them to the
webhook over HTTP. Two phases, each timed until the queues are empty: every customer's
first DM (a new customer: a consumer and a case), then all the others (follow-ups on the
open cases). Per phase: ServiceNow calls (the sandbox's request counter) and DynamoDB
calls of the functions (botocore's before-call events on boto3's default session, which
the functions' clients come from), split into the webhook's (API threads) and the
processor's (queue pollers). X delivers the service's own DMs back to it (the
acknowledgements' echoes): they count in the first phase, as they would in production.

And X: the calls X's API received (the sandbox X's request counter), the posts and DMs it
made of them (its /sandbox/sent) and what it delivered to the webhook (its
/sandbox/deliveries, by event type), priced at X's published prices (bench.x_prices).
With `--channel post` customers write posts instead: a first mention of the account, then
replies to the service's latest reply in their thread, typed without @mention as in X's
app (delivered as post.reply.create).

Locally one poller feeds the processor one batch at a time: the throughput is one Lambda
instance's. Goal: one ServiceNow call per follow-up on an open case, at most three for a
new customer's first DM.
"""

import argparse
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import boto3
import requests

from bench import x_prices
from bench.common import machine, new_desk, start_stack
from tests.api.desks import Desk

READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
SENDERS = 8  # customers writing at once; each customer's DMs stay in order
SETTLE_SECONDS = 1800
# The kind of each call X's API received, by the sandbox X's route handler; posts and DMs
# are told apart by what X made of them (x_kinds).
ROUTE_KINDS = {
    "request_token": "OAuth 1.0a token",
    "access_token": "OAuth 1.0a token",
    "app_token": "app bearer token",
    "token": "OAuth 2.0 token",
    "me": x_prices.USER_READ,
    "user": x_prices.USER_READ,
    "register_webhook": "webhook management",
    "list_webhooks": "webhook management",
    "validate_webhook": "webhook management",
    "delete_webhook": "webhook management",
    "subscribe_account_activity": "subscription management",
    "check_account_activity": "subscription management",
    "list_account_activity": "subscription management",
    "unsubscribe_account_activity": "subscription management",
    "subscribe_activity": "subscription management",
    "list_activity": "subscription management",
    "unsubscribe_activity": "subscription management",
    "media_file": "media download",
    "replay": "webhook management",
    "register_public_key": "X Chat key management",
    "public_keys": "X Chat key management",
    "add_conversation_keys": "X Chat key management",
    "send_message": x_prices.CHAT_SENT,
    "conversation_events": x_prices.CHAT_EVENTS_READ,
    "download_media": "media download",
}
# A link X would bill a post "with URL" for: a scheme or www. (bare domains, which X links
# too, are not looked for).
URL = re.compile(r"\bhttps?://\S|\bwww\.\S", re.IGNORECASE)


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
    parser.add_argument("--messages", type=int, default=10, help="messages per customer")
    parser.add_argument("--latency-ms", type=int, default=50, help="ServiceNow's, per call")
    parser.add_argument(
        "--channel",
        choices=("dm", "post"),
        default="dm",
        help="customers write DMs, or a mention and then replies in its thread",
    )
    options = parser.parse_args()
    noun = "DMs" if options.channel == "dm" else "posts"

    dynamodb = DynamoDbCalls()
    stack = start_stack()
    try:
        desk = new_desk(stack)
        servicenow(desk, "PUT", "/sandbox/settings", latency_ms=options.latency_ms)
        customers = [f"customer{index:03d}" for index in range(options.customers)]
        print(
            f"pipeline: {options.customers} customers x {options.messages} {noun}, ServiceNow "
            f"{options.latency_ms} ms per call, {machine()}"
        )
        connect = XRecord.of(desk).x_calls()
        kinds = x_kinds(connect, [])
        print(
            f"connecting the X account: {connect.total()} X calls ("
            + ", ".join(f"{route} {n}" for route, n in sorted(connect.items()))
            + f"), billed as: {priced(kinds, 1)}, ${x_prices.cost(kinds):.4f}"
        )
        first = "first DMs" if options.channel == "dm" else "first mentions"
        phases = [
            (f"new customers' {first}", range(1, 2)),
            ("follow-ups on open cases", range(2, options.messages + 1)),
        ]
        results = [
            run_phase(stack, desk, dynamodb, name, customers, numbers, options.channel, noun)
            for name, numbers in phases
        ]
        overview = servicenow(desk, "GET", "/sandbox")
    finally:
        stack.stop()

    messages = sum(result[0] for result in results)
    seconds = sum(result[1] for result in results)
    dollars = sum(result[0] * result[3] for result in results)
    comments = sum(1 for line in overview["journal"] if line["element"] == "comments")
    print(
        f"all: {messages} {noun} in {seconds:.1f} s, {messages / seconds:.1f} {noun}/s; "
        f"ServiceNow has {len(overview['cases'])} cases and {comments} comments; X cost "
        f"${dollars:.4f}, ${dollars / messages:.4f} per message"
    )
    first, follow_up = (result[2] for result in results)
    met = first <= 3 and follow_up <= 1
    print(
        f"goal: <= 3 ServiceNow calls for a first message ({first:.2f}), 1 per follow-up "
        f"({follow_up:.2f}): {'met' if met else 'missed'}"
    )
    print(
        "X prices: xdevplatform/docs x-api/getting-started/pricing.mdx (bench/x_prices.py); "
        "sending in X Chat has no published price (not used here)"
    )


class XRecord:
    """What the sandbox X has seen at one moment: the calls its API received, what it
    made of them, what it delivered."""

    def __init__(self, overview: dict, sent: list[dict], deliveries: list[dict]):
        self.requests = Counter(overview["requests"]["by_route"])
        self.sent = sent
        self.deliveries = deliveries

    @classmethod
    def of(cls, desk: Desk) -> "XRecord":
        return cls(
            desk.x("GET", "/sandbox"),
            desk.x("GET", "/sandbox/sent"),
            desk.x("GET", "/sandbox/deliveries"),
        )

    def x_calls(self) -> Counter:
        return +self.requests

    def since(self, before: "XRecord") -> tuple[Counter, Counter, Counter]:
        """The calls by route, the calls by kind, and the deliveries by event type (XAA's,
        or "AAA delivery") made since `before`."""
        calls = self.requests - before.requests
        seen = {delivery["id"] for delivery in before.deliveries}
        delivered = Counter(
            delivery["event"] if delivery["shape"] == "activity" else "AAA delivery"
            for delivery in self.deliveries
            if delivery["id"] not in seen
        )
        return calls, x_kinds(calls, self.sent[len(before.sent) :]), delivered


def x_kinds(calls: Counter, sent: list[dict]) -> Counter:
    """`calls` (by the sandbox X's route) by what X bills them as; `sent`, what X made of
    the calls to send a DM or create a post, tells a DM sent, a post, a post with a URL
    and a (summoned) reply apart."""
    kinds: Counter = Counter()
    for route, count in calls.items():
        if route not in ("send_dm", "create_post"):
            kinds[ROUTE_KINDS[route]] += count
    posts = [item for item in sent if item["kind"] in ("post", "reply")]
    dms = [item for item in sent if item["kind"] == "dm"]
    for item in posts:
        if URL.search(item["text"]):
            kinds[x_prices.POST_WITH_URL] += 1
        elif item["kind"] == "reply":  # X lets an app reply only when summoned
            kinds[x_prices.SUMMONED_REPLY] += 1
        else:
            kinds[x_prices.POST] += 1
    kinds[x_prices.DM_SENT] += len(dms)
    kinds["post refused"] += calls["create_post"] - len(posts)
    kinds["DM refused"] += calls["send_dm"] - len(dms)
    return +kinds


def priced(counts: Counter, count: int) -> str:
    """`counts` per message, each with its price."""

    def unit(kind: str) -> str:
        dollars = x_prices.price(kind)
        if dollars is None:
            return "price not published"
        return f"${dollars:.3f}" if dollars else "not billed"

    return ", ".join(f"{kind} {n / count:.2f} ({unit(kind)})" for kind, n in sorted(counts.items()))


def run_phase(
    stack,
    desk: Desk,
    dynamodb: DynamoDbCalls,
    name: str,
    customers: list[str],
    numbers: range,
    channel: str,
    noun: str,
) -> tuple[int, float, float, float]:
    """Sends message number `numbers` of every customer and waits for the queues to empty;
    prints what it cost. Answers (messages, seconds, ServiceNow calls per message, X
    dollars per message)."""
    servicenow_before = servicenow(desk, "GET", "/sandbox")["requests"]
    dynamodb_before = dynamodb.snapshot()
    x_before = XRecord.of(desk)
    started = time.perf_counter()

    def write(customer: str) -> None:
        for number in numbers:
            text = f"Message {number} from {customer}"
            if channel == "dm":
                desk.customer_dm(customer, text)
            elif number == 1:
                desk.customer_mention(customer, text)
            else:
                desk.x(
                    "POST",
                    f"/sandbox/customers/{customer}/reply",
                    in_reply_to=latest_post_to(desk, customer),
                    text=text,
                )

    with ThreadPoolExecutor(SENDERS) as senders:
        list(senders.map(write, customers))
    settle(stack)
    elapsed = time.perf_counter() - started

    servicenow_after = servicenow(desk, "GET", "/sandbox")["requests"]
    dynamodb_calls = dynamodb.snapshot() - dynamodb_before
    x_calls, x_billed, x_delivered = XRecord.of(desk).since(x_before)
    count = len(customers) * len(numbers)
    servicenow_calls = (servicenow_after["total"] - servicenow_before["total"]) / count
    routes = Counter(servicenow_after["by_route"]) - Counter(servicenow_before["by_route"])
    print(f"{name}: {count} {noun} in {elapsed:.1f} s, {count / elapsed:.1f} {noun}/s")
    print(
        f"  ServiceNow calls per message {servicenow_calls:.2f}: "
        + ", ".join(f"{route} {calls / count:.2f}" for route, calls in sorted(routes.items()))
    )
    for caller in ("webhook", "processor"):
        calls = {op: n for (who, op), n in dynamodb_calls.items() if who == caller}
        reads = sum(n for op, n in calls.items() if op in READS)
        writes = sum(calls.values()) - reads
        print(
            f"  DynamoDB per message, {caller:9}: {reads / count:5.2f} reads, "
            f"{writes / count:5.2f} writes ("
            + ", ".join(f"{op} {n / count:.2f}" for op, n in sorted(calls.items()))
            + ")"
        )
    print(
        f"  X calls per message {x_calls.total() / count:.2f}: "
        + (", ".join(f"{route} {n / count:.2f}" for route, n in sorted(x_calls.items())) or "none")
    )
    print(f"    billed as: {priced(x_billed, count) or 'nothing'}")
    print(
        f"  X deliveries per message {x_delivered.total() / count:.2f}: "
        + (priced(x_delivered, count) or "none")
    )
    dollars = (x_prices.cost(x_billed) + x_prices.cost(x_delivered)) / count
    unpublished = x_prices.unpriced(x_billed + x_delivered)
    print(
        f"  X cost per message ${dollars:.4f}: calls ${x_prices.cost(x_billed) / count:.4f}, "
        f"deliveries ${x_prices.cost(x_delivered) / count:.4f}"
        + (f" (without {', '.join(unpublished)}: no published price)" if unpublished else "")
    )
    return count, elapsed, servicenow_calls, float(dollars)


def latest_post_to(desk: Desk, customer: str) -> str:
    """The id of the latest post the service sent `customer` (a reply in their thread)."""
    posts = [item for item in desk.sent_to(customer) if item["kind"] in ("post", "reply")]
    assert posts, f"the service never replied to @{customer}: nothing to reply to"
    return posts[-1]["post_id"]


def settle(stack) -> None:
    """Waits until the queues are empty and X has made the deliveries it makes in the
    background (the echoes of the service's DMs and posts), and those are handled too."""
    assert stack.drain(SETTLE_SECONDS), "the queues did not drain"
    assert stack.x_sandbox.drain(SETTLE_SECONDS), "the sandbox X did not deliver"
    assert stack.drain(SETTLE_SECONDS), "the queues did not drain"


def servicenow(desk: Desk, method: str, path: str, **body) -> dict:
    answer = requests.request(method, desk.servicenow_url + path, json=body or None, timeout=60)
    answer.raise_for_status()
    return answer.json()


if __name__ == "__main__":
    main()
