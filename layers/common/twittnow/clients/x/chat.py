"""X Chat (encrypted DMs) as a connected account: public keys, conversation keys, sending
an encrypted message, a conversation's history, and encrypted media. The client moves
ciphertext and public keys only: encrypting, decrypting and signing are twittnow.xchat's,
with the Chat XDK.

From X's documentation (xdevplatform/docs; the API reference pages x-api/chat/*.mdx are
generated from openapi.json, which gives the bodies and answers):

- x-api/chat/add-public-key.mdx: POST /2/users/{id}/public_keys {"public_key":
  {identity_public_key_signature, public_key, public_key_fingerprint, registration_method,
  signing_public_key, signing_public_key_signature}, "version", "generate_version"} ->
  {"data": {"public_key_version", "juicebox_config"}}: "generate_version: When true, the
  server generates a new version", so the version X answers is the one to sign with.
- x-api/chat/get-user-public-keys.mdx: GET /2/users/{id}/public_keys?public_key.fields=
  public_key_version,public_key,signing_public_key,identity_public_key_signature ->
  {"data": [records]}: a list; whether X keeps several per user is not said.
- x-api/chat/add-conversation-keys.mdx and xchat/getting-started.mdx step 4: POST
  /2/chat/conversations/{id}/keys, {id} the recipient's user id for a new 1:1 ("the server
  constructs the canonical conversation ID") or the conversation id, body
  {conversation_key_version, conversation_participant_keys: [{user_id,
  encrypted_conversation_key, public_key_version}], action_signatures: [{message_id,
  encoded_message_event_detail, message_event_signature: {signature, public_key_version,
  signature_version}}]} -> {"data": {"conversation_id" (hyphen-joined for a 1:1),
  "sequence_id"}}.
- x-api/chat/send-chat-message.mdx: POST /2/chat/conversations/{id}/messages
  {message_id, encoded_message_create_event, encoded_message_event_signature} -> 201
  {"data": {"encoded_message_event"}}: X's copy of the event, not an id; the message's id
  is the message_id sent (the Chat XDK's, inside the signed event).
- x-api/chat/get-chat-conversation-events.mdx: GET /2/chat/conversations/{id}/events
  (max_results 1 to 100, pagination_token, chat_message_event.fields) -> {"data":
  [{id, encoded_event, sender_id, ...}], "meta": {next_token, has_more,
  conversation_key_events}}; messages and key changes, newest first.
- x-api/chat/download-chat-media.mdx and xchat/media.mdx: GET /2/chat/media/{id}/
  {media_hash_key} (media_hash_key: 1 to 50 letters and digits) answers the encrypted bytes
  (application/octet-stream), decrypted with the conversation key of the message's key
  version.
- x-api/users/get-user-by-id (openapi.json, GET /2/users/{id}) -> {"data": {"id",
  "username", "name"}}.

openapi.json lists OAuth 2.0 user tokens and OAuth 1.0a user context for every X Chat
call, but X's X Chat guides speak of OAuth 2.0 only (xchat/getting-started.mdx: "an app
configured for OAuth 2.0", a user access token with dm.read, dm.write, tweet.read,
users.read; xchat/real-time-events.mdx: chat events need "OAuth 2.0 user context"), and
the account's keys are registered once per account. So X Chat calls are made with an
OAuth 2.0 connection's bearer token only: OAuth 1.0a credentials raise XChatNeedsOAuth2
before anything is sent.
"""

from typing import Any

from twittnow.clients.responses import json_object
from twittnow.clients.x.errors import XChatNeedsOAuth2, XUnavailable
from twittnow.clients.x.media import DEFAULT_MAX_MEDIA_BYTES, MediaCalls
from twittnow.clients.x.models import (
    AccountCredentials,
    BearerCredentials,
    ChatEvent,
    ChatEventsPage,
    PublicKeyRecord,
    XUser,
)
from twittnow.clients.x.transport import fill, user_secrets

PUBLIC_KEY_FIELDS = (
    "public_key_version",
    "public_key",
    "signing_public_key",
    "identity_public_key_signature",
)
CHAT_EVENT_FIELDS = ("id", "encoded_event", "sender_id", "conversation_id", "created_at")
MAX_EVENTS_PER_PAGE = 100  # the events call's max_results maximum


def path_conversation_id(conversation_id: str) -> str:
    """A conversation id as X's paths take it: a 1:1's two user ids joined by "-" (events
    and the Chat XDK join them with ":"); a group's "g..." id as it is."""
    return conversation_id.replace(":", "-")


class ChatCalls(MediaCalls):
    """X Chat calls. A MediaCalls: encrypted media is read as other media are, stopping
    past a size limit."""

    def public_keys(self, user: AccountCredentials, user_id: str) -> list[PublicKeyRecord]:
        """`user_id`'s registered X Chat public keys: empty when they registered none (the
        user never set up X Chat). Records lacking a field are left out: they could not be
        verified."""
        action = "read a user's X Chat public keys"
        records = self._chat_list(
            user,
            "GET",
            "/2/users/{user_id}/public_keys",
            action,
            ids={"user_id": user_id},
            params={"public_key.fields": ",".join(PUBLIC_KEY_FIELDS)},
        )
        return [
            PublicKeyRecord(**{name: str(record[name]) for name in PUBLIC_KEY_FIELDS})
            for record in records
            if isinstance(record, dict) and all(record.get(name) for name in PUBLIC_KEY_FIELDS)
        ]

    def add_public_key(
        self, user: AccountCredentials, user_id: str, registration_payload: dict[str, Any]
    ) -> str:
        """Registers the account's public keys (the Chat XDK's registration payload, as
        {"public_key": {...}, "version", "generate_version"}); returns the version X
        registered them under (the payload's when X names none)."""
        data = self._chat_call(
            user,
            "POST",
            "/2/users/{user_id}/public_keys",
            "register the account's X Chat keys",
            ids={"user_id": user_id},
            json=registration_payload,
        )
        version = data.get("public_key_version") or registration_payload.get("version")
        if not version:
            raise XUnavailable("X's answer lacks public_key_version (register X Chat keys).")
        return str(version)

    def add_conversation_keys(
        self, user: AccountCredentials, conversation_or_recipient_id: str, body: dict[str, Any]
    ) -> tuple[str, str]:
        """Posts a conversation key change (new 1:1: the recipient's user id; else the
        conversation's id); returns X's (canonical conversation id, sequence id)."""
        action = "add an X Chat conversation key"
        data = self._chat_call(
            user,
            "POST",
            "/2/chat/conversations/{conversation_id}/keys",
            action,
            ids={"conversation_id": path_conversation_id(conversation_or_recipient_id)},
            json=body,
        )
        return self._field(data, "conversation_id", action), self._field(
            data, "sequence_id", action
        )

    def send_chat_message(
        self,
        user: AccountCredentials,
        conversation_id: str,
        message_id: str,
        encoded_message_create_event: str,
        encoded_message_event_signature: str,
    ) -> str:
        """Sends an encrypted message (the Chat XDK's payload); returns X's encoded event
        of it (its id is `message_id`, which the Chat XDK made and signed)."""
        action = "send an X Chat message"
        data = self._chat_call(
            user,
            "POST",
            "/2/chat/conversations/{conversation_id}/messages",
            action,
            ids={"conversation_id": path_conversation_id(conversation_id)},
            json={
                "message_id": message_id,
                "encoded_message_create_event": encoded_message_create_event,
                "encoded_message_event_signature": encoded_message_event_signature,
            },
        )
        return self._field(data, "encoded_message_event", action)

    def conversation_events(
        self,
        user: AccountCredentials,
        conversation_id: str,
        pagination: str | None = None,
        max_results: int = MAX_EVENTS_PER_PAGE,
    ) -> ChatEventsPage:
        """A page of the conversation's encrypted events, newest first; `pagination` is
        the previous page's next_token."""
        params: dict[str, str | int] = {
            "max_results": max_results,
            "chat_message_event.fields": ",".join(CHAT_EVENT_FIELDS),
        }
        if pagination:
            params["pagination_token"] = pagination
        self._needs_oauth2(user)
        response = self._send(
            "GET",
            fill(
                "/2/chat/conversations/{conversation_id}/events",
                {"conversation_id": path_conversation_id(conversation_id)},
            ),
            "read an X Chat conversation's events",
            route="/2/chat/conversations/{conversation_id}/events",
            auth=self._user_auth(user),
            as_user=True,
            secrets=user_secrets(user),
            params=params,
        )
        body = json_object(response) or {}
        data, meta = body.get("data"), body.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        events = [
            ChatEvent(
                id=str(event["id"]),
                encoded_event=str(event["encoded_event"]),
                sender_id=str(event.get("sender_id") or ""),
            )
            for event in (data if isinstance(data, list) else [])
            if isinstance(event, dict) and event.get("id") and event.get("encoded_event")
        ]
        key_changes = meta.get("conversation_key_events")
        return ChatEventsPage(
            events=events,
            key_change_events=[
                str(event) for event in (key_changes if isinstance(key_changes, list) else [])
            ],
            next_token=str(meta["next_token"]) if meta.get("next_token") else None,
        )

    def download_chat_media(
        self,
        user: AccountCredentials,
        conversation_id: str,
        media_hash_key: str,
        max_bytes: int = DEFAULT_MAX_MEDIA_BYTES,
    ) -> bytes:
        """The encrypted bytes of an attachment, read up to `max_bytes` (XMediaRefused
        past it)."""
        self._needs_oauth2(user)
        action = "download X Chat media"
        secrets = user_secrets(user)
        route = "/2/chat/media/{conversation_id}/{media_hash_key}"
        response = self._send(
            "GET",
            fill(
                route,
                {
                    "conversation_id": path_conversation_id(conversation_id),
                    "media_hash_key": media_hash_key,
                },
            ),
            action,
            route=route,
            auth=self._user_auth(user),
            as_user=True,
            secrets=secrets,
            headers={"Accept": "application/octet-stream", "Accept-Encoding": "identity"},
            stream=True,
        )
        with response:
            return self._media_body(response, action, max_bytes, secrets)

    def get_user(self, user: AccountCredentials, user_id: str) -> XUser:
        """The X user `user_id` (the screen name and name of a chat sender, which X Chat's
        events do not carry, or of a post's author X delivered without them). id, name
        and username are the user object's default fields (x-api/fundamentals/
        data-dictionary.mdx, "User"); a name X leaves out is ""."""
        action = "read an X user"
        data = self._user_call(user, "GET", "/2/users/{user_id}", action, ids={"user_id": user_id})
        name = data.get("name")
        return XUser(
            id=self._field(data, "id", action),
            username=self._field(data, "username", action),
            name=name if isinstance(name, str) else "",
        )

    def _chat_call(
        self, user: AccountCredentials, method: str, route: str, action: str, **kwargs: Any
    ) -> dict:
        self._needs_oauth2(user)
        return self._user_call(user, method, route, action, **kwargs)

    def _chat_list(
        self,
        user: AccountCredentials,
        method: str,
        route: str,
        action: str,
        *,
        ids: dict[str, str],
        **kwargs: Any,
    ) -> list:
        """`data` of an answer that is a list; none (X leaves `data` out of an empty
        list's answer) is an empty list."""
        self._needs_oauth2(user)
        response = self._send(
            method,
            fill(route, ids),
            action,
            route=route,
            auth=self._user_auth(user),
            as_user=True,
            secrets=user_secrets(user),
            **kwargs,
        )
        body = json_object(response)
        if body is None:
            raise XUnavailable(
                f"X's answer is not JSON ({action}).", status_code=response.status_code
            )
        data = body.get("data", [])
        if not isinstance(data, list):
            raise XUnavailable(f"X's answer has no list of data ({action}).")
        return data

    @staticmethod
    def _needs_oauth2(user: AccountCredentials) -> None:
        if not isinstance(user, BearerCredentials):
            raise XChatNeedsOAuth2(
                "X Chat works with accounts connected with OAuth 2.0; this account was "
                "connected with OAuth 1.0a before: connect it again (GET /get-auth-url)."
            )
