"""Password hashing, token generation and the Authorization header."""

import re

import pytest

from twittnow import passwords, tokens
from twittnow.auth import _key_from
from twittnow.errors import InvalidInput, NotAuthenticated


def test_passwords_are_hashed_with_argon2id_and_verified():
    hashed = passwords.hash_password("correct horse")

    assert hashed.startswith("$argon2id$v=19$m=47104,t=1,p=1$")  # OWASP's recommendation
    assert "correct horse" not in hashed
    assert passwords.verify_password(hashed, "correct horse") == passwords.Verification(valid=True)
    assert passwords.verify_password(hashed, "wrong horse") == passwords.Verification(valid=False)
    assert not passwords.verify_password(hashed, "wrong horse")


def test_an_unknown_user_never_verifies():
    assert not passwords.verify_password(None, "anything at all").valid
    assert not passwords.verify_password("not a hash", "anything").valid


def test_the_decoy_hash_costs_what_a_real_hash_costs():
    assert not passwords._hasher().check_needs_rehash(passwords._DECOY_HASH)


def test_a_hash_with_other_parameters_verifies_and_asks_for_an_upgrade():
    from argon2 import PasswordHasher

    older = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash("correct horse")
    assert passwords.verify_password(older, "correct horse") == passwords.Verification(
        True, needs_rehash=True
    )


NFC, NFD = "p\u00e4ssw\u00f6rd", "pa\u0308sswo\u0308rd"  # "pässwörd" composed and decomposed


def test_passwords_are_nfkc_normalized_so_either_form_logs_in():
    hashed = passwords.hash_password(NFD)

    assert passwords.verify_password(hashed, NFC) == passwords.Verification(valid=True)
    assert passwords.verify_password(hashed, NFD) == passwords.Verification(valid=True)
    assert passwords.verify_password(
        passwords.hash_password("ｐａｓｓｗｏｒｄ ｏｎｅ"), "password one"
    ).valid


def test_a_hash_of_an_unnormalized_password_still_verifies_and_asks_for_an_upgrade():
    from argon2 import PasswordHasher

    made_before_normalizing = PasswordHasher(time_cost=1, memory_cost=47104, parallelism=1).hash(
        NFD
    )

    assert passwords.verify_password(made_before_normalizing, NFD) == passwords.Verification(
        True, needs_rehash=True
    )
    assert not passwords.verify_password(made_before_normalizing, "p\u00e4ssw\u00f6rt").valid


@pytest.mark.parametrize(
    "password,username,complaint",
    [
        ("password", "tony@example.com", "common"),
        ("PassWord", "tony@example.com", "common"),
        ("12345678", "tony@example.com", "common"),
        ("ｐａｓｓｗｏｒｄ", "tony@example.com", "common"),  # fullwidth: NFKC makes it `password`
        ("iloveyou2", "tony@example.com", "common"),
        (" " * 8, "tony@example.com", "spaces"),
        ("\t \t \t \t ", "tony@example.com", "spaces"),
        ("xxxxxxxxxxxx", "tony@example.com", "repeated"),
        ("tony.stark@example.com", "Tony.Stark@example.com", "username"),
        ("TONY.STARK", "tony.stark@example.com", "username"),
        ("e\u0301" * 4, "tony@example.com", "8 characters"),  # 8 code points, 4 once composed
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password, username, complaint):
    with pytest.raises(InvalidInput) as refused:
        passwords.ensure_acceptable(password, username)

    assert list(refused.value.details) == ["password"]
    assert complaint in refused.value.details["password"][0]


@pytest.mark.parametrize(
    "password", ["Acme's own passphrase", "tony.stark@example.com!", NFC + " of Tony"]
)
def test_other_passwords_are_accepted(password):
    passwords.ensure_acceptable(password, "tony.stark@example.com")


def test_tokens_are_256_random_bits_stored_as_sha256_digests():
    token = tokens.new_token()

    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert token != tokens.new_token()
    assert tokens.digest(token) != token
    assert re.fullmatch(r"[0-9a-f]{64}", tokens.digest(token))


@pytest.mark.parametrize("header", ["Token abc", "token abc", "Bearer abc", "  Token   abc  "])
def test_token_and_bearer_schemes_are_accepted(header):
    assert _key_from(header) == "abc"


@pytest.mark.parametrize("header", [None, "", "abc", "Basic abc", "Token", "Token   "])
def test_missing_or_malformed_headers_are_refused(header):
    with pytest.raises(NotAuthenticated):
        _key_from(header)
