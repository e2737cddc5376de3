"""A fake of the ChatKeys table (twittnow.repositories.chat_keys): conversation keys as
the account's encrypted copies, by version, and users' public keys cached until they
expire (to the second, as the table's TTL attribute)."""

from datetime import datetime

from twittnow import clock
from twittnow.clients.x import PublicKeyRecord
from twittnow.repositories.chat_keys import version_order


class FakeChatKeys:
    def __init__(self) -> None:
        # (account, conversation) -> {key version: encrypted key}
        self.conversation_keys: dict[tuple[str, str], dict[str, str]] = {}
        self._public_keys: dict[str, tuple[list[PublicKeyRecord], int]] = {}

    def add_conversation_key(
        self, account_id: str, chat_conversation_id: str, key_version: str, encrypted_key: str
    ) -> None:
        versions = self.conversation_keys.setdefault((account_id, chat_conversation_id), {})
        versions.setdefault(key_version, encrypted_key)

    def conversation_key(
        self, account_id: str, chat_conversation_id: str, key_version: str
    ) -> str | None:
        return self.conversation_keys.get((account_id, chat_conversation_id), {}).get(key_version)

    def latest_conversation_key(
        self, account_id: str, chat_conversation_id: str
    ) -> tuple[str, str] | None:
        versions = self.conversation_keys.get((account_id, chat_conversation_id))
        if not versions:
            return None
        latest = max(versions, key=version_order)
        return latest, versions[latest]

    def cache_public_keys(
        self, user_id: str, records: list[PublicKeyRecord], expires_at: datetime
    ) -> None:
        self._public_keys[user_id] = (
            list(records),
            int(expires_at.timestamp()),
        )

    def cached_public_keys(self, user_id: str) -> list[PublicKeyRecord] | None:
        cached = self._public_keys.get(user_id)
        if cached is None or cached[1] <= clock.now().timestamp():
            return None
        return list(cached[0])
