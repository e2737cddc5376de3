"""OAuth 2.0 user context (Authorization Code with PKCE), as a confidential client: the
page where the account approves the app, the exchange of the callback's code for the
account's tokens, and the account those tokens belong to.

From X's documentation (xdevplatform/docs, fundamentals/authentication/oauth-2-0/
authorization-code.mdx and user-access-token.mdx): the authorize page takes
response_type=code, client_id, redirect_uri, scope, state, code_challenge and
code_challenge_method; POST /2/oauth2/token with grant_type=authorization_code, code,
redirect_uri and code_verifier, and (a confidential client) HTTP Basic with the client id
and secret, answers {"token_type": "bearer", "expires_in", "access_token", "scope",
"refresh_token" (with offline.access)}. GET /2/users/me answers {"data": {"id",
"username", "name"}}. X's docs give no error bodies for the token endpoint; its clients
meet 400 invalid_request for a code X refuses and 401 unauthorized_client for a client
that does not authenticate.
"""

from datetime import timedelta
from http import HTTPStatus
from urllib.parse import quote, urlencode

from twittnow import clock
from twittnow.clients.responses import json_object
from twittnow.clients.x.errors import XError, XRequestRejected, XUnavailable
from twittnow.clients.x.models import AccountCredentials, OAuth2Tokens, XUser
from twittnow.clients.x.transport import XTransport

TOKEN_PATH = "/2/oauth2/token"
# What the service does as a connected account: read and write posts and DMs, read the
# account, upload media, and refresh its tokens (offline.access gives a refresh token).
OAUTH2_SCOPES = (
    "tweet.read",
    "tweet.write",
    "users.read",
    "dm.read",
    "dm.write",
    "media.write",
    "offline.access",
)


class OAuth2Calls(XTransport):
    def oauth2_authorize_url(self, redirect_uri: str, state: str, code_challenge: str) -> str:
        """Where the account's owner approves the app: X sends the browser back to
        `redirect_uri` with `state` and a code (S256 PKCE with `code_challenge`)."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._oauth2_client()[0],
                "redirect_uri": redirect_uri,
                "scope": " ".join(OAUTH2_SCOPES),
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            },
            quote_via=quote,  # the scopes' spaces as %20, as X's examples write them
        )
        return f"{self._oauth2_authorize_page}?{query}"

    def exchange_code(self, code: str, code_verifier: str, redirect_uri: str) -> OAuth2Tokens:
        """The account's tokens for the callback's code. XRequestRejected when X refuses the
        code (wrong, expired, used, or not made for this verifier); an XError that is not a
        refusal of the code when X refuses the app's client credentials."""
        return self._token_call(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
            action="exchanging the authorization code",
            refused="X refused the authorization code: it is wrong, expired or already used",
            secrets=(code, code_verifier),
        )

    def refresh_oauth2(self, refresh_token: str) -> OAuth2Tokens:
        """A new access token and refresh token for the connection whose refresh token
        this is (grant_type=refresh_token). X rotates refresh tokens: the one given stops
        working. XRequestRejected when X refuses it (revoked, already used: 400
        invalid_request or invalid_grant); an XError that is not a refusal of the token
        when X refuses the app's client credentials."""
        return self._token_call(
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            action="renewing an access token",
            refused="X refused the refresh token: it is revoked or already used",
            secrets=(refresh_token,),
        )

    def _token_call(
        self, form: dict[str, str], *, action: str, refused: str, secrets: tuple[str, ...]
    ) -> OAuth2Tokens:
        """POST /2/oauth2/token as the confidential client. A 401 is the app's client
        credentials, which the operator must fix; any other refusal is of what `form`
        carries (`refused` says so: X's own words would not help the person more, and could
        repeat what it was sent)."""
        client_id, client_secret = self._oauth2_client()
        try:
            response = self._send(
                "POST",
                TOKEN_PATH,
                action,
                auth=(client_id, client_secret),
                data=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                secrets=(client_secret, *secrets),
            )
        except XRequestRejected as error:
            refusal = error
        else:
            return _tokens(json_object(response) or {}, response.status_code)
        # Raised outside the except clause, so that nothing of the refusal is chained.
        if refusal.status_code == HTTPStatus.UNAUTHORIZED:
            raise XError(
                "X refused the app's OAuth 2.0 client credentials (X_CLIENT_ID, "
                f"X_CLIENT_SECRET) when {action}.",
                status_code=refusal.status_code,
                detail=refusal.detail,
            )
        raise XRequestRejected(refused, status_code=refusal.status_code, detail=refusal.detail)

    def me(self, user: AccountCredentials) -> XUser:
        """The account `user` is the credentials of (GET /2/users/me)."""
        data = self._user_call(user, "GET", "/2/users/me", "read the connected account")
        return XUser(
            id=self._field(data, "id", "read the connected account"),
            username=self._field(data, "username", "read the connected account"),
        )

    def _oauth2_client(self) -> tuple[str, str]:
        if not (self._app.client_id and self._app.client_secret):
            raise XError(
                "The X app's OAuth 2.0 client is not configured: set X_CLIENT_ID and "
                "X_CLIENT_SECRET (in AWS: client_id and client_secret in the X app's secret)."
            )
        return self._app.client_id, self._app.client_secret


def _tokens(answer: dict, status: int) -> OAuth2Tokens:
    access_token, refresh_token = answer.get("access_token"), answer.get("refresh_token")
    expires_in = answer.get("expires_in")
    if (
        str(answer.get("token_type", "")).lower() != "bearer"
        or not isinstance(access_token, str)
        or not access_token
        or not isinstance(refresh_token, str)
        or not refresh_token
        or not isinstance(expires_in, int)
    ):
        raise XUnavailable(
            "X's token answer lacks a bearer access token, a refresh token or its lifetime.",
            status_code=status,
        )
    return OAuth2Tokens(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=clock.now() + timedelta(seconds=expires_in),
        scope=str(answer.get("scope", "")),
    )
