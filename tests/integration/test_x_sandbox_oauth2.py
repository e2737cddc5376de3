"""The sandbox X's OAuth 2.0 over HTTP, as the service will use it: the authorize page, the
token endpoint (authorization code with PKCE, rotating refresh tokens) and its refusals,
bearer access tokens on the endpoints a connected account calls, and the sandbox's controls
to expire an account's access tokens and to revoke its grant."""

import base64
import hashlib
import html
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from requests_oauthlib import OAuth1

from sandboxes.x import XSandbox, oauth2
from sandboxes.x.payloads import Account
from twittnow.x_app import crc_response

KEY, SECRET = "oauth2-test-key", "oauth2-test-secret"
REDIRECT_URI = "http://localhost:3000/twitter-callback"
SCOPE = "tweet.read tweet.write users.read dm.read dm.write media.write offline.access"
BAD_CODE = {
    "error": "invalid_request",
    "error_description": "Value passed for the authorization code was invalid.",
}
BAD_TOKEN = {
    "error": "invalid_request",
    "error_description": "Value passed for the token was invalid.",
}
UNAUTHORIZED = {
    "title": "Unauthorized",
    "detail": "Unauthorized",
    "type": "about:blank",
    "status": 401,
}


@pytest.fixture
def sandbox():
    with XSandbox(KEY, SECRET) as running:
        yield running


def pkce() -> tuple[str, str]:
    """A code verifier and its S256 challenge, as the service makes them."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Service:
    """What the service does on the sandbox X, as a confidential OAuth 2.0 client."""

    def __init__(self, sandbox: XSandbox):
        self.sandbox = sandbox
        self.url = sandbox.base_url
        self.verifier, self.challenge = pkce()
        self.state = secrets.token_urlsafe(16)

    def authorize_query(self, **changes: str) -> dict[str, str]:
        query = {
            "response_type": "code",
            "client_id": self.sandbox.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "state": self.state,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        return {**query, **changes}

    def authorize(self, **query: str) -> requests.Response:
        """The account's browser at the authorize URL (with approve= or deny=: its answer)."""
        return requests.get(
            self.sandbox.oauth2_authorize_url,
            params=self.authorize_query(**query),
            allow_redirects=False,
            timeout=5,
        )

    def approve(self, screen_name: str, **query: str) -> str:
        """The code X's redirect brings to the callback once `screen_name` approves."""
        answer = self.authorize(approve=screen_name, **query)
        assert answer.status_code == 302, answer.text
        location = urlsplit(answer.headers["Location"])
        callback = dict(parse_qsl(location.query))
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
        assert callback["state"] == self.state
        return callback["code"]

    def token(self, form: dict[str, str], auth: tuple[str, str] | None = None) -> requests.Response:
        return requests.post(
            f"{self.url}/2/oauth2/token",
            data=form,
            auth=auth or (self.sandbox.client_id, self.sandbox.client_secret),
            timeout=5,
        )

    def exchange(self, code: str, verifier: str | None = None) -> requests.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier or self.verifier,
        }
        return self.token(form)

    def refresh(self, refresh_token: str) -> requests.Response:
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def connect(self, screen_name: str, **query: str) -> dict:
        """The whole flow: the token endpoint's answer."""
        answer = self.exchange(self.approve(screen_name, **query))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def as_user(self, access_token: str, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {access_token}"}
        return requests.request(method, self.url + path, headers=headers, timeout=5, **kwargs)

    def as_app(self, method: str, path: str, **kwargs) -> requests.Response:
        bearer = requests.post(
            f"{self.url}/oauth2/token",
            auth=(KEY, SECRET),
            data={"grant_type": "client_credentials"},
            timeout=5,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {bearer}"}
        return requests.request(method, self.url + path, headers=headers, timeout=5, **kwargs)

    def control(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/sandbox{path}", timeout=15, **kwargs)

    def account_view(self, screen_name: str) -> dict:
        accounts = self.control("GET", "").json()["accounts"]
        return next(account for account in accounts if account["screen_name"] == screen_name)


@pytest.fixture
def service(sandbox):
    return Service(sandbox)


class Webhook:
    """A webhook on loopback that passes the CRC check and answers deliveries 200."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = dict(parse_qsl(urlsplit(self.path).query))["crc_token"]
                self._answer(json.dumps(crc_response(SECRET, token)).encode())

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self._answer(b"")

            def _answer(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/twitter-activity"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook():
    receiver = Webhook()
    yield receiver
    receiver.close()


# ---------------------------------------------------------------- the client's credentials


def test_the_sandbox_makes_its_own_client_id_and_secret_and_shows_only_the_id():
    with XSandbox(KEY, SECRET) as one, XSandbox(KEY, SECRET) as other:
        assert one.client_id and one.client_secret
        assert (one.client_id, one.client_secret) != (other.client_id, other.client_secret)
        assert one.client_id not in (KEY, SECRET) and one.client_secret not in (KEY, SECRET)
        overview = requests.get(f"{one.base_url}/sandbox", timeout=5)
        assert overview.json()["app"]["client_id"] == one.client_id
        assert one.client_secret not in overview.text
        assert one.oauth2_authorize_url == f"{one.base_url}/i/oauth2/authorize"


def test_a_sandbox_given_client_credentials_takes_them():
    with XSandbox(KEY, SECRET, client_id="given-id", client_secret="given-secret") as sandbox:
        service = Service(sandbox)
        assert (sandbox.client_id, sandbox.client_secret) == ("given-id", "given-secret")
        assert service.connect("acme")["access_token"]


# ---------------------------------------------------------------- the authorize page


def test_the_authorize_page_asks_the_account_for_the_requested_scopes(service):
    answer = service.authorize()

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    for scope in SCOPE.split():
        assert f"<li>{scope}</li>" in answer.text
    assert f'name="code_challenge" value="{service.challenge}"' in answer.text
    assert 'name="approve"' in answer.text and "deny=1" in answer.text


def test_approving_redirects_to_the_callback_with_a_code_and_the_state(service):
    answer = service.authorize(approve="acme")

    assert answer.status_code == 302
    callback = dict(parse_qsl(urlsplit(answer.headers["Location"]).query))
    assert set(callback) == {"code", "state"} and callback["state"] == service.state


def test_denying_redirects_to_the_callback_with_access_denied_and_the_state(service):
    answer = service.authorize(deny="1")

    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert dict(parse_qsl(location.query)) == {"error": "access_denied", "state": service.state}
    accounts = service.control("GET", "").json()["accounts"]
    assert all(account["oauth2"]["grants"] == 0 for account in accounts)


@pytest.mark.parametrize(
    "changes",
    [
        {"client_id": "someone-else"},
        {"redirect_uri": "/relative/callback"},
        {"response_type": "token"},
        {"scope": ""},
        {"scope": "tweet.read admin.everything"},
        {"state": ""},
        {"state": "s" * 501},
        {"code_challenge": ""},
        {"code_challenge_method": "S512"},
    ],
)
def test_an_authorize_url_x_would_not_honour_gets_an_error_page_not_a_redirect(service, changes):
    answer = service.authorize(approve="acme", **changes)

    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert "give access to the App" in answer.text


# ---------------------------------------------------------------- the authorization code


def test_the_code_gives_the_tokens_with_the_granted_scopes(service):
    answer = service.connect("acme")

    assert set(answer) == {"token_type", "expires_in", "access_token", "scope", "refresh_token"}
    assert (answer["token_type"], answer["expires_in"]) == ("bearer", 7200)
    assert answer["scope"].split() == SCOPE.split()
    assert answer["access_token"] != answer["refresh_token"]
    me = service.as_user(answer["access_token"], "GET", "/2/users/me")
    assert me.status_code == 200
    assert me.json() == {
        "data": {"id": Account.named("acme").id, "name": "acme", "username": "acme"}
    }
    view = service.account_view("acme")
    assert view["connected"] is True and view["oauth1"] is False
    assert view["oauth2"] == {
        "grants": 1,
        "scopes": sorted(SCOPE.split()),
        "refreshes": 0,
        "refused_refreshes": 0,
    }


def test_without_offline_access_there_is_no_refresh_token(service):
    answer = service.connect("acme", scope="tweet.read users.read")

    assert "refresh_token" not in answer and answer["scope"] == "tweet.read users.read"


def test_a_code_verifier_that_does_not_answer_the_challenge_is_refused_and_spends_the_code(
    service,
):
    code = service.approve("acme")
    other_verifier, _ = pkce()

    refused = service.exchange(code, other_verifier)
    retried = service.exchange(code)

    assert (refused.status_code, refused.json()) == (400, BAD_CODE)
    assert (retried.status_code, retried.json()) == (400, BAD_CODE)
    assert service.account_view("acme")["oauth2"]["grants"] == 0


def test_the_challenge_itself_is_not_a_verifier_for_s256(service):
    code = service.approve("acme")

    answer = service.exchange(code, service.challenge)

    assert (answer.status_code, answer.json()) == (400, BAD_CODE)


def test_the_plain_method_takes_the_challenge_as_the_verifier(service):
    code = service.approve("acme", code_challenge=service.verifier, code_challenge_method="plain")

    assert service.exchange(code).status_code == 200


def test_a_code_is_good_once(service):
    code = service.approve("acme")

    first, second = service.exchange(code), service.exchange(code)

    assert first.status_code == 200
    assert (second.status_code, second.json()) == (400, BAD_CODE)
    assert service.account_view("acme")["oauth2"]["grants"] == 1


def test_a_code_expires_after_30_seconds(service, monkeypatch):
    code = service.approve("acme")
    issued = oauth2.monotonic()
    monkeypatch.setattr(oauth2, "monotonic", lambda: issued + 30.5)

    answer = service.exchange(code)

    assert (answer.status_code, answer.json()) == (400, BAD_CODE)


def test_a_code_is_for_the_redirect_uri_it_was_given_with(service):
    code = service.approve("acme")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI + "?tenant=other",
        "code_verifier": service.verifier,
    }

    answer = service.token(form)

    assert (answer.status_code, answer.json()) == (400, BAD_CODE)


@pytest.mark.parametrize("missing", ["code", "redirect_uri", "code_verifier"])
def test_a_missing_parameter_is_named(service, missing):
    form = {
        "grant_type": "authorization_code",
        "code": service.approve("acme"),
        "redirect_uri": REDIRECT_URI,
        "code_verifier": service.verifier,
    }
    del form[missing]

    answer = service.token(form)

    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_request",
        "error_description": f"Missing required parameter [{missing}].",
    }


@pytest.mark.parametrize(
    "auth",
    [
        "none",
        "wrong secret",
        "consumer key and secret",
        "bearer",
    ],
)
def test_a_client_that_does_not_authenticate_is_refused_401(service, auth):
    code = service.approve("acme")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": service.verifier,
    }
    headers = {
        "none": {},
        "wrong secret": {"Authorization": basic(service.sandbox.client_id, "guessed")},
        "consumer key and secret": {"Authorization": basic(KEY, SECRET)},
        "bearer": {"Authorization": f"Bearer {service.sandbox.client_secret}"},
    }[auth]
    # A public client's way: the client id in the form, no secret.
    refused = requests.post(
        f"{service.url}/2/oauth2/token",
        data={**form, "client_id": service.sandbox.client_id},
        headers=headers,
        timeout=5,
    )

    assert refused.status_code == 401
    assert refused.json() == {
        "error": "unauthorized_client",
        "error_description": "Missing valid authorization header",
    }
    assert service.exchange(code).status_code == 200  # the code was not spent


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_an_unknown_grant_type_is_refused(service):
    answer = service.token({"grant_type": "client_credentials"})

    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"


# ---------------------------------------------------------------- refresh tokens


def test_a_refresh_rotates_the_refresh_token_and_the_used_one_is_refused(service):
    first = service.connect("acme")

    second = service.refresh(first["refresh_token"])
    reused = service.refresh(first["refresh_token"])
    third = service.refresh(second.json()["refresh_token"])

    assert second.status_code == 200
    assert set(second.json()) == set(first)
    assert second.json()["expires_in"] == 7200 and second.json()["scope"] == first["scope"]
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert second.json()["access_token"] != first["access_token"]
    assert (reused.status_code, reused.json()) == (400, BAD_TOKEN)
    assert third.status_code == 200
    new_access = third.json()["access_token"]
    assert service.as_user(new_access, "GET", "/2/users/me").status_code == 200
    oauth2_view = service.account_view("acme")["oauth2"]
    assert (oauth2_view["refreshes"], oauth2_view["refused_refreshes"]) == (2, 1)


def test_an_unknown_refresh_token_is_refused_and_counted_for_nobody(service):
    service.connect("acme")

    answer = service.refresh("made-up")

    assert (answer.status_code, answer.json()) == (400, BAD_TOKEN)
    assert service.account_view("acme")["oauth2"]["refused_refreshes"] == 0


def test_a_refresh_x_fails_with_a_fault_spends_nothing(service):
    tokens = service.connect("acme")
    service.control("POST", "/faults", json={"endpoint": "oauth", "status": 503})

    failed = service.refresh(tokens["refresh_token"])
    retried = service.refresh(tokens["refresh_token"])

    assert failed.status_code == 503
    assert retried.status_code == 200
    assert service.account_view("acme")["oauth2"]["refreshes"] == 1


def test_an_expired_access_token_is_401_until_a_refresh(service):
    tokens = service.connect("acme")

    expired = service.control("POST", "/accounts/acme/expire-tokens")
    refused = service.as_user(tokens["access_token"], "GET", "/2/users/me")
    refreshed = service.refresh(tokens["refresh_token"]).json()

    assert expired.status_code == 200
    assert expired.json() == {
        "account": {"id": Account.named("acme").id, "screen_name": "acme"},
        "expired_access_tokens": 1,
    }
    assert (refused.status_code, refused.json()) == (401, UNAUTHORIZED)
    assert service.as_user(refreshed["access_token"], "GET", "/2/users/me").status_code == 200
    assert service.account_view("acme")["oauth2"]["refreshes"] == 1


def test_an_access_token_expires_after_two_hours(service, monkeypatch):
    tokens = service.connect("acme")
    issued = oauth2.monotonic()
    monkeypatch.setattr(oauth2, "monotonic", lambda: issued + 7200.5)

    answer = service.as_user(tokens["access_token"], "GET", "/2/users/me")

    assert (answer.status_code, answer.json()) == (401, UNAUTHORIZED)


def test_expiring_the_tokens_of_an_account_without_oauth2_is_a_404(service):
    assert service.control("POST", "/accounts/nobody/expire-tokens").status_code == 404


def test_a_revoked_grant_refuses_its_access_token_and_its_refresh_token(service):
    tokens = service.connect("acme")

    revoked = service.control("POST", "/accounts/acme/revoke")
    call = service.as_user(tokens["access_token"], "GET", "/2/users/me")
    refresh = service.refresh(tokens["refresh_token"])

    assert revoked.status_code == 200
    assert revoked.json()["revoked"]["screen_name"] == "acme"
    assert (call.status_code, call.json()) == (401, UNAUTHORIZED)
    assert (refresh.status_code, refresh.json()) == (400, BAD_TOKEN)
    view = service.account_view("acme")
    assert view["connected"] is False
    assert (view["oauth2"]["grants"], view["oauth2"]["refused_refreshes"]) == (0, 1)
    assert service.control("POST", "/accounts/acme/revoke").status_code == 404


def test_revoking_tells_the_webhooks_and_ends_the_subscriptions(service, webhook):
    tokens = service.connect("acme")
    webhook_id = service.as_app("POST", "/2/webhooks", json={"url": webhook.url}).json()["data"][
        "id"
    ]
    subscription = {"event_type": "dm.received", "filter": {"user_id": Account.named("acme").id}}
    subscription["webhook_id"] = webhook_id
    created = service.as_user(
        tokens["access_token"], "POST", "/2/activity/subscriptions", json=subscription
    )
    assert created.status_code == 200, created.text

    revoked = service.control("POST", "/accounts/acme/revoke").json()

    assert [delivery["event"] for delivery in revoked["deliveries"]] == ["oauth.revoke"]
    assert service.control("GET", "").json()["subscriptions"] == []


# ---------------------------------------------------------------- bearer access tokens


def test_an_access_token_calls_every_endpoint_of_a_connected_account(service, webhook):
    acme = service.connect("acme")["access_token"]
    webhook_id = service.as_app("POST", "/2/webhooks", json={"url": webhook.url}).json()["data"][
        "id"
    ]
    jane = service.control("POST", "/customers/jane/mention", json={"to": "acme", "text": "Hi"})
    post = jane.json()["post"]
    aaa = f"/2/account_activity/webhooks/{webhook_id}/subscriptions/all"
    xaa = {
        "event_type": "post.reply.create",
        "filter": {"user_id": Account.named("acme").id},
        "webhook_id": webhook_id,
    }

    dm = service.as_user(
        acme,
        "POST",
        f"/2/dm_conversations/with/{post['from']['id']}/messages",
        json={"text": "Hello"},
    )
    reply = service.as_user(
        acme,
        "POST",
        "/2/tweets",
        json={"text": "@jane On it", "reply": {"in_reply_to_tweet_id": post["id"]}},
    )
    subscribed = service.as_user(acme, "POST", aaa)
    checked = service.as_user(acme, "GET", aaa)
    activity = service.as_user(acme, "POST", "/2/activity/subscriptions", json=xaa)
    me = service.as_user(acme, "GET", "/2/users/me", params={"user.fields": "created_at"})

    assert dm.status_code == 201 and reply.status_code == 201
    assert subscribed.json() == {"data": {"subscribed": True}}
    assert checked.json() == {"data": {"subscribed": True}}
    assert activity.status_code == 200, activity.text
    assert me.json()["data"]["created_at"] == "2020-01-01T00:00:00.000Z"
    sent = service.control("GET", "/sent").json()
    assert [(item["kind"], item["from"]["screen_name"]) for item in sent] == [
        ("dm", "acme"),
        ("reply", "acme"),
    ]


def test_oauth_1a_still_calls_the_same_endpoints(service):
    temporary = dict(
        parse_qsl(
            requests.post(
                f"{service.url}/oauth/request_token",
                auth=OAuth1(KEY, SECRET, callback_uri=REDIRECT_URI),
                timeout=5,
            ).text
        )
    )
    location = requests.get(
        f"{service.url}/oauth/authorize",
        params={"oauth_token": temporary["oauth_token"], "approve": "acme"},
        allow_redirects=False,
        timeout=5,
    ).headers["Location"]
    verifier = dict(parse_qsl(urlsplit(location).query))["oauth_verifier"]
    auth = OAuth1(
        KEY, SECRET, temporary["oauth_token"], temporary["oauth_token_secret"], verifier=verifier
    )
    access = dict(
        parse_qsl(requests.post(f"{service.url}/oauth/access_token", auth=auth, timeout=5).text)
    )

    signed = OAuth1(KEY, SECRET, access["oauth_token"], access["oauth_token_secret"])
    me = requests.get(f"{service.url}/2/users/me", auth=signed, timeout=5)

    assert me.status_code == 200 and me.json()["data"]["username"] == "acme"
    view = service.account_view("acme")
    assert (view["connected"], view["oauth1"], view["oauth2"]["grants"]) == (True, True, 0)


def test_an_access_token_without_a_scope_the_endpoint_needs_is_refused_403(service):
    token = service.connect("acme", scope="tweet.read users.read")["access_token"]
    jane = Account.named("jane")
    service.control("POST", "/customers/jane/dm", json={"to": "acme", "text": "hi"})

    dm = service.as_user(
        token, "POST", f"/2/dm_conversations/with/{jane.id}/messages", json={"text": "x"}
    )

    assert dm.status_code == 403
    assert "dm.write" in dm.json()["detail"]
    assert service.as_user(token, "GET", "/2/users/me").status_code == 200
    assert service.control("GET", "/sent").json() == []


def test_an_unknown_bearer_token_is_401(service):
    answer = service.as_user("made-up", "GET", "/2/users/me")

    assert (answer.status_code, answer.json()) == (401, UNAUTHORIZED)


def test_the_app_and_a_user_each_keep_to_their_own_endpoints(service):
    user_token = service.connect("acme")["access_token"]

    app_only = service.as_user(user_token, "GET", "/2/webhooks")
    user_only = service.as_app("GET", "/2/users/me")

    assert app_only.status_code == 403
    assert app_only.json()["detail"].startswith("Authenticating with OAuth 2.0 User Context")
    assert user_only.status_code == 403
    assert user_only.json()["detail"].startswith("Authenticating with OAuth 2.0 Application-Only")


def test_a_users_me_fault_answers_its_status(service):
    token = service.connect("acme")["access_token"]
    service.control("POST", "/faults", json={"endpoint": "users", "status": 503})

    assert service.as_user(token, "GET", "/2/users/me").status_code == 503
    assert service.as_user(token, "GET", "/2/users/me").status_code == 200


def test_the_consent_form_submits_what_the_authorize_url_asked(service):
    """The form's fields, as a browser sends them, approve like ?approve= does."""
    page = service.authorize().text
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    fields = {name: html.unescape(value) for name, value in hidden}
    answer = requests.get(
        f"{service.url}/i/oauth2/authorize?{urlencode({**fields, 'approve': 'acme'})}",
        allow_redirects=False,
        timeout=5,
    )

    assert fields == service.authorize_query()
    assert answer.status_code == 302
    assert service.exchange(dict(parse_qsl(urlsplit(answer.headers["Location"]).query))["code"]).ok
