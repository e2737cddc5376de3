"""What is stored, and what is logged: digests and hashes only, never a secret."""

import logging
import os
from datetime import timedelta

import boto3
import pytest

from tests.api.client import ApiClient
from twittnow import clock, repositories
from twittnow.models import Token, TokenKind
from twittnow.tokens import digest, new_token


@pytest.fixture
def in_process(stack_environment) -> ApiClient:
    client = ApiClient(stack_environment, over_http=False)
    client.admin_token = client.login(
        stack_environment.admin_username, stack_environment.admin_password
    )
    return client


def all_items(table_variable: str) -> list[dict]:
    return boto3.client("dynamodb").scan(TableName=os.environ[table_variable])["Items"]


def plant_token(user_id: str, kind: TokenKind, expires_in: timedelta | None) -> str:
    """A token written straight to the table, as login or the API-key endpoint would."""
    token, now = new_token(), clock.now()
    repositories.tokens().add(
        Token(
            digest=digest(token),
            user_id=user_id,
            kind=kind,
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
        )
    )
    return token


def test_an_expired_token_is_refused_even_before_dynamodb_deletes_it(in_process, tenant_of):
    tenant = tenant_of(in_process)
    expired = plant_token(tenant.id, TokenKind.LOGIN, timedelta(seconds=-1))

    reply = in_process.get(f"/auth/users/{tenant.id}/", token=expired)
    assert reply.status == 401
    assert "expired" in reply.body["error"]


def test_a_developer_api_key_does_not_open_the_auth_api(in_process, tenant_of):
    tenant = tenant_of(in_process)
    api_key = plant_token(tenant.id, TokenKind.API_KEY, None)

    for method, path in [("GET", f"/auth/users/{tenant.id}/"), ("POST", "/auth/logout/")]:
        reply = in_process.request(method, path, token=api_key)
        assert reply.status == 403 and reply.body["code"] == "PERMISSION_DENIED"
        assert "POST /events/" in reply.body["error"]
    assert in_process.post("/auth/logout-all/", token=tenant.token).status == 204
    assert (
        in_process.get(f"/auth/users/{tenant.id}/", token=api_key).status == 403
    )  # logout-all spares it


def test_tokens_are_stored_only_as_digests_and_passwords_only_as_argon2id(in_process, tenant_of):
    tenant = tenant_of(in_process)
    stored_tokens = str(all_items("TOKENS_TABLE"))
    assert tenant.token not in stored_tokens
    assert digest(tenant.token) in stored_tokens

    stored_users = str(all_items("USERS_TABLE"))
    assert tenant.password not in stored_users
    assert "$argon2id$" in stored_users


def test_no_log_line_carries_a_password_or_token(in_process, tenant_of, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    tenant = tenant_of(in_process)
    in_process.post(
        "/auth/login/", json={"username": tenant.username, "password": "wrong " + tenant.password}
    )
    in_process.patch(
        f"/auth/users/{tenant.id}/set-password/",
        token=tenant.token,
        json={"password": "rotated " + tenant.password},
    )
    in_process.post(
        "/auth/users/",
        token=in_process.admin_token,
        data='{"password": "' + tenant.password + '", broken',
    )

    logged = capsys.readouterr().out + capsys.readouterr().err + caplog.text
    assert logged  # the access log and the functions' logs were captured
    for secret in (
        tenant.password,
        tenant.token,
        in_process.admin_token,
        in_process.stack.admin_password,
    ):
        assert secret not in logged
