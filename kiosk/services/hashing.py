"""Hashes for secrets people type (lead passphrase, volunteer PIN): argon2id, never clear text."""

import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults (argon2id, t=3, m=64 MiB, p=4) are above OWASP's minimum
# (m=19 MiB, t=2, p=1).
_hasher = PasswordHasher()
# Each hash takes 64 MiB and four lanes of work: thirty guesses at once would take 2 GB (more
# than a Raspberry Pi has) and starve every other request of the CPU, so the requests that
# hold a database turn could not finish theirs. Two at a time per process; the rest wait
# idle. (The login throttle already decides which guesses are checked at all.)
_AT_ONCE = threading.BoundedSemaphore(2)


def hash_secret(secret: str) -> str:
    with _AT_ONCE:
        return _hasher.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    if not stored_hash:
        return False
    try:
        with _AT_ONCE:
            return _hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False
