"""How every call reaches X: the session, OAuth 1.0a signatures as a connected account,
the app-only bearer token, and X's answers checked and turned into data or an XError.
The calls themselves live beside this module, one module per concern."""

from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar, overload
from urllib.parse import parse_qsl, quote, urlsplit

from twittnow.clients.responses import json_object, status_line
from twittnow.clients.x.errors import (
    XNotFound,
    XRequestRejected,
    XUnavailable,
    error_for,
    scrub,
)
from twittnow.clients.x.models import AccountCredentials, BearerCredentials
from twittnow.observability import outgoing_call
from twittnow.x_app import AppCredentials

if TYPE_CHECKING:
    import requests

_Data = TypeVar("_Data")


def id_segment(x_id: str) -> str:
    """An X id as one URL path segment. Quoting keeps "/" in; "", "." and ".." are refused
    as ids of nothing, since requests resolves the last two into another path."""
    if x_id in ("", ".", ".."):
        raise XNotFound(f"No X resource has the id {x_id!r}.")
    return quote(x_id, safe="")


def fill(route: str, ids: Mapping[str, str] | None) -> str:
    """The path of `route`, a path's template, whose {names} `ids` fill, each as one path
    segment (id_segment). The template, never the ids, names a call in traces."""
    return route.format_map({name: id_segment(x_id) for name, x_id in (ids or {}).items()})


class OAuth1:
    """OAuth 1.0a (HMAC-SHA1) in the Authorization header, signed by oauthlib; requests
    takes any callable as `auth`. requests-oauthlib's OAuth1 does the same, but its package
    also loads oauthlib's OAuth 2: about 26 ms of every X function's cold start
    (bench/cold_start.py). OAuth 1.0a signs form-encoded bodies only, and these calls carry
    JSON or none."""

    def __init__(self, consumer_key: str, consumer_secret: str, **token: str):
        from oauthlib.oauth1 import Client  # loaded, like requests, when first needed

        self._client = Client(consumer_key, consumer_secret, **token)

    def __call__(self, request: "requests.PreparedRequest") -> "requests.PreparedRequest":
        # A prepared request has its URL and method, which requests types as optional;
        # oauthlib's stubs want the method as a literal and the headers as str.
        request.url, headers, _ = self._client.sign(
            request.url,  # type: ignore[arg-type]
            request.method,  # type: ignore[arg-type]
            headers=dict(request.headers),  # type: ignore[arg-type]
        )
        request.prepare_headers(headers)
        return request


class Bearer:
    """An OAuth 2.0 access token in the Authorization header (requests takes any callable
    as `auth`); its repr shows no token."""

    def __init__(self, access_token: str):
        self._access_token = access_token

    def __call__(self, request: "requests.PreparedRequest") -> "requests.PreparedRequest":
        request.headers["Authorization"] = f"Bearer {self._access_token}"
        return request

    def __repr__(self) -> str:
        return "Bearer(***)"


def user_secrets(user: AccountCredentials) -> tuple[str, ...]:
    """What of a connected account's credentials must never appear in a message."""
    if isinstance(user, BearerCredentials):
        return (user.access_token,)
    return (user.access_token, user.access_token_secret)


class XTransport:
    """Sends calls to X on `base_url` as the app `app` or as a connected account, and
    checks X's answers. Never retries, never sleeps: the caller decides what a failure
    means. `timeout` in seconds, for connecting and for each read."""

    def __init__(
        self,
        base_url: str,
        app: AppCredentials,
        timeout: float = 10.0,
        oauth2_authorize_url: str = "https://x.com/i/oauth2/authorize",
    ):
        self.base_url = base_url.rstrip("/")
        self._app = app
        self._oauth2_authorize_page = oauth2_authorize_url
        self._timeout = (timeout, timeout)
        # requests loads with the first client, not with this module: about 19 ms of a
        # cold start (bench/cold_start.py) that a request refused before it needs X skips.
        import requests

        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        self._bearer_token: str | None = None

    def _user_call(
        self,
        user: AccountCredentials,
        method: str,
        route: str,
        action: str,
        *,
        ids: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> dict:
        """`data` of X's JSON answer to a call made as the connected account (`route` and
        `ids`: see fill)."""
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
        return self._data(response, action, dict)

    def _user_auth(self, user: AccountCredentials) -> "OAuth1 | Bearer":
        """Authorizes requests as the connected account: an OAuth 1.0a signature, or the
        OAuth 2.0 access token as a bearer token."""
        if isinstance(user, BearerCredentials):
            return Bearer(user.access_token)
        return OAuth1(
            self._app.consumer_key,
            self._app.consumer_secret,
            resource_owner_key=user.access_token,
            resource_owner_secret=user.access_token_secret,
        )

    @overload
    def _app_call(
        self, method: str, route: str, action: str, *, answer: type[list], **kwargs: Any
    ) -> list: ...
    @overload
    def _app_call(self, method: str, route: str, action: str, **kwargs: Any) -> dict: ...
    def _app_call(
        self,
        method: str,
        route: str,
        action: str,
        *,
        ids: Mapping[str, str] | None = None,
        answer: type = dict,
        **kwargs: Any,
    ) -> dict | list:
        """`data` of X's JSON answer, a dict or a list, to a call made as the app (`route`
        and `ids`: see fill)."""
        path = fill(route, ids)  # first: an id of nothing is refused before any call
        token = self._app_bearer_token()
        try:
            response = self._send(
                method,
                path,
                action,
                route=route,
                headers={"Authorization": f"Bearer {token}"},
                secrets=(token,),
                **kwargs,
            )
        except XRequestRejected as error:
            if error.status_code == HTTPStatus.UNAUTHORIZED:
                self._bearer_token = None  # invalidated: the next call fetches a new one
            raise
        return self._data(response, action, answer)

    def _app_bearer_token(self) -> str:
        if self._bearer_token is None:
            # RFC 1738-encoded, then Basic auth, as X's application-only guide says.
            key, secret = (
                quote(value, safe="")
                for value in (self._app.consumer_key, self._app.consumer_secret)
            )
            response = self._send(
                "POST",
                "/oauth2/token",
                "get the app's bearer token",
                auth=(key, secret),
                data={"grant_type": "client_credentials"},
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
            )
            answer = json_object(response) or {}
            token = answer.get("access_token")
            if str(answer.get("token_type", "")).lower() != "bearer" or not token:
                raise XUnavailable(
                    "X's bearer token answer is not a bearer token.",
                    status_code=response.status_code,
                )
            self._bearer_token = token
        return self._bearer_token

    def _send(
        self, method: str, path: str, action: str, *, route: str | None = None, **kwargs: Any
    ) -> "requests.Response":
        """X's 2xx answer to `method path` on the base URL: see _send_to. `route` is the
        path's template (see fill); a path without ids is its own."""
        return self._send_to(method, self.base_url + path, action, route=route or path, **kwargs)

    def _send_to(
        self,
        method: str,
        url: str,
        action: str,
        *,
        route: str,
        as_user: bool = False,
        secrets: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> "requests.Response":
        """X's 2xx answer to `method url`, or the XError its answer means. `action` names
        the call in messages ("send a DM"), `route` in traces (no id, no query: see
        outgoing_call); `secrets` are scrubbed from messages."""
        import requests  # loaded by __init__ already

        secrets = (self._app.consumer_secret, *secrets)
        with outgoing_call("X", method, route) as answered:
            try:
                # No redirects: following one would carry the Authorization header elsewhere.
                response = self._session.request(
                    method, url, timeout=self._timeout, allow_redirects=False, **kwargs
                )
            except requests.Timeout as exc:
                message = f"X did not answer within {self._timeout[1]:g} seconds ({action})."
                detail = str(exc)
            except requests.RequestException as exc:
                parts = urlsplit(url)
                message = f"Could not connect to X at {parts.scheme}://{parts.netloc} ({action})."
                detail = str(exc)
            else:
                answered(response.status_code)
                if 200 <= response.status_code < 300:
                    return response
                raise error_for(response, action, as_user, secrets)
            # Raised outside the except clauses so that the requests exception, whose request
            # holds the Authorization header, is not chained to it as __context__.
            raise XUnavailable(scrub(message, secrets), detail=scrub(detail, secrets))

    @staticmethod
    def _data(response: "requests.Response", action: str, answer: type[_Data]) -> _Data:
        body = json_object(response)
        data = None if body is None else body.get("data")
        if not isinstance(data, answer):
            raise XUnavailable(
                f"X answered {status_line(response)} without data ({action}).",
                status_code=response.status_code,
            )
        return data

    @staticmethod
    def _form(response: "requests.Response") -> dict[str, str]:
        return dict(parse_qsl(response.text, keep_blank_values=True))

    @staticmethod
    def _field(data: dict, name: str, action: str) -> str:
        value = data.get(name) if isinstance(data, dict) else None
        if not value:
            raise XUnavailable(f"X's answer lacks {name} ({action}).")
        return str(value)
