"""Legacy DMs sent as a connected account."""

from twittnow.clients.x.models import AccountCredentials
from twittnow.clients.x.transport import XTransport


class DirectMessageCalls(XTransport):
    def send_dm(self, user: AccountCredentials, participant_id: str, text: str) -> str:
        """Sends `text` to `participant_id` as `user`; returns the DM event id."""
        data = self._user_call(
            user,
            "POST",
            "/2/dm_conversations/with/{participant_id}/messages",
            "send a DM",
            ids={"participant_id": participant_id},
            json={"text": text},
        )
        return self._field(data, "dm_event_id", "send a DM")
