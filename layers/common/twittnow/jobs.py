"""The queues' jobs, as pydantic models: what a queued message asks a processor to do.

The webhook queues an X event for the inbound processor (twittnow.x_events.InboundJob:
the event as it normalized it, defined there so that POST /events/ loads no X event);
POST /events/ queues a reply for the sender (ReplyJob).
A message's body is its job's JSON (FifoQueue.send), and a processor parses each record
with the job's record model (twittnow.job_records). The field names are the wire format:
messages an earlier deployment queued must still parse after a deploy.
"""

from pydantic import BaseModel, ConfigDict


class ReplyJob(BaseModel):
    """A reply to send to the customer: the agent's message already recorded in the
    conversation (`message_key`), and the case event it came from."""

    model_config = ConfigDict(frozen=True)

    conversation_id: str
    message_key: str
    type: str  # the case event's type: comment, resolved or closed
    # The case the event was about: a resolution ends the conversation only if it is still
    # the conversation's case when the reply goes out.
    case_sys_id: str | None = None
