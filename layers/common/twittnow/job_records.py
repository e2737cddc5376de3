"""The SQS records that carry the jobs (twittnow.jobs), as Powertools' parser models: a
record whose body is not its job's JSON fails to validate.

The processors validate each record in their record handler, not through the batch
processor's `model`: Powertools' SqsFifoPartialProcessor (3.37) validates a record it
skips, behind a failed one of its group, outside its handling of records that do not
validate, so that one malformed message there would fail the whole batch, every other
group's records with it.

Only the queue processors import this (Powertools' parser models are already loaded with
its batch processing there); the producers need twittnow.jobs alone.
"""

import json
from typing import Annotated

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BeforeValidator, ValidationError

from twittnow.jobs import InboundJob, ReplyJob
from twittnow.observability import count_failure, logger


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


class InboundJobRecord(SqsRecordModel):
    body: Annotated[InboundJob, BeforeValidator(_from_json)]


class ReplyJobRecord(SqsRecordModel):
    body: Annotated[ReplyJob, BeforeValidator(_from_json)]


class MalformedJob(ValueError):
    """A queued message that is not its queue's job: no retry can change that, and it
    reaches the dead-letter queue after the queue's maxReceiveCount attempts."""


def parse[Record: SqsRecordModel](record: SQSRecord, model: type[Record]) -> Record:
    """`record` as `model`; raises MalformedJob (logged with where and what is wrong,
    never the body, which holds customers' messages) when it does not validate."""
    try:
        return model.model_validate(record.raw_event)
    except ValidationError as error:
        problems = [
            {"field": ".".join(map(str, problem["loc"])), "problem": problem["type"]}
            for problem in error.errors(include_url=False, include_input=False)
        ]
        logger.error(
            "Queued message is not a job; it fails until it is dead-lettered.",
            extra={"message_id": record.message_id, "problems": problems},
        )
        count_failure(MalformedJob.__name__)
        raise MalformedJob(f"message {record.message_id} is not a {model.__name__}") from None
