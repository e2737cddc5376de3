"""Confirmation codes of pending X connections, and the tokens they seal.

A code is 256 random bits, shown once on the page where the account's owner lands after
approving on X, and stored only as its SHA-256 digest (which finds the pending
connection). The account's tokens wait beside that digest encrypted (AES-256-GCM) under a
key derived from the code itself (HKDF-SHA256), which is stored nowhere: a pending
connection nobody confirms leaves behind only ciphertext that no one, us included, can
open once its code is gone.

`cryptography` is imported on first use: only the callback and the confirmation need it.
"""

import base64
import hashlib
import json
import os
import secrets

CODE_BYTES = 32
NONCE_BYTES = 12
_KEY_INFO = b"twittnow x pending connection tokens v1"


class SealBroken(Exception):
    """The sealed tokens do not open with this code and context (wrong code, or tampered)."""


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def seal(code: str, tokens: dict[str, str], context: str) -> str:
    """`tokens` encrypted under the code's key; `context` (who and which account) is
    authenticated with them, so that sealed tokens cannot be moved to another record."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(_key(code)).encrypt(nonce, json.dumps(tokens).encode(), context.encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(code: str, sealed: str, context: str) -> dict[str, str]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.b64decode(sealed)
    try:
        plain = AESGCM(_key(code)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
    except InvalidTag:
        raise SealBroken() from None
    return json.loads(plain)


def _key(code: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    # HKDF, not the lookup digest: the stored digest must not reveal the key.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
        code.encode()
    )
