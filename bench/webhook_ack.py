"""Webhook acknowledgement: the time POST /twitter-activity takes to verify, look up and
queue a delivery, next to a bare SQS SendMessage to the same queue from the same process.

    .venv/bin/python -m bench.webhook_ack [--samples 2000]

Warm and in-process: the handler runs as the local stack runs it (the API Gateway proxy
event handed to Runtime.invoke, no HTTP in front), against the embedded AWS (moto on
loopback), so both figures pay the same round trips to it. The handler's one other call,
the GetItem of the account's claim, is timed bare too, to show what it adds.
Goal: the handler's p50 and p99 at most 1.5x the bare send's.
"""

import argparse
import json
import uuid

import boto3

from bench.common import machine, new_desk, percentile, start_stack, timed
from local.gateway import HttpRequest, Route, build_event
from tests.api.desks import SIGNATURE_HEADER, WEBHOOK, account_activity_dm, signature

GOAL = 1.5
WARM_UP = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--samples", type=int, default=2000, help="timed calls of each kind")
    samples = parser.parse_args().samples

    stack = start_stack()
    try:
        desk = new_desk(stack)
        # The processor would consume what the webhook queues, in this process, and compete
        # for its CPU: the figures are the webhook's and SQS's alone.
        stack._pollers.stop()
        function = stack.template.function("WebhookDeliveryFunction")
        route = Route("POST", WEBHOOK, function)
        queue_url = stack.template.queue("InboundQueue").url
        table = function.environment["CREDENTIALS_TABLE"]
        sqs, dynamodb = boto3.client("sqs"), boto3.client("dynamodb")  # the handler's endpoint
        # The claim item's key, as twittnow.repositories.credentials documents it.
        claim_key = {
            "user_id": {"S": f"x-account#{desk.x_account.id}"},
            "kind": {"S": "x_account"},
        }

        def delivery_event(index: int) -> dict:
            """X's signed delivery of a customer's DM (a new DM id each time), as the proxy
            event API Gateway hands the function."""
            body = json.dumps(account_activity_dm(desk, f"customer{index % 100}", "Any news?"))
            headers = [
                ("Content-Type", "application/json"),
                (SIGNATURE_HEADER, signature(stack.x_sandbox.consumer_secret, body)),
            ]
            request = HttpRequest("POST", WEBHOOK, headers, body.encode(), "127.0.0.1")
            return build_event(request, route, {}, str(uuid.uuid4()), stack.template.api_stage)

        def handler(event: dict) -> None:
            answer = stack.runtime.invoke(function, event)
            assert json.loads(answer["body"]) == {"queued": 1}, answer

        body = json.dumps(account_activity_dm(desk, "customer0", "Any news?"))

        def bare_send() -> None:
            sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=body,
                MessageGroupId="bench",
                MessageDeduplicationId=uuid.uuid4().hex,
            )

        def bare_get_item() -> None:
            assert "Item" in dynamodb.get_item(
                TableName=table, Key=claim_key, ProjectionExpression="user_id"
            )

        times = {"handler": [], "send": [], "get_item": []}
        for index in range(WARM_UP + samples):
            event = delivery_event(index)  # built and signed outside the timing
            # Interleaved, so that any drift of the machine touches all three alike.
            measured = {
                "handler": timed(lambda event=event: handler(event)),
                "send": timed(bare_send),
                "get_item": timed(bare_get_item),
            }
            if index >= WARM_UP:
                for kind, elapsed in measured.items():
                    times[kind].append(elapsed)
            # moto's SendMessage walks every queued message (SQS's does not): the queue is
            # kept empty so that the sends cost what they cost on an idle queue.
            empty(sqs, queue_url)
    finally:
        stack.stop()
    report(times, samples)


def empty(sqs, queue_url: str) -> None:
    """Takes every message off the queue (PurgeQueue may only run once a minute)."""
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages"
    ):
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(messages)
            ],
        )


def report(times: dict[str, list[float]], samples: int) -> None:
    print(f"webhook acknowledgement, {samples} warm calls of each, {machine()}")
    labels = {
        "handler": "POST /twitter-activity handler",
        "send": "bare SQS SendMessage",
        "get_item": "bare DynamoDB GetItem (claim)",
    }
    for kind, label in labels.items():
        p50, p99 = percentile(times[kind], 0.50), percentile(times[kind], 0.99)
        print(f"  {label:32} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    ratios = {
        name: percentile(times["handler"], fraction) / percentile(times["send"], fraction)
        for name, fraction in (("p50", 0.50), ("p99", 0.99))
    }
    met = all(ratio <= GOAL for ratio in ratios.values())
    print(
        f"  handler / bare send              p50 {ratios['p50']:6.2f} x    "
        f"p99 {ratios['p99']:6.2f} x    goal <= {GOAL} x: {'met' if met else 'missed'}"
    )


if __name__ == "__main__":
    main()
