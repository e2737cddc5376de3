"""API tokens: 256 random bits shown to their owner once, stored only as a SHA-256 digest.
A plain digest is enough here (unlike passwords): the input has full entropy."""

import hashlib
import secrets


def new_token() -> str:
    return secrets.token_hex(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
