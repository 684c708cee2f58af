"""What sealing costs a sign-up (issue 22), measured in this process at the real cost.

Sealing a sign-up's four personal fields to the team's public key has a target (under 0.5 ms
of CPU); the email's digest (Argon2id, kiosk/emails.py) is reported beside it without one,
since its cost is the point: it is also what each guessed address costs whoever holds a copy.

    python -m bench.sealing_probe
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from nacl.public import PrivateKey

from bench.report import Figure, Target

FIELDS = ("Minji", "Kim 김", "+821012345678", "Ewha Womans University")
SEAL_LIMIT_MS = 0.5


@dataclass
class SealingCost:
    seal_ms: float  # the four fields of one sign-up
    digest_ms: float  # one email digest at the real cost


def _best_of(rounds: int, per_round: int, work) -> float:
    """CPU milliseconds per call, the best round of several (others' work is no cost)."""
    best = float("inf")
    for round_ in range(rounds):
        start = time.process_time()
        for n in range(per_round):
            work(round_, n)
        best = min(best, (time.process_time() - start) / per_round)
    return best * 1000


def measure() -> SealingCost:
    from kiosk import emails  # noqa: PLC0415 (kiosk imports Flask: only when measuring)
    from kiosk.services import sealing  # noqa: PLC0415

    if os.environ.get(emails.CHEAP_FOR_TESTS):
        raise SystemExit(f"unset {emails.CHEAP_FOR_TESTS}: the bench measures the real cost")
    public = PrivateKey.generate().public_key

    def seal_signup(_round: int, _n: int) -> None:
        for value in FIELDS:
            sealing.seal(value, public)

    def digest_one(round_: int, n: int) -> None:
        # New addresses every time: the digest's small in-memory cache must not answer.
        emails.argon2_digest("k" * 43, f"bench{round_}.{n}@example.org", *emails.digest_cost())

    return SealingCost(_best_of(5, 200, seal_signup), _best_of(3, 10, digest_one))


def figures(cost: SealingCost) -> list[Figure]:
    return [
        Figure(
            "Sealing a sign-up's 4 fields: CPU",
            cost.seal_ms,
            "ms",
            target=Target("<", SEAL_LIMIT_MS, "ms"),
        ),
        Figure(
            "Email digest per sign-up (and per guessed address): CPU",
            cost.digest_ms,
            "ms",
            note="Argon2id, 8 MiB: paid once per record written here, not by imports or sync",
        ),
    ]


if __name__ == "__main__":
    found = measure()
    print(f"sealing a sign-up's 4 fields: {found.seal_ms:.3f} ms CPU")
    print(f"one email digest: {found.digest_ms:.1f} ms CPU")
