"""OAuth 2.0 user context as X runs it: the authorize page, the token endpoint, and the
bearer access tokens that v2 endpoints take on a user's behalf (xdevplatform/docs
fundamentals/authentication/oauth-2-0/authorization-code.mdx and user-access-token.mdx).

    GET  /i/oauth2/authorize    response_type=code, client_id, redirect_uri, scope, state,
                                code_challenge, code_challenge_method (S256 or plain). The
                                consent page approves as any screen name; ?approve=<screen
                                name> or ?deny=1 redirects at once, to redirect_uri with
                                code and state, or error=access_denied and state.
    POST /2/oauth2/token        a confidential client: HTTP Basic with the client id and
                                secret. grant_type=authorization_code with code, redirect_uri
                                and code_verifier, or grant_type=refresh_token with
                                refresh_token. {"token_type": "bearer", "expires_in": 7200,
                                "access_token", "scope", "refresh_token" (with
                                offline.access)}.

A code is good once, for 30 seconds. An access token lasts 7200 seconds. A refresh token is
good once: a refresh answers a new pair, and the used refresh token stops working; one
presented again is refused and counted (refused_refreshes in GET /sandbox), and the grant
goes on. The docs do not say whether a refresh ends the previous access token; here it
lasts until it expires.

X's docs give no error bodies for the token endpoint; these are X's answers as its clients
meet them (for example plhery/node-twitter-api-v2 issue 496): a code or refresh token X
refuses is 400 invalid_request, "Value passed for the authorization code was invalid." or
"Value passed for the token was invalid." (not RFC 6749's invalid_grant), and a client that
does not authenticate is 401 unauthorized_client, "Missing valid authorization header".
"""

import base64
import hashlib
import html
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from time import monotonic
from urllib.parse import unquote, urlencode, urlsplit

from sandboxes.x.payloads import SCREEN_NAME, Account
from sandboxes.x.web import (
    Call,
    Refused,
    Response,
    json_response,
    page,
    problem,
    redirect,
    same_secret,
    with_query,
)

AUTHORIZE_PATH = "/i/oauth2/authorize"
TOKEN_PATH = "/2/oauth2/token"
CODE_SECONDS = 30
ACCESS_TOKEN_SECONDS = 2 * 60 * 60
MAX_STATE = 500
# The scopes of OAuth2UserToken in X's openapi.json.
SCOPES = frozenset(
    [
        "block.read",
        "block.write",
        "bookmark.read",
        "bookmark.write",
        "broadcast.read",
        "broadcast.write",
        "dm.read",
        "dm.write",
        "follows.read",
        "follows.write",
        "like.read",
        "like.write",
        "list.read",
        "list.write",
        "media.write",
        "mute.read",
        "mute.write",
        "offline.access",
        "space.read",
        "timeline.read",
        "tweet.moderate.write",
        "tweet.read",
        "tweet.write",
        "users.read",
    ]
)
# What the endpoints the sandbox serves ask of an OAuth 2.0 user token (openapi.json).
DM_WRITE = ("dm.write", "tweet.read", "users.read")
TWEET_WRITE = ("tweet.read", "tweet.write", "users.read")
USERS_READ = ("tweet.read", "users.read")
ACCOUNT_ACTIVITY = ("dm.read", "dm.write", "tweet.read", "users.read")
PKCE_METHODS = ("S256", "plain")
CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 section 4.1
BAD_CODE = "Value passed for the authorization code was invalid."
BAD_TOKEN = "Value passed for the token was invalid."


@dataclass
class _Grant:
    """An account's authorization of the app, from one approval: its refresh tokens
    follow one another."""

    account: Account
    scopes: tuple[str, ...]
    refresh_token: str | None = field(default=None, repr=False)  # the one that works now
    revoked: bool = False


@dataclass(frozen=True)
class _Code:
    account: Account
    scopes: tuple[str, ...]
    redirect_uri: str
    challenge: str
    method: str
    expires_at: float


@dataclass
class _AccessToken:
    grant: _Grant
    expires_at: float


@dataclass
class _Counts:
    refreshes: int = 0
    refused_refreshes: int = 0  # with a refresh token used or revoked before


class OAuth2:
    """The OAuth 2.0 side of the app `client_id`/`client_secret`. `account(screen_name)`
    gives the account approving; `lock` is the sandbox's."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        lock: threading.RLock,
        account: Callable[[str], Account],
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self._lock = lock
        self._account = account
        self._codes: dict[str, _Code] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._refresh_tokens: dict[str, _Grant] = {}
        self._spent: dict[str, Account] = {}  # refresh tokens that no longer work: whose
        self._grants: list[_Grant] = []
        self._counts: dict[str, _Counts] = {}  # by account id

    # ------------------------------------------------------------ the authorize page

    def authorize(self, call: Call, caller: None) -> Response:
        """X's consent page. A request it cannot trust to redirect_uri gets an error page,
        as on X; ?approve=<screen_name> or ?deny=1 answer it at once."""
        query = call.query
        reason = _invalid_authorization(query, self.client_id)
        if reason:
            return page(400, "You weren't able to give access to the App", f"<p>{reason}</p>")
        back = {"state": query["state"]}
        if query.get("deny"):
            return redirect(with_query(query["redirect_uri"], {"error": "access_denied", **back}))
        screen_name = query.get("approve")
        if screen_name is None:
            return page(200, "Authorize Twittnow to access your account?", _consent_form(query))
        if not SCREEN_NAME.fullmatch(screen_name):
            return page(400, "Not a screen name", "<p>1 to 15 letters, digits or _.</p>")
        code = _token("ac")
        approved = _Code(
            account=self._account(screen_name),
            scopes=tuple(dict.fromkeys(query["scope"].split())),
            redirect_uri=query["redirect_uri"],
            challenge=query["code_challenge"],
            method=query["code_challenge_method"],
            expires_at=monotonic() + CODE_SECONDS,
        )
        with self._lock:
            self._codes[code] = approved
        return redirect(with_query(query["redirect_uri"], {**back, "code": code}))

    # ------------------------------------------------------------ the token endpoint

    def token(self, call: Call, caller: None) -> Response:
        if not self._client_authenticated(call.authorization):
            return _error(401, "unauthorized_client", "Missing valid authorization header")
        form = call.form()
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange(form)
        if grant_type == "refresh_token":
            return self._refresh(form)
        if not grant_type:
            return _missing("grant_type")
        return _error(400, "unsupported_grant_type", f"{grant_type} is not supported.")

    def _client_authenticated(self, authorization: str) -> bool:
        """Whether the header is HTTP Basic with the client id and secret, each
        form-encoded first (RFC 6749 section 2.3.1)."""
        scheme, _, credentials = authorization.partition(" ")
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except ValueError:
            return False
        client_id, _, secret = decoded.partition(":")
        return (
            scheme.lower() == "basic"
            and same_secret(unquote(client_id), self.client_id)
            and same_secret(unquote(secret), self.client_secret)
        )

    def _exchange(self, form: dict[str, str]) -> Response:
        for name in ("code", "redirect_uri", "code_verifier"):
            if not form.get(name):
                return _missing(name)
        with self._lock:
            # Spent by any attempt, even one X refuses: a code is good once.
            code = self._codes.pop(form["code"], None)
        if (
            code is None
            or code.expires_at <= monotonic()
            or not same_secret(form["redirect_uri"], code.redirect_uri)
            or not _verified(form["code_verifier"], code.challenge, code.method)
        ):
            return _error(400, "invalid_request", BAD_CODE)
        grant = _Grant(code.account, code.scopes)
        with self._lock:
            self._grants.append(grant)
            return self._issue(grant)

    def _refresh(self, form: dict[str, str]) -> Response:
        used = form.get("refresh_token")
        if not used:
            return _missing("refresh_token")
        with self._lock:
            grant = self._refresh_tokens.pop(used, None)
            if grant is None:
                owner = self._spent.get(used)
                if owner is not None:
                    self._count(owner).refused_refreshes += 1
                return _error(400, "invalid_request", BAD_TOKEN)
            self._spent[used] = grant.account
            self._count(grant.account).refreshes += 1
            return self._issue(grant)

    def _issue(self, grant: _Grant) -> Response:
        """A new access token for the grant and, with offline.access, its next refresh
        token. Holds the lock."""
        access_token = _token("at")
        self._access_tokens[access_token] = _AccessToken(grant, monotonic() + ACCESS_TOKEN_SECONDS)
        answer = {
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "access_token": access_token,
            "scope": " ".join(grant.scopes),
        }
        if "offline.access" in grant.scopes:
            grant.refresh_token = _token("rt")
            self._refresh_tokens[grant.refresh_token] = grant
            answer["refresh_token"] = grant.refresh_token
        return json_response(200, answer)

    # ------------------------------------------------------------ bearer access tokens

    def is_access_token(self, token: str) -> bool:
        with self._lock:
            return token in self._access_tokens

    def user(self, token: str, scopes: tuple[str, ...]) -> Account | None:
        """The account whose access token `token` is, if it holds `scopes`; None for a
        token the sandbox does not know, or no longer (revoked). Refused: 401 once expired,
        as X answers it, and 403 without the scopes."""
        with self._lock:
            held = self._access_tokens.get(token)
        if held is None:
            return None
        if held.expires_at <= monotonic():
            raise Refused(problem(401, "Unauthorized"))
        missing = sorted(set(scopes) - set(held.grant.scopes))
        if missing:
            # X's body for a missing scope is not documented: a 403 that names them.
            detail = f"The access token lacks the scopes this endpoint needs: {' '.join(missing)}."
            raise Refused(problem(403, detail))
        return held.grant.account

    # ------------------------------------------------------------ the sandbox's controls

    def expire(self, account: Account) -> int:
        """Expires the account's access tokens now; how many there were."""
        now = monotonic()
        with self._lock:
            live = [
                held
                for held in self._access_tokens.values()
                if held.grant.account.id == account.id and held.expires_at > now
            ]
            for held in live:
                held.expires_at = now
        return len(live)

    def revoke(self, account: Account) -> bool:
        """Ends the account's grants, as revoking the app on X does; whether it had any."""
        with self._lock:
            grants = [g for g in self._grants if g.account.id == account.id and not g.revoked]
            for grant in grants:
                grant.revoked = True
                if grant.refresh_token is not None:
                    self._spent[grant.refresh_token] = account
                    del self._refresh_tokens[grant.refresh_token]
                    grant.refresh_token = None
            self._access_tokens = {
                token: held for token, held in self._access_tokens.items() if not held.grant.revoked
            }
        return bool(grants)

    def holds(self, account: Account) -> bool:
        """Whether the account has authorized the app with OAuth 2.0, and not revoked it."""
        with self._lock:
            return any(g.account.id == account.id and not g.revoked for g in self._grants)

    def view(self, account: Account) -> dict:
        """The account's OAuth 2.0 side, for the sandbox's overview."""
        with self._lock:
            grants = [g for g in self._grants if g.account.id == account.id and not g.revoked]
            counts = self._counts.get(account.id, _Counts())
            return {
                "grants": len(grants),
                "scopes": sorted({scope for grant in grants for scope in grant.scopes}),
                "refreshes": counts.refreshes,
                "refused_refreshes": counts.refused_refreshes,
            }

    def _count(self, account: Account) -> _Counts:
        return self._counts.setdefault(account.id, _Counts())


def new_client_credentials() -> tuple[str, str]:
    """A client id and secret shaped as X's: the id is base64 of "<random>:1:ci"."""
    client_id = base64.urlsafe_b64encode(f"{secrets.token_urlsafe(18)}:1:ci".encode())
    return client_id.decode().rstrip("="), secrets.token_urlsafe(38)


def _token(kind: str) -> str:
    """A code ("ac"), access token ("at") or refresh token ("rt") shaped as X's: base64 of
    "<random>:<milliseconds>:1:1:<kind>:1"."""
    raw = f"{secrets.token_urlsafe(32)}:{int(time.time() * 1000)}:1:1:{kind}:1"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _verified(verifier: str, challenge: str, method: str) -> bool:
    """Whether the code verifier answers the code challenge (RFC 7636 section 4.6)."""
    if not CODE_VERIFIER.fullmatch(verifier):
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        verifier = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return same_secret(verifier, challenge)


def _invalid_authorization(query: dict[str, str], client_id: str) -> str | None:
    """Why X would not show its consent page for this authorize URL; None if it would."""
    redirect_uri = urlsplit(query.get("redirect_uri", ""))
    scopes = query.get("scope", "").split()
    if not same_secret(query.get("client_id", ""), client_id):
        return "client_id is not the app's Client ID."
    if redirect_uri.scheme not in ("http", "https") or not redirect_uri.netloc:
        return "redirect_uri must be an absolute http or https URL."
    if query.get("response_type") != "code":
        return "response_type must be code."
    if not scopes or not set(scopes) <= SCOPES:
        return "scope must be X's OAuth 2.0 scopes, separated by spaces."
    if not 1 <= len(query.get("state", "")) <= MAX_STATE:
        return f"state is required, at most {MAX_STATE} characters."
    if not query.get("code_challenge") or query.get("code_challenge_method") not in PKCE_METHODS:
        return "code_challenge and code_challenge_method (S256 or plain) are required."
    return None


def _error(status: int, error: str, description: str) -> Response:
    """The error body of X's OAuth 2.0 token endpoint."""
    return json_response(status, {"error": error, "error_description": description})


def _missing(name: str) -> Response:
    return _error(400, "invalid_request", f"Missing required parameter [{name}].")


def _consent_form(query: dict[str, str]) -> str:
    names = (
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    )
    kept = {name: query[name] for name in names}
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value, quote=True)}">'
        for name, value in kept.items()
    )
    scopes = "".join(f"<li>{html.escape(scope)}</li>" for scope in query["scope"].split())
    cancel = html.escape(f"{AUTHORIZE_PATH}?{urlencode({**kept, 'deny': '1'})}", quote=True)
    return (
        f"<p>Twittnow wants to access your X account:</p><ul>{scopes}</ul>"
        f'<form method="get" action="{AUTHORIZE_PATH}">{hidden}'
        '<p><label>Sign in as @<input name="approve" value="acme" required '
        'pattern="\\w{1,15}" maxlength="15"></label></p>'
        '<button type="submit">Authorize app</button>'
        f'<a href="{cancel}">Cancel</a>'
        "</form>"
    )
