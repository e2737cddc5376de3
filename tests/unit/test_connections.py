"""Connecting a tenant's X account (twitter_activity.connections) and reading its X details
(twitter_activity.twitter_details), against the fakes: every branch of the domain, with
no HTTP and no AWS. The API tests (tests/api/test_x_connection.py) keep what goes through
the handlers, DynamoDB's conditions and the sandbox X."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes import fake_ports, fake_settings
from tests.fakes.races import racing
from twitter_activity import connections, twitter_details
from twitter_activity.models import XConnectionView
from twittnow import clock, confirmation_codes, x_accounts
from twittnow.auth import Caller
from twittnow.clients.x import (
    ACTIVITY_EVENT_TYPES,
    OAUTH2_SCOPES,
    AccessToken,
    BearerCredentials,
    UserCredentials,
    WebhookApi,
    XConnectionBroken,
    XError,
    XNotFound,
    XRateLimited,
    XRequestRejected,
    XUnavailable,
    XUser,
)
from twittnow.errors import Conflict, InvalidInput, NotFound, PermissionDenied, UpstreamUnavailable
from twittnow.models import OAuthRequest, Token, TokenKind, User, XConnection

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
BASE_URL = "https://api.twittnow.test"
WEBHOOK_URL = f"{BASE_URL}/twitter-activity"
CALLBACK_URL = f"{BASE_URL}/twitter-callback"
ACME = AccessToken("900", "acme_support", UserCredentials("access-token-900", "access-secret-900"))
OTHER_ACCOUNT = AccessToken("901", "acme_sales", UserCredentials("access-token-901", "secret-901"))


class Clock:
    def __init__(self) -> None:
        self.moment = NOW

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture
def time(monkeypatch) -> Clock:
    moving = Clock()
    monkeypatch.setattr(clock, "now", moving.now)
    return moving


@pytest.fixture
def ports(time):
    ports = fake_ports()
    ports.x.register_webhook(WEBHOOK_URL)
    return ports


def add_user(ports, name: str, *, company: str = "", is_admin: bool = False) -> Caller:
    now = clock.now()
    user = User(
        id=f"user-{name}",
        username=f"{name}@example.com",
        company_name=company,
        is_admin=is_admin,
        password_hash="not used here",
        created_at=now,
        updated_at=now,
    )
    ports.users.create(user)
    token = Token(digest=f"token-{name}", user_id=user.id, kind=TokenKind.LOGIN, created_at=now)
    return Caller(user=user, token=token, source_ip="198.51.100.7")


@pytest.fixture
def tenant(ports) -> Caller:
    return add_user(ports, "tenant", company="Tenant Ltd")


@pytest.fixture
def other_tenant(ports) -> Caller:
    return add_user(ports, "other", company="Other Ltd")


def started(ports, caller: Caller) -> str:
    """An OAuth 1.0a authorization, as GET /get-auth-url stored them before it began
    OAuth 2.0 ones (their redirects still come back): answers the request token X's
    redirect will carry."""
    request_token = ports.x.request_token(CALLBACK_URL)
    ports.oauth_requests.add(
        OAuthRequest(
            oauth_token=request_token.oauth_token,
            oauth_token_secret=request_token.oauth_token_secret,
            user_id=caller.user.id,
            expires_at=clock.now() + connections.AUTHORIZATION_LIFETIME,
        )
    )
    return request_token.oauth_token


def approved(ports, caller: Caller, account: AccessToken = ACME) -> connections.Approval:
    """`caller` starts, `account` approves on X, and X's redirect reaches the callback."""
    ports.x.account = account
    return connections.finish(ports, started(ports, caller), ports.x.verifier, None)


def confirmed(ports, caller: Caller, approval: connections.Approval) -> XConnection:
    return connections.confirm(ports, caller, approval.confirmation, WEBHOOK_URL)


def connected(ports, caller: Caller, account: AccessToken = ACME) -> XConnection:
    return confirmed(ports, caller, approved(ports, caller, account))


def audit_actions(ports) -> list[tuple[str, str | None, str, str | None, list[str]]]:
    """(action, actor id, resource id, tenant id, changed fields), oldest first."""
    entries = ports.audit_log.between(NOW - timedelta(days=1), NOW + timedelta(days=1))
    return [
        (e.action, e.actor_id, e.resource_id, e.tenant_id, e.changed_fields)
        for e in reversed(entries)
    ]


def tokens_in(ports, connection: XConnection) -> dict[str, str]:
    return json.loads(ports.x_secrets.get(connection.secret_arn, connection.secret_version))


ACME_TOKENS = {"access_token": "access-token-900", "access_token_secret": "access-secret-900"}


# ---------------------------------------------------------------- start


def test_start_binds_an_oauth2_authorization_to_the_tenant_for_15_minutes(ports, tenant):
    url, expires_at = connections.start(ports, tenant, CALLBACK_URL)

    query = parse_qs(urlsplit(url).query)
    [state], [challenge] = query["state"], query["code_challenge"]
    assert {name: value for name, [value] in query.items()} == {
        "response_type": "code",
        "client_id": "fake-client-id",
        "redirect_uri": CALLBACK_URL,
        "scope": "tweet.read tweet.write users.read dm.read dm.write media.write offline.access",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    assert len(state) >= 43  # 256 random bits
    assert expires_at == NOW + timedelta(minutes=15)
    # Stored under the state's digest, never the state; the verifier stays with it.
    assert ports.oauth_requests.get(state) is None
    request = ports.oauth_requests.get(connections.state_key(state))
    assert request.user_id == tenant.user.id and request.expires_at == expires_at
    assert request.redirect_uri == CALLBACK_URL and request.verifier_failures == 0
    assert state not in request.model_dump_json()
    assert connections.code_challenge(request.code_verifier) == challenge
    assert 43 <= len(request.code_verifier) <= 128
    assert request.code_verifier not in url and request.code_verifier not in repr(request)
    assert ports.x.calls_to("request_token") == []  # OAuth 1.0a is not started any more


def test_a_start_from_the_console_is_recorded_for_the_callback(ports, tenant):
    console_url, _ = connections.start(ports, tenant, CALLBACK_URL, return_to_console=True)
    plain_url, _ = connections.start(ports, tenant, CALLBACK_URL)
    console_state = parse_qs(urlsplit(console_url).query)["state"][0]
    plain_state = parse_qs(urlsplit(plain_url).query)["state"][0]

    # X is sent the same redirect URI either way: where the browser goes next is ours.
    console_query, plain_query = (
        parse_qs(urlsplit(console_url).query),
        parse_qs(urlsplit(plain_url).query),
    )
    assert console_query.keys() == plain_query.keys()
    assert console_query["redirect_uri"] == plain_query["redirect_uri"] == [CALLBACK_URL]
    assert ports.oauth_requests.get(connections.state_key(console_state)).return_to_console
    assert not ports.oauth_requests.get(connections.state_key(plain_state)).return_to_console
    assert connections.started_from_console(ports, console_state)
    assert not connections.started_from_console(ports, plain_state)


def test_a_request_stored_before_return_to_reads_as_not_from_the_console():
    stored = {"oauth_token": "oauth2:ab", "user_id": "u", "expires_at": NOW}
    assert OAuthRequest.model_validate(stored).return_to_console is False


@pytest.mark.parametrize("state", [None, "", "guessed-state"])
def test_no_known_state_is_from_the_console(ports, tenant, state):
    connections.start(ports, tenant, CALLBACK_URL, return_to_console=True)
    assert not connections.started_from_console(ports, state)


def test_an_expired_or_spent_authorization_is_not_from_the_console(ports, tenant, time):
    url, _ = connections.start(ports, tenant, CALLBACK_URL, return_to_console=True)
    code, state = ports.x.approve(url, ACME_USER)
    connections.finish_oauth2(ports, code, state, None)
    assert not connections.started_from_console(ports, state)  # spent

    url, _ = connections.start(ports, tenant, CALLBACK_URL, return_to_console=True)
    _code, state = ports.x.approve(url, ACME_USER)
    time.advance(minutes=15)
    assert not connections.started_from_console(ports, state)  # expired


def test_an_oauth1_request_token_is_not_a_console_state(ports, tenant):
    assert not connections.started_from_console(ports, started(ports, tenant))


def test_a_console_authorization_declined_on_x_stays_from_the_console(ports, tenant):
    """The callback reads it before finishing: a denial spends nothing, so it is still
    there for the real approval, which the console also gets back."""
    url, _ = connections.start(ports, tenant, CALLBACK_URL, return_to_console=True)
    code, state = ports.x.approve(url, ACME_USER)
    with pytest.raises(PermissionDenied):
        connections.finish_oauth2(ports, None, state, "access_denied")
    assert connections.started_from_console(ports, state)
    assert connections.finish_oauth2(ports, code, state, None).pending.x_user_id == "900"


def test_each_start_has_its_own_state_and_verifier(ports, tenant):
    first, _ = connections.start(ports, tenant, CALLBACK_URL)
    second, _ = connections.start(ports, tenant, CALLBACK_URL)
    assert parse_qs(urlsplit(first).query)["state"] != parse_qs(urlsplit(second).query)["state"]
    assert (
        parse_qs(urlsplit(first).query)["code_challenge"]
        != parse_qs(urlsplit(second).query)["code_challenge"]
    )


def test_the_code_challenge_is_rfc_7636s_s256():
    # RFC 7636, appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert connections.code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(
    ("error", "answer", "retry_after", "message"),
    [
        (XUnavailable("X answered 503"), UpstreamUnavailable, 30, "X did not answer"),
        (
            XRateLimited("slow down", reset_at=NOW + timedelta(seconds=90)),
            UpstreamUnavailable,
            90,
            "Try again in 90 seconds",
        ),
        (
            # A reset X says has passed already: wait a second, never 0 or less.
            XRateLimited("slow down", reset_at=NOW - timedelta(seconds=5)),
            UpstreamUnavailable,
            1,
            "Try again in 1 seconds",
        ),
        (XNotFound("no such endpoint", status_code=404), UpstreamUnavailable, 30, "X answered"),
        (XError("something odd"), UpstreamUnavailable, 30, "something odd"),
        (XRequestRejected("Callback URL not approved"), InvalidInput, None, "X refused"),
        (XConnectionBroken("bad app keys", status_code=401), InvalidInput, None, "bad app keys"),
    ],
)
def test_x_failing_to_start_is_answered_as_the_api_answers_it_and_stores_nothing(
    ports, tenant, error, answer, retry_after, message
):
    # The client builds the URL without calling X; it raises when the app has no OAuth 2.0
    # client (an XError).
    ports.x.fail(error, "oauth2_authorize_url")

    with pytest.raises(answer) as raised:
        connections.start(ports, tenant, CALLBACK_URL)

    assert type(raised.value) is answer
    assert message in raised.value.message
    assert "start connecting the X account" in raised.value.message
    if retry_after is not None:
        assert raised.value.status == 503
        assert raised.value.retry_after_seconds == retry_after
    assert ports.oauth_requests.stored() == {}


# ---------------------------------------------------------------- finish (X's OAuth 1.0a redirect)


def test_the_redirect_holds_the_account_for_the_tenant_to_confirm_and_connects_nothing(
    ports, tenant
):
    oauth_token = started(ports, tenant)

    approval = connections.finish(ports, oauth_token, "verifier", None)

    pending = approval.pending
    assert approval.company_name == "Tenant Ltd"
    assert (pending.user_id, pending.x_user_id, pending.screen_name) == (
        tenant.user.id,
        "900",
        "acme_support",
    )
    assert pending.expires_at == NOW + timedelta(minutes=15)
    assert pending.code_digest == confirmation_codes.digest(approval.confirmation)
    assert len(approval.confirmation) >= 43  # 256 random bits
    assert ports.credentials.x_pending(pending.code_digest) == pending
    # The tokens wait sealed under the code, which is stored nowhere.
    stored = pending.model_dump_json()
    assert "access-token-900" not in stored and "access-secret-900" not in stored
    assert approval.confirmation not in stored and approval.confirmation not in repr(approval)
    assert (
        confirmation_codes.unseal(
            approval.confirmation, pending.sealed_tokens, f"{tenant.user.id}:900"
        )
        == ACME_TOKENS
    )
    # Exchanged with the request's own secret; nothing subscribed, stored or connected yet.
    [exchange] = ports.x.calls_to("access_token")
    assert exchange["request_token"].oauth_token == oauth_token
    assert exchange["request_token"].oauth_token_secret == oauth_token.replace("token", "secret")
    assert ports.x.subscriptions == {} and ports.x_secrets.stored == {}
    assert ports.credentials.x_of(tenant.user.id) is None
    # The authorization is spent.
    assert ports.oauth_requests.get(oauth_token) is None
    with pytest.raises(InvalidInput) as again:
        connections.finish(ports, oauth_token, "verifier", None)
    assert list(again.value.details) == ["oauth_token"]


def test_the_page_names_the_username_of_a_tenant_without_a_company_name(ports):
    nameless = add_user(ports, "nameless")
    assert approved(ports, nameless).company_name == "nameless@example.com"


def test_declining_on_x_spends_nothing_for_a_forged_denial_proves_nothing(ports, tenant):
    oauth_token = started(ports, tenant)

    with pytest.raises(PermissionDenied, match="declined"):
        connections.finish(ports, None, None, denied=oauth_token)

    assert ports.x.calls_to("access_token") == []
    assert connections.finish(ports, oauth_token, "verifier", None).pending.x_user_id == "900"


@pytest.mark.parametrize(
    ("oauth_token", "verifier"),
    [(None, None), ("", "verifier"), (None, "verifier"), ("request-token-1", None), ("x", "")],
)
def test_a_redirect_without_its_token_or_verifier_is_bad_input(
    ports, tenant, oauth_token, verifier
):
    started(ports, tenant)
    with pytest.raises(InvalidInput, match="oauth_token and oauth_verifier"):
        connections.finish(ports, oauth_token, verifier, None)
    assert ports.x.calls_to("access_token") == []


def test_an_unknown_authorization_is_refused_without_calling_x(ports, tenant):
    with pytest.raises(InvalidInput) as refused:
        connections.finish(ports, "request-token-404", "verifier", None)
    assert "oauth_token" in refused.value.details
    assert ports.x.calls_to("access_token") == []


def test_an_authorization_expires_after_15_minutes(ports, tenant, time):
    oauth_token = started(ports, tenant)
    time.advance(minutes=14, seconds=59)
    assert ports.oauth_requests.get(oauth_token) is not None
    time.advance(seconds=1)

    with pytest.raises(InvalidInput) as refused:
        connections.finish(ports, oauth_token, "verifier", None)

    assert "unknown, expired or already used" in refused.value.message
    assert ports.x.calls_to("access_token") == []


def test_the_redirect_of_a_tenant_deleted_meanwhile_is_404(ports, tenant):
    oauth_token = started(ports, tenant)
    ports.users.delete(ports.users.get(tenant.user.id))

    with pytest.raises(NotFound, match="no longer exists"):
        connections.finish(ports, oauth_token, "verifier", None)
    assert ports.x.calls_to("access_token") == []


def test_a_refused_verifier_leaves_the_authorization_for_the_real_redirect(ports, tenant):
    oauth_token = started(ports, tenant)

    with pytest.raises(InvalidInput, match="X refused to finish connecting the X account"):
        connections.finish(ports, oauth_token, "guessed", None)

    assert ports.oauth_requests.get(oauth_token).verifier_failures == 1
    assert ports.credentials.x_of(tenant.user.id) is None
    assert (
        connections.finish(ports, oauth_token, "verifier", None).pending.user_id == tenant.user.id
    )


def test_a_broken_exchange_counts_as_a_refused_verifier(ports, tenant):
    oauth_token = started(ports, tenant)
    ports.x.fail(XConnectionBroken("401 Unauthorized", status_code=401), "access_token")

    with pytest.raises(InvalidInput, match="401 Unauthorized"):
        connections.finish(ports, oauth_token, "verifier", None)

    assert ports.oauth_requests.get(oauth_token).verifier_failures == 1


def test_verifiers_cannot_be_guessed_at_the_fifth_refusal_spends_the_authorization(ports, tenant):
    oauth_token = started(ports, tenant)
    for guess in range(connections.MAX_VERIFIER_FAILURES - 1):
        with pytest.raises(InvalidInput):
            connections.finish(ports, oauth_token, f"guess-{guess}", None)
    assert ports.oauth_requests.get(oauth_token).verifier_failures == 4

    with pytest.raises(InvalidInput):
        connections.finish(ports, oauth_token, "guess-4", None)

    assert ports.oauth_requests.get(oauth_token) is None
    with pytest.raises(InvalidInput) as refused:
        connections.finish(ports, oauth_token, "verifier", None)  # even the real one now
    assert "oauth_token" in refused.value.details
    assert len(ports.x.calls_to("access_token")) == connections.MAX_VERIFIER_FAILURES


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (XUnavailable("X answered 503", status_code=503), 30),
        (XRateLimited("slow down", reset_at=NOW + timedelta(minutes=15)), 900),
    ],
)
def test_x_down_at_the_redirect_is_a_503_and_leaves_the_authorization_as_it_was(
    ports, tenant, error, retry_after
):
    oauth_token = started(ports, tenant)
    ports.x.fail(error, "access_token")

    with pytest.raises(UpstreamUnavailable) as raised:
        connections.finish(ports, oauth_token, "verifier", None)

    assert raised.value.status == 503 and raised.value.retry_after_seconds == retry_after
    assert ports.oauth_requests.get(oauth_token).verifier_failures == 0  # not counted
    assert connections.finish(ports, oauth_token, "verifier", None).pending.x_user_id == "900"


def test_of_two_redirects_racing_with_one_authorization_only_one_holds_the_account(
    ports, tenant, monkeypatch
):
    oauth_token = started(ports, tenant)
    winner: list[connections.Approval] = []
    racing(
        monkeypatch,
        ports.x,
        "access_token",
        lambda: winner.append(connections.finish(ports, oauth_token, "verifier", None)),
    )

    with pytest.raises(InvalidInput) as late:
        connections.finish(ports, oauth_token, "verifier", None)

    assert "oauth_token" in late.value.details
    [won] = winner
    assert confirmed(ports, tenant, won).x_user_id == "900"


def test_a_tenant_holding_another_account_is_refused_at_the_redirect(ports, tenant):
    connected(ports, tenant, ACME)

    with pytest.raises(Conflict, match="already connected to @acme_support"):
        approved(ports, tenant, OTHER_ACCOUNT)


def test_an_account_another_tenant_holds_is_refused_at_the_redirect(ports, tenant, other_tenant):
    connected(ports, tenant, ACME)

    with pytest.raises(Conflict, match="@acme_support is already connected to another tenant"):
        approved(ports, other_tenant, ACME)
    assert ports.credentials.x_of(other_tenant.user.id) is None


# ---------------------------------------------------------------- confirm and the connect step


@pytest.mark.parametrize(
    ("webhook_api", "subscription_id"),
    [
        ("activity", ",".join(f"900-{event}" for event in ACTIVITY_EVENT_TYPES)),
        ("account_activity", "900"),
    ],
)
def test_confirming_subscribes_the_account_stores_its_tokens_and_connects_it(
    time, webhook_api, subscription_id
):
    ports = fake_ports(settings=fake_settings(x_webhook_api=webhook_api))
    webhook = ports.x.register_webhook(WEBHOOK_URL)
    tenant = add_user(ports, "tenant", company="Tenant Ltd")
    approval = approved(ports, tenant)
    time.advance(minutes=3)

    connection = confirmed(ports, tenant, approval)

    api = WebhookApi(webhook_api)
    assert ports.x.subscriptions == {"900": (api, webhook.id)}
    [subscribed] = ports.x.calls_to("subscribe")
    assert subscribed == {
        "api": api,
        "webhook_id": webhook.id,
        "user_id": "900",
        "user": UserCredentials("access-token-900", "access-secret-900"),
    }
    assert connection.model_dump(exclude={"id", "secret_arn", "secret_version"}) == {
        "user_id": tenant.user.id,
        "x_user_id": "900",
        "screen_name": "acme_support",
        "webhook_api": webhook_api,
        "webhook_id": webhook.id,
        "subscription_id": subscription_id,
        "connected_at": NOW + timedelta(minutes=3),
        "updated_at": NOW + timedelta(minutes=3),
        "status": "connected",
        "status_detail": "",
        "account_released_at": None,
        "auth": "oauth1",
    }
    # One secret per connection, named after it, holding the tokens; the record has none.
    [secret] = ports.x_secrets.stored.values()
    assert secret.name == f"test/x/{connection.id}"
    assert tokens_in(ports, connection) == ACME_TOKENS
    assert "access-token-900" not in connection.model_dump_json()
    assert ports.credentials.x_of(tenant.user.id) == connection
    assert ports.credentials.x_by_account("900") == connection
    assert audit_actions(ports) == [
        (
            "x_connection.connected",
            tenant.user.id,
            connection.id,
            tenant.user.id,
            ["access_token", "screen_name", "x_user_id"],
        )
    ]
    # The code is used up.
    with pytest.raises(NotFound):
        confirmed(ports, tenant, approval)


@pytest.mark.parametrize("code", ["", "x", "not-the-code"])
def test_a_wrong_code_is_404_and_changes_nothing(ports, tenant, code):
    approval = approved(ports, tenant)

    with pytest.raises(NotFound, match="No X connection waits for this confirmation code"):
        connections.confirm(ports, tenant, code, WEBHOOK_URL)

    assert ports.x.calls_to("subscribe") == [] and ports.x_secrets.stored == {}
    assert confirmed(ports, tenant, approval).x_user_id == "900"


def test_only_the_tenant_that_started_can_confirm_and_others_use_nothing_up(
    ports, tenant, other_tenant
):
    approval = approved(ports, tenant)
    admin = add_user(ports, "admin", is_admin=True)

    for stranger in (other_tenant, admin):
        with pytest.raises(NotFound):
            confirmed(ports, stranger, approval)

    assert ports.x.calls_to("subscribe") == []
    assert ports.credentials.x_of(other_tenant.user.id) is None
    assert confirmed(ports, tenant, approval).user_id == tenant.user.id


def test_a_code_expires_after_15_minutes(ports, tenant, time):
    approval = approved(ports, tenant)
    time.advance(minutes=15)

    with pytest.raises(NotFound, match="expired"):
        confirmed(ports, tenant, approval)
    assert ports.x.calls_to("subscribe") == []


def test_sealed_tokens_moved_to_another_account_do_not_open(ports, tenant):
    """The seal is bound to the tenant and the account: a record whose account was
    changed (say, in the table) yields no tokens, and connects nothing."""
    approval = approved(ports, tenant)
    ports.credentials.add_x_pending(approval.pending.model_copy(update={"x_user_id": "666"}))

    with pytest.raises(NotFound):
        confirmed(ports, tenant, approval)

    assert ports.x.calls_to("subscribe") == [] and ports.x_secrets.stored == {}


def test_the_rules_are_checked_again_at_confirmation(ports, tenant, other_tenant):
    waiting = approved(ports, other_tenant, ACME)
    connected(ports, tenant, ACME)  # meanwhile

    with pytest.raises(Conflict, match="another tenant"):
        confirmed(ports, other_tenant, waiting)
    assert ports.credentials.x_of(other_tenant.user.id) is None

    connections.revoke(ports, tenant)
    assert confirmed(ports, other_tenant, waiting).user_id == other_tenant.user.id


def test_a_tenant_that_connected_another_account_meanwhile_is_refused_at_confirmation(
    ports, tenant
):
    first, second = approved(ports, tenant, ACME), approved(ports, tenant, OTHER_ACCOUNT)
    confirmed(ports, tenant, second)

    with pytest.raises(Conflict, match="already connected to @acme_sales"):
        confirmed(ports, tenant, first)
    assert ports.credentials.x_of(tenant.user.id).x_user_id == "901"


def test_reconnecting_ones_own_account_replaces_its_tokens_in_the_same_record(ports, tenant, time):
    first = connected(ports, tenant, ACME)
    ports.credentials.replace_x(
        first.model_copy(update={"status": "broken", "status_detail": "revoked on X"})
    )
    time.advance(hours=1)
    renewed = AccessToken("900", "acme_help", UserCredentials("access-token-new", "secret-new"))

    again = connected(ports, tenant, renewed)

    assert (again.id, again.secret_arn, again.connected_at) == (
        first.id,
        first.secret_arn,
        first.connected_at,
    )
    assert again.secret_version != first.secret_version
    assert (again.screen_name, again.status, again.status_detail, again.updated_at) == (
        "acme_help",
        "connected",
        "",
        NOW + timedelta(hours=1),
    )
    assert ports.credentials.x_of(tenant.user.id) == again
    assert tokens_in(ports, again) == {
        "access_token": "access-token-new",
        "access_token_secret": "secret-new",
    }
    assert len(ports.x_secrets.stored) == 1  # no second secret
    assert [entry[0] for entry in audit_actions(ports)] == ["x_connection.connected"] * 2


def test_an_account_released_by_one_tenant_can_be_connected_by_another(
    ports, tenant, other_tenant, time
):
    first = connected(ports, tenant, ACME)
    time.advance(minutes=5)
    connections.revoke(ports, tenant)
    time.advance(minutes=5)

    taken = connected(ports, other_tenant, ACME)

    assert taken.id != first.id and taken.user_id == other_tenant.user.id
    # Events the webhook took between the release and now belong to no connection.
    assert taken.account_released_at == NOW + timedelta(minutes=5)
    assert taken.connected_at == NOW + timedelta(minutes=10)
    with pytest.raises(Conflict, match="another tenant"):
        approved(ports, tenant, ACME)


def test_the_webhook_named_by_the_url_is_preferred_to_another_of_the_service(time):
    ports = fake_ports()
    tenant = add_user(ports, "tenant")
    ports.x.register_webhook(f"{BASE_URL}/activity/")
    exact = ports.x.register_webhook(WEBHOOK_URL)

    assert connected(ports, tenant).webhook_id == exact.id


def test_without_the_webhook_of_this_url_another_of_the_service_is_used(time):
    ports = fake_ports()
    tenant = add_user(ports, "tenant")
    ports.x.register_webhook("https://elsewhere.test/twitter-activity")
    ours = ports.x.register_webhook(f"{BASE_URL}/activity/")

    assert connected(ports, tenant).webhook_id == ours.id


def test_without_a_registered_webhook_confirming_is_a_503_and_keeps_the_code(time):
    ports = fake_ports()
    tenant = add_user(ports, "tenant")
    ports.x.register_webhook("https://elsewhere.test/twitter-activity")
    approval = approved(ports, tenant)

    with pytest.raises(UpstreamUnavailable, match="No X webhook is registered") as raised:
        confirmed(ports, tenant, approval)

    assert raised.value.status == 503
    assert f"--url {WEBHOOK_URL}" in raised.value.message
    assert ports.x.calls_to("subscribe") == [] and ports.x_secrets.stored == {}
    ports.x.register_webhook(WEBHOOK_URL)
    assert confirmed(ports, tenant, approval).x_user_id == "900"


@pytest.mark.parametrize("method", ["list_webhooks", "subscribe"])
def test_x_down_at_confirmation_is_a_503_and_keeps_the_code(ports, tenant, method):
    approval = approved(ports, tenant)
    ports.x.fail(XUnavailable("X answered 503", status_code=503), method)

    with pytest.raises(UpstreamUnavailable, match="subscribe the X account to the webhook"):
        confirmed(ports, tenant, approval)

    assert ports.x_secrets.stored == {} and ports.credentials.x_of(tenant.user.id) is None
    assert audit_actions(ports) == []
    assert confirmed(ports, tenant, approval).x_user_id == "900"


def test_of_two_confirmations_with_one_code_the_late_one_is_404_and_leaks_no_secret(
    ports, tenant, monkeypatch
):
    approval = approved(ports, tenant)
    winner: list[XConnection] = []
    racing(
        monkeypatch, ports.x, "subscribe", lambda: winner.append(confirmed(ports, tenant, approval))
    )

    with pytest.raises(NotFound):
        confirmed(ports, tenant, approval)

    [won] = winner
    assert ports.credentials.x_of(tenant.user.id) == won
    assert list(ports.x_secrets.stored) == [won.secret_arn]  # the late one's was deleted
    assert [entry[0] for entry in audit_actions(ports)] == ["x_connection.connected"]


def test_a_late_reconfirmation_keeps_the_secret_of_the_connection_it_shares(
    ports, tenant, monkeypatch
):
    """Reconnecting writes a new version of the connection's own secret: losing the race
    must not delete the secret the connection still reads."""
    first = connected(ports, tenant)
    approval = approved(ports, tenant)
    winner: list[XConnection] = []
    racing(
        monkeypatch, ports.x, "subscribe", lambda: winner.append(confirmed(ports, tenant, approval))
    )

    with pytest.raises(NotFound):
        confirmed(ports, tenant, approval)

    [won] = winner
    assert won.id == first.id and ports.credentials.x_of(tenant.user.id) == won
    assert tokens_in(ports, won) == ACME_TOKENS


def test_an_account_another_tenant_confirmed_meanwhile_is_a_409_and_leaks_no_secret(
    ports, tenant, other_tenant, monkeypatch
):
    mine, theirs = approved(ports, tenant, ACME), approved(ports, other_tenant, ACME)
    winner: list[XConnection] = []
    racing(
        monkeypatch,
        ports.x,
        "subscribe",
        lambda: winner.append(confirmed(ports, other_tenant, theirs)),
    )

    with pytest.raises(Conflict, match="@acme_support is already connected to another tenant"):
        confirmed(ports, tenant, mine)

    [won] = winner
    assert ports.credentials.x_of(tenant.user.id) is None
    assert ports.credentials.x_by_account("900") == won
    assert list(ports.x_secrets.stored) == [won.secret_arn]


def test_another_account_the_tenant_confirmed_meanwhile_is_a_409_and_leaks_no_secret(
    ports, tenant, monkeypatch
):
    first, second = approved(ports, tenant, ACME), approved(ports, tenant, OTHER_ACCOUNT)
    winner: list[XConnection] = []
    racing(
        monkeypatch, ports.x, "subscribe", lambda: winner.append(confirmed(ports, tenant, second))
    )

    with pytest.raises(Conflict, match="connected another X account meanwhile"):
        confirmed(ports, tenant, first)

    [won] = winner
    assert ports.credentials.x_of(tenant.user.id) == won and won.x_user_id == "901"
    assert list(ports.x_secrets.stored) == [won.secret_arn]


def test_an_account_refused_for_another_the_tenant_connected_meanwhile_is_left_unsubscribed(
    ports, tenant, monkeypatch
):
    first, second = approved(ports, tenant, ACME), approved(ports, tenant, OTHER_ACCOUNT)
    racing(monkeypatch, ports.x, "subscribe", lambda: confirmed(ports, tenant, second))

    with pytest.raises(Conflict):
        confirmed(ports, tenant, first)

    assert list(ports.x.subscriptions) == ["901"]


def test_x_failing_to_unsubscribe_a_refused_account_leaves_the_answer_a_409(
    ports, tenant, monkeypatch
):
    first, second = approved(ports, tenant, ACME), approved(ports, tenant, OTHER_ACCOUNT)
    racing(monkeypatch, ports.x, "subscribe", lambda: confirmed(ports, tenant, second))
    ports.x.fail(XUnavailable("X answered 503", status_code=503), "unsubscribe")

    with pytest.raises(Conflict, match="connected another X account meanwhile"):
        confirmed(ports, tenant, first)

    assert list(ports.x_secrets.stored) == [ports.credentials.x_of(tenant.user.id).secret_arn]


# ---------------------------------------------------------------- revoke


def test_revoking_unsubscribes_forgets_the_tokens_and_releases_the_account(ports, tenant, time):
    connection = connected(ports, tenant)
    time.advance(minutes=1)

    connections.revoke(ports, tenant)

    assert ports.x.calls_to("unsubscribe") == [
        {
            "api": WebhookApi.ACTIVITY,
            "webhook_id": connection.webhook_id,
            "user_id": "900",
            "subscription_id": connection.subscription_id,
        }
    ]
    assert ports.x.subscriptions == {}
    assert ports.credentials.x_of(tenant.user.id) is None
    assert ports.x_secrets.stored == {}
    assert ports.credentials.holds_account("900") is False
    assert ports.credentials.account_released_at("900") == NOW + timedelta(minutes=1)
    assert audit_actions(ports)[-1] == (
        "x_connection.revoked",
        tenant.user.id,
        connection.id,
        tenant.user.id,
        [],
    )


def test_revoking_is_idempotent(ports, tenant):
    connected(ports, tenant)
    connections.revoke(ports, tenant)
    calls, entries = len(ports.x.calls), audit_actions(ports)

    connections.revoke(ports, tenant)

    assert len(ports.x.calls) == calls and audit_actions(ports) == entries


def test_revoking_nothing_connected_calls_nothing(ports, tenant, other_tenant):
    connection = connected(ports, other_tenant)

    connections.revoke(ports, tenant)

    assert ports.x.calls_to("unsubscribe") == [] and len(audit_actions(ports)) == 1
    assert ports.credentials.x_of(other_tenant.user.id) == connection


@pytest.mark.parametrize(
    "error",
    [
        XNotFound("no such subscription", status_code=404),
        XConnectionBroken("the account revoked the app", status_code=401),
    ],
)
def test_an_account_already_unsubscribed_on_x_is_revoked_all_the_same(ports, tenant, error):
    connected(ports, tenant)
    ports.x.fail(error, "unsubscribe")

    connections.revoke(ports, tenant)

    assert ports.credentials.x_of(tenant.user.id) is None and ports.x_secrets.stored == {}


@pytest.mark.parametrize(
    "error",
    [
        XUnavailable("X answered 503", status_code=503),
        XRateLimited("slow down", reset_at=NOW + timedelta(seconds=30)),
    ],
)
def test_x_down_at_revoke_is_a_503_and_keeps_the_connection(ports, tenant, error):
    connection = connected(ports, tenant)
    ports.x.fail(error, "unsubscribe")

    with pytest.raises(UpstreamUnavailable, match="disconnect the X account"):
        connections.revoke(ports, tenant)

    assert ports.credentials.x_of(tenant.user.id) == connection
    assert tokens_in(ports, connection) == ACME_TOKENS
    assert [entry[0] for entry in audit_actions(ports)] == ["x_connection.connected"]


# ---------------------------------------------------------------- X details


def test_x_details_are_listed_oldest_first_for_an_admin(ports, tenant, other_tenant, time):
    first = connected(ports, tenant, ACME)
    time.advance(seconds=1)
    second = connected(ports, other_tenant, OTHER_ACCOUNT)
    admin = add_user(ports, "admin", is_admin=True)

    assert twitter_details.list_for(ports, admin) == [first, second]


def test_a_tenant_lists_only_its_own_x_details(ports, tenant, other_tenant):
    assert twitter_details.list_for(ports, tenant) == []

    own = connected(ports, tenant, ACME)
    connected(ports, other_tenant, OTHER_ACCOUNT)

    assert twitter_details.list_for(ports, tenant) == [own]


def test_x_details_are_shown_to_their_tenant_and_admins_only(ports, tenant, other_tenant):
    connection = connected(ports, tenant)
    admin = add_user(ports, "admin", is_admin=True)

    assert twitter_details.get(ports, tenant, connection.id) == connection
    assert twitter_details.get(ports, admin, connection.id) == connection
    for caller, connection_id in [(other_tenant, connection.id), (admin, "no-such-id")]:
        with pytest.raises(NotFound, match=f"No X details with id {connection_id}"):
            twitter_details.get(ports, caller, connection_id)


# ---------------------------------------------------------------- OAuth 2.0 (X's redirect)

ACME_USER = XUser("900", "acme_support")
OTHER_USER = XUser("901", "acme_sales")


def authorized(ports, caller: Caller, account: XUser = ACME_USER) -> tuple[str, str]:
    """`caller` starts (GET /get-auth-url) and `account` approves on X's page: answers the
    (code, state) X's redirect carries."""
    url, _expires_at = connections.start(ports, caller, CALLBACK_URL)
    return ports.x.approve(url, account)


def approved2(ports, caller: Caller, account: XUser = ACME_USER) -> connections.Approval:
    code, state = authorized(ports, caller, account)
    return connections.finish_oauth2(ports, code, state, None)


def connected2(ports, caller: Caller, account: XUser = ACME_USER) -> XConnection:
    return confirmed(ports, caller, approved2(ports, caller, account))


def test_the_oauth2_redirect_exchanges_the_code_with_the_kept_verifier_and_holds_the_account(
    ports, tenant
):
    code, state = authorized(ports, tenant)
    request = ports.oauth_requests.get(connections.state_key(state))

    approval = connections.finish_oauth2(ports, code, state, None)

    # The verifier went to X's token endpoint only, with the redirect URI of the start.
    assert ports.x.calls_to("exchange_code") == [
        {"code": code, "code_verifier": request.code_verifier, "redirect_uri": CALLBACK_URL}
    ]
    [me] = ports.x.calls_to("me")
    assert me["user"] == BearerCredentials("oauth2-access-3")
    pending = approval.pending
    assert (pending.user_id, pending.x_user_id, pending.screen_name) == (
        tenant.user.id,
        "900",
        "acme_support",
    )
    assert approval.company_name == "Tenant Ltd"
    assert pending.expires_at == NOW + timedelta(minutes=15)
    sealed = confirmation_codes.unseal(
        approval.confirmation, pending.sealed_tokens, f"{tenant.user.id}:900"
    )
    assert sealed == {
        "kind": "oauth2",
        "access_token": "oauth2-access-3",
        "refresh_token": "oauth2-refresh-3",
        "expires_at": "2025-03-01T14:00:00Z",
        "scope": " ".join(OAUTH2_SCOPES),
    }
    stored = pending.model_dump_json()
    assert "oauth2-access-3" not in stored and "oauth2-refresh-3" not in stored
    # Nothing subscribed or stored yet; the authorization is spent.
    assert ports.x.subscriptions == {} and ports.x_secrets.stored == {}
    assert ports.oauth_requests.stored() == {}
    with pytest.raises(InvalidInput) as again:
        connections.finish_oauth2(ports, code, state, None)
    assert list(again.value.details) == ["state"]
    assert "reused" not in again.value.message and "already used" in again.value.message


def test_confirming_an_oauth2_account_stores_its_tokens_and_subscribes_it_with_the_bearer(
    ports, tenant, time
):
    approval = approved2(ports, tenant)

    connection = confirmed(ports, tenant, approval)

    assert connection.auth == "oauth2"
    [subscribed] = ports.x.calls_to("subscribe")
    assert subscribed["user"] == BearerCredentials("oauth2-access-3")
    assert tokens_in(ports, connection) == {
        "kind": "oauth2",
        "access_token": "oauth2-access-3",
        "refresh_token": "oauth2-refresh-3",
        "expires_at": "2025-03-01T14:00:00Z",
        "scope": " ".join(OAUTH2_SCOPES),
    }
    assert x_accounts.credentials_of(ports, connection) == BearerCredentials("oauth2-access-3")
    assert ports.credentials.x_of(tenant.user.id) == connection
    assert XConnectionView.of(connection).auth == "oauth2"
    assert [entry[0] for entry in audit_actions(ports)] == ["x_connection.connected"]


def test_an_oauth1_connection_keeps_its_credentials_until_the_tenant_reconnects(
    ports, tenant, time
):
    first = connected(ports, tenant, ACME)  # OAuth 1.0a, as before
    assert first.auth == "oauth1"
    assert x_accounts.credentials_of(ports, first) == UserCredentials(
        "access-token-900", "access-secret-900"
    )
    time.advance(hours=1)

    again = connected2(ports, tenant, ACME_USER)

    assert (again.id, again.secret_arn) == (first.id, first.secret_arn)
    assert again.auth == "oauth2" and again.secret_version != first.secret_version
    tokens = tokens_in(ports, again)
    assert tokens["kind"] == "oauth2"
    assert x_accounts.credentials_of(ports, again) == BearerCredentials(tokens["access_token"])
    assert len(ports.x_secrets.stored) == 1


def test_a_stored_connection_without_auth_reads_as_oauth1():
    stored = {
        "id": "c",
        "user_id": "u",
        "x_user_id": "900",
        "screen_name": "acme",
        "secret_arn": "arn",
        "webhook_api": "activity",
        "webhook_id": "w",
        "subscription_id": "s",
        "connected_at": NOW,
        "updated_at": NOW,
    }
    assert XConnection.model_validate(stored).auth == "oauth1"


def test_declining_on_x_with_oauth2_spends_nothing_and_stores_nothing(ports, tenant):
    code, state = authorized(ports, tenant)

    with pytest.raises(PermissionDenied, match="declined"):
        connections.finish_oauth2(ports, None, state, "access_denied")

    assert ports.x.calls_to("exchange_code") == [] and ports.credentials.x_pending("x") is None
    assert connections.finish_oauth2(ports, code, state, None).pending.x_user_id == "900"


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        ("invalid_scope", "invalid_scope"),
        ("server_error", "server_error"),
        ("<b>x</b>", "an error"),
    ],
)
def test_another_error_from_x_is_bad_input_and_spends_nothing(ports, tenant, error, shown):
    code, state = authorized(ports, tenant)

    with pytest.raises(InvalidInput) as refused:
        connections.finish_oauth2(ports, None, state, error)

    assert f"X did not authorize Twittnow ({shown})" in refused.value.message
    assert list(refused.value.details) == ["error"]
    assert ports.x.calls_to("exchange_code") == []
    assert connections.finish_oauth2(ports, code, state, None).pending.x_user_id == "900"


@pytest.mark.parametrize(("code", "state"), [(None, None), ("c", None), (None, "s"), ("", "s")])
def test_an_oauth2_redirect_without_its_code_or_state_is_bad_input(ports, tenant, code, state):
    with pytest.raises(InvalidInput, match="code and state"):
        connections.finish_oauth2(ports, code, state, None)
    assert ports.x.calls_to("exchange_code") == []


def test_an_unknown_state_is_refused_without_calling_x(ports, tenant):
    code, _state = authorized(ports, tenant)

    with pytest.raises(InvalidInput) as refused:
        connections.finish_oauth2(ports, code, "guessed-state", None)

    assert list(refused.value.details) == ["state"]
    assert ports.x.calls_to("exchange_code") == []


def test_an_oauth2_request_token_key_is_not_a_state(ports, tenant):
    """An OAuth 1.0a request token given as a state finds nothing: states are looked up by
    their digest."""
    oauth_token = started(ports, tenant)
    with pytest.raises(InvalidInput):
        connections.finish_oauth2(ports, "code", oauth_token, None)


def test_an_oauth2_authorization_expires_after_15_minutes(ports, tenant, time):
    code, state = authorized(ports, tenant)
    time.advance(minutes=14, seconds=59)
    assert ports.oauth_requests.get(connections.state_key(state)) is not None
    time.advance(seconds=1)

    with pytest.raises(InvalidInput, match="unknown, expired or already used"):
        connections.finish_oauth2(ports, code, state, None)

    assert ports.x.calls_to("exchange_code") == []


def test_the_state_is_the_tenants_the_approver_cannot_choose_who_gets_the_account(
    ports, tenant, other_tenant
):
    code, state = authorized(ports, tenant)

    approval = connections.finish_oauth2(ports, code, state, None)

    assert approval.pending.user_id == tenant.user.id
    with pytest.raises(NotFound):
        confirmed(ports, other_tenant, approval)
    assert confirmed(ports, tenant, approval).user_id == tenant.user.id


def test_a_code_made_for_another_authorizations_challenge_is_refused(ports, tenant):
    """PKCE: a code approved for one start does not go with another start's state (its
    verifier does not match the code's challenge)."""
    code, _mine = authorized(ports, tenant)
    _other_code, other_state = authorized(ports, tenant)

    with pytest.raises(InvalidInput, match="X refused to finish connecting the X account"):
        connections.finish_oauth2(ports, code, other_state, None)


def test_a_refused_code_leaves_the_authorization_for_the_real_redirect(ports, tenant):
    code, state = authorized(ports, tenant)

    with pytest.raises(InvalidInput) as refused:
        connections.finish_oauth2(ports, "guessed-code", state, None)

    assert "wrong, expired or already used" in refused.value.message
    assert "guessed-code" not in refused.value.message
    assert ports.oauth_requests.get(connections.state_key(state)).verifier_failures == 1
    assert ports.x_secrets.stored == {} and ports.credentials.x_of(tenant.user.id) is None
    assert connections.finish_oauth2(ports, code, state, None).pending.user_id == tenant.user.id


def test_codes_cannot_be_guessed_at_the_fifth_refusal_spends_the_authorization(ports, tenant):
    code, state = authorized(ports, tenant)
    for guess in range(connections.MAX_VERIFIER_FAILURES):
        with pytest.raises(InvalidInput):
            connections.finish_oauth2(ports, f"guess-{guess}", state, None)

    with pytest.raises(InvalidInput) as refused:
        connections.finish_oauth2(ports, code, state, None)  # even the real one now
    assert list(refused.value.details) == ["state"]
    assert len(ports.x.calls_to("exchange_code")) == connections.MAX_VERIFIER_FAILURES


@pytest.mark.parametrize("method", ["exchange_code", "me"])
@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (XUnavailable("X answered 503", status_code=503), 30),
        (XRateLimited("slow down", reset_at=NOW + timedelta(minutes=15)), 900),
    ],
)
def test_x_down_at_the_oauth2_redirect_is_a_503_and_stores_nothing(
    ports, tenant, method, error, retry_after
):
    code, state = authorized(ports, tenant)
    ports.x.fail(error, method)

    with pytest.raises(UpstreamUnavailable) as raised:
        connections.finish_oauth2(ports, code, state, None)

    assert raised.value.status == 503 and raised.value.retry_after_seconds == retry_after
    request = ports.oauth_requests.get(connections.state_key(state))
    assert request is not None and request.verifier_failures == 0  # not counted
    assert ports.x_secrets.stored == {} and ports.credentials.x_of(tenant.user.id) is None


def test_the_apps_client_refused_by_x_is_a_503_not_the_persons_fault(ports, tenant):
    code, state = authorized(ports, tenant)
    ports.x.fail(XError("X refused the app's OAuth 2.0 client credentials"), "exchange_code")

    with pytest.raises(UpstreamUnavailable, match="client credentials"):
        connections.finish_oauth2(ports, code, state, None)

    assert ports.oauth_requests.get(connections.state_key(state)).verifier_failures == 0


def test_an_oauth2_redirect_of_a_tenant_deleted_meanwhile_is_404(ports, tenant):
    code, state = authorized(ports, tenant)
    ports.users.delete(ports.users.get(tenant.user.id))

    with pytest.raises(NotFound, match="no longer exists"):
        connections.finish_oauth2(ports, code, state, None)
    assert ports.x.calls_to("exchange_code") == []


def test_one_account_per_tenant_and_one_tenant_per_account_with_oauth2(ports, tenant, other_tenant):
    connected2(ports, tenant, ACME_USER)

    with pytest.raises(Conflict, match="already connected to @acme_support"):
        approved2(ports, tenant, OTHER_USER)
    with pytest.raises(Conflict, match="@acme_support is already connected to another tenant"):
        approved2(ports, other_tenant, ACME_USER)
    assert ports.credentials.x_of(other_tenant.user.id) is None
    assert len(ports.x_secrets.stored) == 1


def test_the_rules_are_checked_again_at_an_oauth2_confirmation(ports, tenant, other_tenant):
    waiting = approved2(ports, other_tenant, ACME_USER)
    connected2(ports, tenant, ACME_USER)

    with pytest.raises(Conflict, match="another tenant"):
        confirmed(ports, other_tenant, waiting)

    connections.revoke(ports, tenant)
    assert confirmed(ports, other_tenant, waiting).auth == "oauth2"


def test_of_two_oauth2_redirects_racing_with_one_state_only_one_holds_the_account(
    ports, tenant, monkeypatch
):
    code, state = authorized(ports, tenant)
    winner: list[connections.Approval] = []
    # X takes the code once; here the other redirect's exchange wins and the late one's
    # spend finds the authorization gone.
    racing(
        monkeypatch,
        ports.oauth_requests,
        "spend",
        lambda: winner.append(connections.finish_oauth2(ports, code, state, None)),
    )
    ports.x.codes[code + "-again"] = ports.x.codes[code]

    with pytest.raises(InvalidInput) as late:
        connections.finish_oauth2(ports, code + "-again", state, None)

    assert list(late.value.details) == ["state"]
    [won] = winner
    assert confirmed(ports, tenant, won).auth == "oauth2"
