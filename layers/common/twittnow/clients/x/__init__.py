"""X (Twitter) API client: OAuth 1.0a and OAuth 2.0 (oauth2) sign-in, DMs, reply posts, media, X Chat
(chat: public keys, conversation keys, encrypted messages, history and media), and the webhooks
and subscriptions of the Account Activity API v2 (AAA) and the X Activity API (XAA).
One module per concern (oauth, direct_messages, posts, media, chat, webhooks), over one
transport (transport) and one set of errors (errors); XClient is all of them.

Every failure is an XError subclass; `retryable` says whether trying again later may
succeed. The client never retries and never sleeps (a Lambda must not wait out a
15-minute rate-limit window): XRateLimited says until when, and the caller decides.
Consumer and token secrets, the bearer token and Authorization headers never appear in an
error message or a repr.

Facts relied on, from X's documentation (repository xdevplatform/docs):

- fundamentals/authentication/oauth-1-0a/obtaining-user-access-tokens.mdx and
  fundamentals/authentication/api-reference.mdx: POST /oauth/request_token (signed with
  the consumer key, `oauth_callback` in the header) answers the form-encoded
  oauth_token, oauth_token_secret, oauth_callback_confirmed=true; the user approves at
  GET /oauth/authorize?oauth_token=...; X redirects to the callback with oauth_token and
  oauth_verifier (or `denied`); POST /oauth/access_token (signed with the request token,
  oauth_verifier) answers oauth_token, oauth_token_secret, user_id, screen_name.
  POST /oauth2/token (Basic consumer key:secret, grant_type=client_credentials) answers
  {"token_type": "bearer", "access_token"}: the app-only bearer token, to be cached.
- fundamentals/authentication/oauth-1-0a/creating-a-signature.mdx: HMAC-SHA1 signatures.
- x-api/webhooks/introduction.mdx, x-api/webhooks/quickstart.mdx: the v2 webhooks API
  (POST /2/webhooks {"url"}, GET /2/webhooks, PUT /2/webhooks/{id} re-runs the CRC,
  DELETE /2/webhooks/{id}), all with the app-only bearer token; one webhook serves both
  AAA and XAA. CRC: {"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret,
  crc_token))}. Deliveries carry x-twitter-webhooks-signature: "sha256=" + base64 of the
  HMAC-SHA256 of the raw body with the consumer secret.
- x-api/account-activity/introduction.mdx, x-api/account-activity/quickstart.mdx: AAA
  subscriptions. POST /2/account_activity/webhooks/{id}/subscriptions/all with the
  subscribing user's OAuth 1.0a context -> {"data": {"subscribed": true}}; DELETE
  .../subscriptions/{user_id}/all with the bearer token; "SubscriptionNotFound" is a 400.
- x-api/activity/quickstart.mdx, x-api/activity/event-payloads.mdx: XAA subscriptions,
  one per event type and user: POST /2/activity/subscriptions {"event_type", "filter":
  {"user_id"}, "tag", "webhook_id"}, DELETE /2/activity/subscriptions/{id} (bearer).
  dm.received, dm.sent, post.mention.create and post.reply.create are private events that
  need the user's authorization. Ambiguities, settled on the v2 API reference
  (x-api/activity/create-x-activity-subscription.mdx, generated from X's OpenAPI spec):
  creation accepts OAuth 1.0a user context, which this client uses (the changelog speaks
  of "OAuth 2.0 user authorization"); the created subscription is read from
  data.subscription.subscription_id, with the quickstart's data.subscription_id accepted too.
- x-api/direct-messages/manage/quickstart.mdx: POST /2/dm_conversations/with/{id}/messages
  {"text"} -> {"data": {"dm_conversation_id", "dm_event_id"}}, user context.
- x-api/posts/manage-tweets/quickstart.mdx: POST /2/tweets {"text", "reply":
  {"in_reply_to_tweet_id"}} -> {"data": {"id", "text"}}, user context.
- x-api/fundamentals/rate-limits.mdx: 429 with x-rate-limit-reset in UTC epoch seconds.
- x-api/fundamentals/response-codes-and-errors.mdx: errors are problem details
  ({"title", "detail", "type"}); older endpoints answer {"errors": [{"code", "message"}]}.
- x-api/direct-messages/media/introduction.mdx and x-api/direct-messages/media/migrate.mdx
  (developer.x.com direct-messages/message-attachments/guides/retrieving-media before):
  a DM's media_url_https is a TON URL, https://ton.twitter.com/1.1/ton/data/dm/{dm_id}/
  {media_id}/{resource_id}, fetched with GET signed with the account's OAuth 1.0a token;
  the account must be a participant of the DM. The newer /2/dm_conversations/media/...
  takes OAuth 2.0 user tokens only (see MediaCalls.download_media for what an OAuth 2.0
  connection does). A post's media are
  public on pbs.twimg.com (photos) and video.twimg.com (videos' mp4 variants).
- X Chat: see the chat module (x-api/chat/*.mdx, openapi.json, xchat/*.mdx).
"""

from twittnow.clients.x.chat import ChatCalls
from twittnow.clients.x.direct_messages import DirectMessageCalls
from twittnow.clients.x.errors import (
    XChatNeedsOAuth2,
    XConnectionBroken,
    XError,
    XMediaRefused,
    XNotFound,
    XRateLimited,
    XReplyNotAllowed,
    XRequestRejected,
    XUnavailable,
)
from twittnow.clients.x.media import DEFAULT_MAX_MEDIA_BYTES, MediaCalls
from twittnow.clients.x.models import (
    AccessToken,
    AccountCredentials,
    BearerCredentials,
    ChatEvent,
    ChatEventsPage,
    DownloadedMedia,
    OAuth2Tokens,
    PublicKeyRecord,
    RequestToken,
    UserCredentials,
    Webhook,
    WebhookApi,
    XUser,
)
from twittnow.clients.x.oauth import OAuthCalls
from twittnow.clients.x.oauth2 import OAUTH2_SCOPES, OAuth2Calls
from twittnow.clients.x.posts import PostCalls
from twittnow.clients.x.transport import OAuth1
from twittnow.clients.x.webhooks import ACTIVITY_EVENT_TYPES, ACTIVITY_TAG, WebhookCalls
from twittnow.x_app import AppCredentials  # what XClient is made with

__all__ = [
    "ACTIVITY_EVENT_TYPES",
    "ACTIVITY_TAG",
    "DEFAULT_MAX_MEDIA_BYTES",
    "OAUTH2_SCOPES",
    "AccessToken",
    "AccountCredentials",
    "AppCredentials",
    "BearerCredentials",
    "ChatEvent",
    "ChatEventsPage",
    "DownloadedMedia",
    "OAuth1",
    "OAuth2Tokens",
    "PublicKeyRecord",
    "RequestToken",
    "UserCredentials",
    "Webhook",
    "WebhookApi",
    "XChatNeedsOAuth2",
    "XClient",
    "XConnectionBroken",
    "XError",
    "XMediaRefused",
    "XNotFound",
    "XRateLimited",
    "XReplyNotAllowed",
    "XRequestRejected",
    "XUnavailable",
    "XUser",
]


# ChatCalls is a MediaCalls (it reads encrypted media as media are read), so it comes first.
class XClient(
    OAuthCalls, OAuth2Calls, DirectMessageCalls, PostCalls, ChatCalls, MediaCalls, WebhookCalls
):
    """X's OAuth and v2 endpoints on `base_url` (https://api.x.com, or a sandbox), as the
    app `app`. `timeout` in seconds, for connecting and for each read;
    `oauth2_authorize_url` is X's OAuth 2.0 authorize page.

    Calls as a connected account take its credentials: OAuth 1.0a ones (UserCredentials)
    are signed, an OAuth 2.0 access token (BearerCredentials) goes as a bearer token.
    Webhook management uses the app-only bearer token, fetched once per client.
    """
