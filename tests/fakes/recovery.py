"""The recovery table's fake (twittnow.repositories.recovery)."""

from datetime import datetime

from tests.fakes.records import whole_seconds
from twittnow.models import RecoveryState, ReplayRequest


class FakeRecovery:
    """The state item, the replays requested and the X Chat messages reconciled, as the
    table keeps them: the state's delivered_at only moves forward, and a run's write
    takes only over the version it read. `reconciled` shows {(account id, message id):
    expiry}."""

    def __init__(self) -> None:
        self._state = RecoveryState()
        self.replays: list[tuple[ReplayRequest, datetime]] = []
        self.reconciled: dict[tuple[str, str], datetime] = {}

    def delivery_accepted(self, at: datetime) -> None:
        if self._state.delivered_at is None or self._state.delivered_at < at:
            self._state = self._state.model_copy(update={"delivered_at": at})

    def state(self) -> RecoveryState:
        return self._state

    def save_state(self, state: RecoveryState, previous: RecoveryState) -> bool:
        if self._state.version != previous.version:
            return False
        # The webhook's delivered_at is not the run's to write.
        self._state = state.model_copy(update={"delivered_at": self._state.delivered_at})
        return True

    def add_replay(self, request: ReplayRequest, expires_at: datetime) -> None:
        self.replays.append((request, whole_seconds(expires_at)))

    def replays_since(self, since: datetime) -> list[ReplayRequest]:
        return sorted(
            (request for request, _ in self.replays if request.requested_at >= since),
            key=lambda request: request.requested_at,
        )

    def claim_reconciled(self, account_id: str, message_id: str, expires_at: datetime) -> bool:
        key = (account_id, message_id)
        if key in self.reconciled:
            return False
        self.reconciled[key] = whole_seconds(expires_at)
        return True
