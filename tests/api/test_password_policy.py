"""New passwords: common and breached ones, the username, and spaces are refused with a
400 that says why; passwords are NFKC-normalized. (Hashes of passwords stored before
normalization log in and are upgraded: tests/unit/test_auth_logic.py.)"""

import unicodedata

import pytest

from tests.api.client import assert_envelope

NFC = unicodedata.normalize("NFC", "pässwörd of Tony")
NFD = unicodedata.normalize("NFD", NFC)
WEAK = [
    "password",
    "12345678",
    "Password1",
    "ｐａｓｓｗｏｒｄ",
    "qwertyuiop",
    " " * 8,
    "aaaaaaaaaa",
]


def new_user(username: str, password: str) -> dict:
    return {"username": username, "password": password, "company_name": "Weak Passwords Ltd"}


@pytest.mark.parametrize("password", WEAK)
def test_creating_a_user_with_a_common_password_is_refused(
    api, admin_token, unique_email, password
):
    before = api.users_as_admin()

    reply = api.post(
        "/auth/users/", token=admin_token, json=new_user(unique_email("weak"), password)
    )

    assert_envelope(reply, 400, "VALIDATION_ERROR", "password")
    assert "Choose" in reply.body["details"]["password"][0]
    assert api.users_as_admin() == before


def test_the_username_or_its_local_part_is_refused_as_password(api, admin_token, unique_email):
    username = unique_email("tony.stark")
    for password in (username, username.upper(), username.split("@")[0]):
        reply = api.post("/auth/users/", token=admin_token, json=new_user(username, password))
        assert_envelope(reply, 400, "VALIDATION_ERROR", "password")
        assert "username" in reply.body["details"]["password"][0]


@pytest.mark.parametrize("password", [*WEAK[:3], "{username}", "{local_part}"])
def test_setting_a_weak_password_is_refused_and_the_old_one_stays(
    api, tenant, admin_token, password
):
    chosen = password.format(username=tenant.username, local_part=tenant.username.split("@")[0])
    for token in (tenant.token, admin_token):  # the user, and an admin resetting it
        reply = api.patch(
            f"/auth/users/{tenant.id}/set-password/", token=token, json={"password": chosen}
        )
        assert_envelope(reply, 400, "VALIDATION_ERROR", "password")
    assert api.login(tenant.username, tenant.password)
    assert (
        api.get(f"/auth/users/{tenant.id}/", token=tenant.token).status == 200
    )  # sessions live on


def test_a_password_logs_in_whether_its_accents_are_composed_or_not(api, admin_token, unique_email):
    username = unique_email("accents")
    assert api.post("/auth/users/", token=admin_token, json=new_user(username, NFD)).status == 201

    assert api.login(username, NFC)
    assert api.login(username, NFD)
