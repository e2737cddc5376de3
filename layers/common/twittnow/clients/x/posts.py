"""Posts made as a connected account: replies in a customer's thread."""

from twittnow.clients.x.models import AccountCredentials
from twittnow.clients.x.transport import XTransport


class PostCalls(XTransport):
    def reply(self, user: AccountCredentials, in_reply_to_post_id: str, text: str) -> str:
        """Posts `text` as `user` in reply to a post; returns the new post's id. Raises
        XReplyNotAllowed when the post's author did not summon the account."""
        data = self._user_call(
            user,
            "POST",
            "/2/tweets",
            "post a reply",
            json={"text": text, "reply": {"in_reply_to_tweet_id": in_reply_to_post_id}},
        )
        return self._field(data, "id", "post a reply")
