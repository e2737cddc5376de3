"""Passwords: what a new password must be, and hashing with Argon2id at OWASP's first
recommended configuration (Password Storage Cheat Sheet): 46 MiB of memory, 1 pass,
1 lane. Hashes made with other parameters are upgraded at the next successful login.

Passwords are NFKC-normalized before hashing (NIST SP 800-63B 5.1.1.2, OWASP ASVS 5.0
V6.2), so that "pässwörd" typed as composed or decomposed characters is one password."""

import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from twittnow.errors import InvalidInput
from twittnow.names import matching_key

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_LENGTH = 8
# data/README.md says where the list comes from and under which licences.
_COMMON_PASSWORDS = Path(__file__).parent / "data" / "common-passwords.txt"


@cache
def _hasher() -> "PasswordHasher":
    # argon2 loads here, in the functions that hash, not in every auth function's cold
    # start (bench/cold_start.py).
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=47104, parallelism=1)


# Verifying against this when a username is unknown keeps login time the same for
# unknown and known usernames, so timing does not reveal which usernames exist. It is the
# hash of a random password nobody kept, made with _hasher()'s parameters (a unit test
# checks they agree); a constant, so that no first unknown username costs a hash too.
_DECOY_HASH = "$argon2id$v=19$m=47104,t=1,p=1$tluQYzJnRbv/iyJ/sDiTBg$pjmarJ/fp+Q/QfFrNwGGOoD9iZ26N4ZuB9Nzrgf0cwk"


@cache
def _common_passwords() -> frozenset[str]:
    # Read with the first password set, not at cold start: logins never need it.
    return frozenset(_COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines())


def normalized(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def ensure_acceptable(password: str, username: str) -> None:
    """Refuses, as a 400 on the `password` field, a password that guessing finds early:
    a common or breached one, the username, or one character repeated. No rules about
    character classes: NIST SP 800-63B advises against them."""
    problem = _weakness(normalized(password), username)
    if problem:
        raise InvalidInput.for_field("password", problem)


def _weakness(password: str, username: str) -> str | None:
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(set(password)) == 1 or not password.strip():
        return "This password is only spaces or one character repeated. Choose a phrase instead."
    candidate = matching_key(password.strip())
    name = matching_key(username.strip())
    if candidate in (name, name.partition("@")[0]):
        return "The password must not be the username or the part before its @. Choose another."
    if candidate in _common_passwords():
        return (
            "This password is on a list of common and breached passwords, which attackers "
            "try first. Choose another: a few unrelated words make a strong one."
        )
    return None


def hash_password(password: str) -> str:
    return _hasher().hash(normalized(password))


@dataclass(frozen=True)
class Verification:
    valid: bool
    needs_rehash: bool = False

    def __bool__(self) -> bool:  # `if verify_password(...)` means what it says
        return self.valid


def verify_password(password_hash: str | None, password: str) -> Verification:
    """Checks a password against a stored hash, or against a decoy when there is none.

    Hashes made before passwords were normalized were made from the password as typed:
    when that differs from its NFKC form, both are tried, and a match of the typed form
    asks for a rehash. The work depends on the password only, never on whether the hash
    exists: the decoy gets the same tries."""
    from argon2.exceptions import InvalidHashError, VerificationError

    target = password_hash or _DECOY_HASH
    forms = dict.fromkeys((normalized(password), password))  # one entry when they agree
    for position, form in enumerate(forms):
        try:
            _hasher().verify(target, form)
        except (VerificationError, InvalidHashError):
            continue
        if password_hash is None:
            return Verification(valid=False)
        return Verification(
            valid=True, needs_rehash=position > 0 or _hasher().check_needs_rehash(password_hash)
        )
    return Verification(valid=False)
