"""3-legged OAuth 1.0a: a request token, the page where the account approves the app, and
the exchange of the callback's verifier for the account's access token."""

from urllib.parse import urlencode

from twittnow.clients.x.errors import XRequestRejected, XUnavailable
from twittnow.clients.x.models import AccessToken, RequestToken, UserCredentials
from twittnow.clients.x.transport import OAuth1, XTransport


class OAuthCalls(XTransport):
    def request_token(self, callback_url: str) -> RequestToken:
        """Step 1: temporary credentials; X sends the user back to `callback_url`."""
        auth = OAuth1(self._app.consumer_key, self._app.consumer_secret, callback_uri=callback_url)
        answer = self._form(
            self._send("POST", "/oauth/request_token", "get a request token", auth=auth)
        )
        if answer.get("oauth_callback_confirmed") != "true" or not answer.get("oauth_token"):
            raise XRequestRejected(
                "X did not confirm the OAuth callback URL: check that it is one of the app's "
                "callback URLs in the X developer console."
            )
        return RequestToken(answer["oauth_token"], answer.get("oauth_token_secret", ""))

    def authorize_url(self, oauth_token: str) -> str:
        """Step 2: where the user approves the app."""
        return f"{self.base_url}/oauth/authorize?{urlencode({'oauth_token': oauth_token})}"

    def access_token(self, request_token: RequestToken, verifier: str) -> AccessToken:
        """Step 3: the approving account and its access token, for the callback's verifier."""
        auth = OAuth1(
            self._app.consumer_key,
            self._app.consumer_secret,
            resource_owner_key=request_token.oauth_token,
            resource_owner_secret=request_token.oauth_token_secret,
            verifier=verifier,
        )
        response = self._send(
            "POST",
            "/oauth/access_token",
            "exchange the verifier for an access token",
            auth=auth,
            secrets=(request_token.oauth_token_secret,),
        )
        answer = self._form(response)
        if not all(answer.get(name) for name in ("oauth_token", "oauth_token_secret", "user_id")):
            raise XUnavailable(
                "X's access token answer lacks the token or the account.",
                status_code=response.status_code,
            )
        return AccessToken(
            user_id=answer["user_id"],
            screen_name=answer.get("screen_name", ""),
            credentials=UserCredentials(answer["oauth_token"], answer["oauth_token_secret"]),
        )
