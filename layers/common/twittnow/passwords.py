"""Password hashing with Argon2id at OWASP's first recommended configuration (Password
Storage Cheat Sheet): 46 MiB of memory, 1 pass, 1 lane. Hashes made with other
parameters are upgraded at the next successful login (see needs_rehash)."""

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher


@cache
def _hasher() -> "PasswordHasher":
    # argon2 loads here, in the functions that hash, not in every auth function's cold
    # start (bench/cold_start.py).
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=47104, parallelism=1)


# Verifying against this when a username is unknown keeps login time the same for
# unknown and known usernames, so timing does not reveal which usernames exist.
@cache
def _decoy_hash() -> str:
    return _hasher().hash("decoy password, never valid")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash or _decoy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)
