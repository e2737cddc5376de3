"""Confirmation codes of pending X connections: random, stored as digests, and the only
key to the tokens they seal."""

import pytest

from twittnow import confirmation_codes
from twittnow.confirmation_codes import SealBroken

TOKENS = {"access_token": "123-token", "access_token_secret": "token-secret"}


def test_a_code_has_256_random_bits_and_its_digest_is_not_the_code():
    codes = {confirmation_codes.new_code() for _ in range(100)}
    assert len(codes) == 100
    code = codes.pop()
    assert len(code) >= 43  # 32 bytes in URL-safe base64
    assert confirmation_codes.digest(code) != code
    assert confirmation_codes.digest(code) == confirmation_codes.digest(code)


def test_sealed_tokens_open_with_their_code_and_context_only():
    code = confirmation_codes.new_code()
    sealed = confirmation_codes.seal(code, TOKENS, "tenant-1:42")

    assert "123-token" not in sealed and "token-secret" not in sealed
    assert confirmation_codes.unseal(code, sealed, "tenant-1:42") == TOKENS
    with pytest.raises(SealBroken):
        confirmation_codes.unseal(confirmation_codes.new_code(), sealed, "tenant-1:42")
    with pytest.raises(SealBroken):  # moved to another tenant's record
        confirmation_codes.unseal(code, sealed, "tenant-2:42")


def test_the_stored_digest_does_not_open_the_seal():
    code = confirmation_codes.new_code()
    sealed = confirmation_codes.seal(code, TOKENS, "t:1")
    with pytest.raises(SealBroken):
        confirmation_codes.unseal(confirmation_codes.digest(code), sealed, "t:1")


def test_sealing_twice_gives_different_ciphertexts():
    code = confirmation_codes.new_code()
    assert confirmation_codes.seal(code, TOKENS, "t:1") != confirmation_codes.seal(
        code, TOKENS, "t:1"
    )
