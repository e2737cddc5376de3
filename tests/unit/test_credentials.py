"""Password hashing, token generation and the Authorization header."""

import re

import pytest

from twittnow import passwords, tokens
from twittnow.auth import _key_from
from twittnow.errors import NotAuthenticated


def test_passwords_are_hashed_with_argon2id_and_verified():
    hashed = passwords.hash_password("correct horse")

    assert hashed.startswith("$argon2id$v=19$m=47104,t=1,p=1$")  # OWASP's recommendation
    assert "correct horse" not in hashed
    assert passwords.verify_password(hashed, "correct horse")
    assert not passwords.verify_password(hashed, "wrong horse")
    assert not passwords.needs_rehash(hashed)


def test_an_unknown_user_never_verifies_even_with_the_decoy_password():
    assert not passwords.verify_password(None, "decoy password, never valid")
    assert not passwords.verify_password("not a hash", "anything")


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
