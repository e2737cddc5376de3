"""The SQS records that carry the jobs (twittnow.jobs), and the processors' FIFO partial
batch responses: a record whose body is not its job's JSON fails to validate, and a failed
record holds back the later records of its message group, not the batch.

Not Powertools' batch utility and parser models: importing them costs each processor
about 35 ms of cold start (its batch module loads the data classes of every event source,
its SQS model the parser's every model; bench/cold_start.py), for what fits in this module.
The processors validate each record in their record handler, so that one malformed
message fails its own record and group only.

Only the queue processors import this; the producers need twittnow.jobs alone.
"""

import json
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from twittnow.jobs import ReplyJob
from twittnow.observability import count_failure, logger
from twittnow.x_events import InboundJob


def _from_json(body: object) -> object:
    """The body's JSON, read as json.loads reads it: pydantic's own JSON parser (what
    pydantic.Json uses) refuses a lone surrogate's escape, which a text from X may hold,
    and FifoQueue.send writes."""
    if not isinstance(body, str):
        return body
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("the body nests too deeply") from None


class RecordAttributes(BaseModel):
    approximate_receive_count: int = Field(alias="ApproximateReceiveCount")


class JobRecord(BaseModel):
    """What a processor reads of an SQS record from Lambda (its field names)."""

    # Built with its first record: each processor reads one of the two kinds.
    model_config = ConfigDict(defer_build=True)

    message_id: str = Field(alias="messageId")
    receipt_handle: str = Field(alias="receiptHandle")
    attributes: RecordAttributes


class InboundJobRecord(JobRecord):
    body: Annotated[InboundJob, BeforeValidator(_from_json)]


class ReplyJobRecord(JobRecord):
    body: Annotated[ReplyJob, BeforeValidator(_from_json)]


class MalformedJob(ValueError):
    """A queued message that is not its queue's job: no retry can change that, and it
    reaches the dead-letter queue after the queue's maxReceiveCount attempts."""


def parse[Record: JobRecord](record: dict[str, Any], model: type[Record]) -> Record:
    """`record` as `model`; raises MalformedJob (logged with where and what is wrong,
    never the body, which holds customers' messages) when it does not validate."""
    try:
        return model.model_validate(record)
    except ValidationError as error:
        problems = [
            {"field": ".".join(map(str, problem["loc"])), "problem": problem["type"]}
            for problem in error.errors(include_url=False, include_input=False)
        ]
        message_id = record.get("messageId")
        logger.error(
            "Queued message is not a job; it fails until it is dead-lettered.",
            extra={"message_id": message_id, "problems": problems},
        )
        count_failure(MalformedJob.__name__)
        raise MalformedJob(f"message {message_id} is not a {model.__name__}") from None


class ItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[ItemFailure]


def process_fifo_batch(
    event: dict[str, Any], handle_record: Callable[[dict[str, Any]], None]
) -> PartialBatchResponse:
    """Handles a FIFO queue's batch in order, and answers the records that failed (Lambda's
    ReportBatchItemFailures): a record that raises, and after it every later record of its
    message group, unhandled, so that the group keeps its order when they come back.
    Other groups go on. Even when every record fails, the answer says so rather than
    failing the invocation: each record is retried on its own terms either way."""
    failed_groups: set[str] = set()
    failures: list[ItemFailure] = []
    for record in event["Records"]:
        group = (record.get("attributes") or {}).get("MessageGroupId")
        if group not in failed_groups:
            try:
                handle_record(record)
                continue
            except Exception:  # logged and counted where raised (parse, queued_attempt)
                if group is not None:  # a standard queue's record holds nothing back
                    failed_groups.add(group)
        failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
