"""Writes based on a read that is stale by the time they land: they are refused (409)
rather than undoing what happened between (a new password, a rename, a deletion)."""

import os
import threading

import boto3
import pytest

from tests.api.client import assert_envelope
from twittnow import repositories
from twittnow.tokens import digest
from twittnow.wiring import ports

NEW_PASSWORD = "reset after a breach"


def at_once(*calls):
    """Runs the calls in threads released together; their results, in order."""
    results, start = [None] * len(calls), threading.Barrier(len(calls))

    def run(index):
        start.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    return results


def claims_of(user_id: str) -> list[str]:
    items = boto3.client("dynamodb").scan(TableName=os.environ["USERS_TABLE"])["Items"]
    return [
        item["pk"]["S"]
        for item in items
        if item["pk"]["S"].startswith("USERNAME#") and item["user_id"]["S"] == user_id
    ]


def login_tokens_of(user_id: str) -> list[dict]:
    items = boto3.client("dynamodb").scan(TableName=os.environ["TOKENS_TABLE"])["Items"]
    return [
        item
        for item in items
        if item.get("user_id", {}).get("S") == user_id and item["kind"]["S"] == "login"
    ]


def test_concurrent_renames_of_a_user_leave_exactly_its_username_claimed(
    in_process_api, tenant_of, unique_email
):
    api, tenant = in_process_api, tenant_of(in_process_api)
    names = [unique_email(f"renamed{index}") for index in range(6)]

    statuses = at_once(
        *[
            (
                lambda name=name: (
                    api.patch(
                        f"/auth/users/{tenant.id}/", token=tenant.token, json={"username": name}
                    ).status
                )
            )
            for name in names
        ]
    )

    assert set(statuses) <= {200, 409} and 200 in statuses
    final = api.get(f"/auth/users/{tenant.id}/", token=tenant.token).body["username"]
    assert claims_of(tenant.id) == [f"USERNAME#{final}"]


def test_a_rename_racing_a_delete_leaves_no_username_claimed(
    in_process_api, tenant_of, unique_email
):
    api, tenant = in_process_api, tenant_of(in_process_api)
    new_name = unique_email("renamed")

    renamed, deleted = at_once(
        lambda: (
            api.patch(
                f"/auth/users/{tenant.id}/", token=tenant.token, json={"username": new_name}
            ).status
        ),
        lambda: api.delete(f"/auth/users/{tenant.id}/", token=api.admin_token).status,
    )

    assert deleted in (204, 409) and renamed in (200, 401, 404, 409), (renamed, deleted)
    if deleted == 204:
        assert claims_of(tenant.id) == []


def test_a_stale_update_does_not_undo_a_password_reset(
    auth_logic, in_process_api, tenant_of, monkeypatch
):
    """The tenant's PATCH reads the user, an admin resets the password, then the PATCH
    writes: before, it wrote back the old password hash with the new last name."""
    api, tenant = in_process_api, tenant_of(in_process_api)
    users = repositories.users()
    caller = auth_logic.Caller(
        user=users.get(tenant.id), token=repositories.tokens().get(digest(tenant.token))
    )
    read = users.get

    def read_then_reset(user_id):
        user = read(user_id)
        # The stack's functions share this repository: the reset reads as usual.
        monkeypatch.setattr(users, "get", read)
        reset = api.patch(
            f"/auth/users/{tenant.id}/set-password/",
            token=api.admin_token,
            json={"password": NEW_PASSWORD},
        )
        assert reset.status == 204
        return user

    monkeypatch.setattr(users, "get", read_then_reset)
    with pytest.raises(auth_logic.Conflict) as refused:
        auth_logic.update_user(
            ports(), caller, tenant.id, auth_logic.PartialUpdateUserRequest(last_name="Stale")
        )
    assert "Read the user again and retry" in refused.value.message
    monkeypatch.undo()

    assert (
        api.post(
            "/auth/login/", json={"username": tenant.username, "password": tenant.password}
        ).status
        == 401
    )
    token = api.login(tenant.username, NEW_PASSWORD)
    assert api.get(f"/auth/users/{tenant.id}/", token=token).body["last_name"] == ""


def test_a_login_racing_a_password_reset_gets_no_session(
    auth_logic, in_process_api, tenant_of, monkeypatch
):
    """The old password is checked, an admin resets it (ending every session), then the
    login would store its token: a session the reset never ended. It is refused instead."""
    api, tenant = in_process_api, tenant_of(in_process_api)
    check = auth_logic.verify_password

    def check_then_reset(password_hash, password):
        verdict = check(password_hash, password)
        reset = api.patch(
            f"/auth/users/{tenant.id}/set-password/",
            token=api.admin_token,
            json={"password": NEW_PASSWORD},
        )
        assert reset.status == 204
        return verdict

    monkeypatch.setattr(auth_logic, "verify_password", check_then_reset)
    with pytest.raises(auth_logic.NotAuthenticated):
        auth_logic.login(ports(), tenant.username, tenant.password)
    monkeypatch.undo()

    assert login_tokens_of(tenant.id) == []
    assert_envelope(
        api.get(f"/auth/users/{tenant.id}/", token=tenant.token), 401, "NOT_AUTHENTICATED"
    )
    assert api.login(tenant.username, NEW_PASSWORD)
