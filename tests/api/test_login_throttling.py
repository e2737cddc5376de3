"""Password guessing: 5 failed logins per username within 15 minutes, counted atomically,
whatever the username's case or width and whether it exists; and a login that looks the
same from outside for known and unknown usernames."""

import os
import threading
import unicodedata
import uuid

import argon2
import pytest

from tests.api.client import assert_envelope
from twittnow.repositories import dynamo
from twittnow.wiring import ports

GUESSES = 20


def concurrent_logins(api, username: str, passwords: list[str]) -> list:
    """Sends the logins all at once (a barrier releases them together)."""
    replies, start = [None] * len(passwords), threading.Barrier(len(passwords))

    def log_in(index: int):
        start.wait()
        replies[index] = api.post(
            "/auth/login/", json={"username": username, "password": passwords[index]}
        )

    threads = [threading.Thread(target=log_in, args=(index,)) for index in range(len(passwords))]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    return replies


@pytest.mark.parametrize("who", ["known", "unknown"])
def test_of_20_concurrent_wrong_passwords_only_5_are_checked(api, tenant, unique_email, who):
    username = tenant.username if who == "known" else unique_email("nobody")

    replies = concurrent_logins(
        api, username, [f"guess number {index}" for index in range(GUESSES)]
    )

    statuses = sorted(reply.status for reply in replies)
    assert statuses == [401] * 5 + [429] * (GUESSES - 5)
    for reply in replies:
        if reply.status == 429:
            assert_envelope(reply, 429, "RATE_LIMIT_EXCEEDED")
            assert 800 < int(reply.headers["Retry-After"]) <= 901
    if who == "known":  # locked for the rest of the window, even with the right password
        right = api.post("/auth/login/", json={"username": username, "password": tenant.password})
        assert_envelope(right, 429, "RATE_LIMIT_EXCEEDED")


def test_look_alike_spellings_of_a_username_share_its_limit(api, tenant):
    local_part, domain = tenant.username.split("@")
    fullwidth = "".join(
        chr(ord(character) + 0xFEE0) if "!" <= character <= "~" else character
        for character in local_part
    )
    spellings = [
        tenant.username.upper(),
        f"{fullwidth}@{domain}",
        tenant.username.title(),
        f" {tenant.username} ",
    ]

    for spelling in [*spellings, tenant.username]:
        assert (
            api.post(
                "/auth/login/", json={"username": spelling, "password": "a wrong guess"}
            ).status
            == 401
        )
    reply = api.post(
        "/auth/login/", json={"username": f"{fullwidth}@{domain}", "password": tenant.password}
    )
    assert_envelope(reply, 429, "RATE_LIMIT_EXCEEDED")


# ---------------------------------------------------------------- known and unknown usernames


class Recorder:
    """Every DynamoDB call of one client, as (operation, table, key kind), and every
    password hash verified."""

    def __init__(self, dynamodb, monkeypatch):
        self.calls, self.verifications = [], 0
        dynamodb.meta.events.register("before-parameter-build.dynamodb", self._dynamodb_call)
        real_verify = argon2.PasswordHasher.verify

        def verify(hasher, password_hash, password):
            self.verifications += 1
            return real_verify(hasher, password_hash, password)

        monkeypatch.setattr(argon2.PasswordHasher, "verify", verify)

    def _dynamodb_call(self, params, model, **_):
        keys = [params.get("Key", {})] + [
            action.get("Key") or action.get("Item") or {}
            for write in params.get("TransactItems", [])
            for action in write.values()
        ]
        kinds = tuple(
            str(next(iter(key.values()), {}).get("S", "")).split("#")[0] for key in keys if key
        )
        self.calls.append((model.name, params.get("TableName"), kinds))

    def take(self) -> tuple[list, int]:
        taken = (self.calls, self.verifications)
        self.calls, self.verifications = [], 0
        return taken


@pytest.mark.parametrize(
    "password", ["a wrong guess", "p\u00e4ssw\u00f6rd, decomposed: pa\u0308ssword"]
)
def test_known_and_unknown_usernames_make_the_same_dynamodb_calls_and_password_work(
    auth_logic, in_process_api, tenant_of, monkeypatch, password
):
    tenant = tenant_of(in_process_api)  # who logged in once: that leaves no trace either
    recorder = Recorder(dynamo.client(), monkeypatch)

    seen = {}
    for who, username in [
        ("known", tenant.username),
        ("unknown", f"nobody-{uuid.uuid4().hex[:12]}@example.com"),
    ]:
        with pytest.raises(auth_logic.NotAuthenticated):
            auth_logic.login(ports(), username, password)
        seen[who] = recorder.take()

    assert seen["known"] == seen["unknown"]
    calls, verifications = seen["known"]
    attempts, users = os.environ["LOGIN_ATTEMPTS_TABLE"], os.environ["USERS_TABLE"]
    assert calls == [
        ("UpdateItem", attempts, ("login",)),
        ("PutItem", attempts, ()),  # the attempt, in a new window
        ("GetItem", users, ("USERNAME",)),
        ("GetItem", users, ("USER",)),  # the claim, then a user
    ]
    assert verifications == (1 if unicodedata.normalize("NFKC", password) == password else 2)
