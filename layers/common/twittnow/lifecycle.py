"""The statuses a conversation and its messages go through, and the changes between them
the code makes: one table each. The repositories write a record with one of the initial
statuses only, and a status change only over a stored status the table lets it follow (a
condition of the same write), so no path around the table exists.

Every step of the processors can be retried, and some records come back after a
dead-letter queue's redrive, so a status can be entered again, and a step cut short
(between two writes) leaves a message in an earlier status than its conversation says:
the tables list those changes too, each with the step that makes it."""

from dataclasses import dataclass
from enum import StrEnum

from twittnow.models import ConversationStatus, MessageStatus


class IllegalTransition(Exception):
    """A status the record may not start with, or may not take after its current one."""

    def __init__(self, record: str, current: StrEnum | None, new: StrEnum):
        self.record, self.current, self.new = record, current, new
        if current is None:
            super().__init__(f"A {record} cannot start as {str(new)!r}.")
        else:
            super().__init__(f"A {record} cannot go from {str(current)!r} to {str(new)!r}.")


@dataclass(frozen=True)
class State[S: StrEnum]:
    meaning: str
    then: frozenset[S]  # the statuses it may take next


def state[S: StrEnum](meaning: str, *then: S) -> State[S]:
    return State(meaning, frozenset(then))


@dataclass(frozen=True)
class Lifecycle[S: StrEnum]:
    record: str  # what has the status, for messages: "message"
    initial: frozenset[S]
    states: dict[S, State[S]]

    def start(self, status: S) -> S:
        """`status`, if a new record may have it; IllegalTransition otherwise."""
        if status not in self.initial:
            raise IllegalTransition(self.record, None, status)
        return status

    def change(self, current: S, new: S) -> S:
        """`new`, if it may follow `current`; IllegalTransition otherwise."""
        if new not in self.states[current].then:
            raise IllegalTransition(self.record, current, new)
        return new

    def before(self, new: S) -> frozenset[S]:
        """The statuses `new` may follow: what a write of `new` requires stored."""
        return frozenset(status for status, state in self.states.items() if new in state.then)

    def transitions(self) -> list[tuple[S, S]]:
        return [
            (status, new) for status, state in self.states.items() for new in sorted(state.then)
        ]


C = ConversationStatus

CONVERSATION = Lifecycle(
    "conversation",
    initial=frozenset({C.NEW}),
    states={
        C.NEW: state(
            "No case: the customer's next message opens one, after the tenant's custom "
            "fields are asked (COLLECTING), or at once when there are none (OPEN). Also "
            "after a case is resolved or closed, which can be told more than once (NEW).",
            C.COLLECTING,
            C.OPEN,
            C.NEW,
        ),
        C.COLLECTING: state(
            "Asking the customer the tenant's custom fields, one question at a time "
            "(COLLECTING again for the next one), then opening the case (OPEN). The "
            "conversation's last case, resolved or closed now, makes it NEW.",
            C.COLLECTING,
            C.OPEN,
            C.NEW,
        ),
        C.OPEN: state(
            "A case is open: the customer's messages become comments on it, until "
            "ServiceNow says it is resolved, closed or gone (NEW).",
            C.NEW,
        ),
    },
)

M = MessageStatus

MESSAGE = Lifecycle(
    "message",
    # A customer's message; the bot's or an agent's reply; the company's staff's DM from X;
    # an X Chat message that could not be verified or decrypted.
    initial=frozenset({M.RECEIVED, M.QUEUED, M.DELIVERED, M.FAILED}),
    states={
        M.RECEIVED: state(
            "A customer's message, recorded on first sight: it becomes a comment on the "
            "open case (COMMENTING), an answer to the pending question (ANSWERED), or is "
            "held for the case to come (WAITING_FOR_ANSWERS). A hold cut short, its key "
            "kept on the conversation, is taken into the case another message opens "
            "(CASE_CREATED).",
            M.COMMENTING,
            M.ANSWERED,
            M.WAITING_FOR_ANSWERS,
            M.CASE_CREATED,
        ),
        M.COMMENTING: state(
            "Being written on the case: a retry first looks for the comment on the case "
            "(COMMENTING again, for the staff's DM). Written (COMMENTED), or the case was "
            "gone and the message is held for the next (WAITING_FOR_ANSWERS), or, that "
            "hold cut short, taken into the case another message opens (CASE_CREATED).",
            M.COMMENTED,
            M.COMMENTING,
            M.WAITING_FOR_ANSWERS,
            M.CASE_CREATED,
        ),
        M.COMMENTED: state("On the case, as a comment: final."),
        M.WAITING_FOR_ANSWERS: state(
            "Held while the custom fields are asked: it goes into the description of the "
            "case that opens (CASE_CREATED).",
            M.CASE_CREATED,
        ),
        M.ANSWERED: state(
            "An answer to a custom-field question: it stays one when the case it "
            "completes opens (given the case number). An answer whose earlier hold was "
            "cut short is taken into the case (CASE_CREATED).",
            M.CASE_CREATED,
        ),
        M.CASE_CREATED: state(
            "In the description of the case it opened. A retry after that case was "
            "finished opens the next one with it (CASE_CREATED again).",
            M.CASE_CREATED,
        ),
        M.QUEUED: state(
            "A reply (the bot's or an agent's) waiting to be sent: X accepts it "
            "(DELIVERED) or refuses it for good (FAILED).",
            M.DELIVERED,
            M.FAILED,
        ),
        M.DELIVERED: state(
            "Accepted by X. The company's staff's DM from X's own app starts here and goes "
            "on their customer's open case (COMMENTING).",
            M.COMMENTING,
        ),
        M.FAILED: state(
            "Refused by X, status_detail says why. Sent again on a later attempt (the "
            "bot's question, asked again) or a redrive (an agent's reply): DELIVERED, or "
            "FAILED again; never when X's summoned-reply rule refused it (handled). An X "
            "Chat message that could not be verified or decrypted starts here, handled: "
            "final, status_detail says why.",
            M.DELIVERED,
            M.FAILED,
        ),
    },
)
