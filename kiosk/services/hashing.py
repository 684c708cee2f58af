"""Hashes for secrets people type (lead passphrase, volunteer PIN): argon2id, never clear text."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults (argon2id, t=3, m=64 MiB, p=4) are above OWASP's minimum
# (m=19 MiB, t=2, p=1).
_hasher = PasswordHasher()


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False
