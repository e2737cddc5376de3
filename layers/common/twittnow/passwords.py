"""Password hashing with Argon2id (argon2-cffi's RFC 9106 low-memory profile: 64 MiB,
3 passes, 4 lanes), above OWASP's minimum of 19 MiB and 2 passes."""

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verifying against this when a username is unknown keeps login time the same for
# unknown and known usernames, so timing does not reveal which usernames exist.


@cache
def _decoy_hash() -> str:
    return _hasher.hash("decoy password, never valid")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _decoy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
