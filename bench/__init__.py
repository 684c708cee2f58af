"""Benchmarks of the kiosk against a bare Flask floor; `make bench` runs bench/run.py."""

import os

# kiosk.emails.CHEAP_FOR_TESTS, spelt out: importing kiosk here would load Flask for every
# bench module, the floor's included.
CHEAP_DIGESTS = "KIOSK_TEST_SUITE_CHEAP_EMAIL_DIGESTS"


def measure_real_costs() -> None:
    """A benchmark's kiosks digest emails at the real cost, as every kiosk of a team does.

    Some benchmarks reuse the suite's scenarios (bench.sync_scale imports tests.test_sync_crash,
    which imports tests/conftest.py), and the suite's conftest asks for libsodium's least
    Argon2id in its process and in every kiosk it starts (tests.served passes the environment
    on). Each benchmark's main() calls this before it starts anything; never at import, so
    the suite importing a bench module keeps its cheap digests.
    """
    os.environ.pop(CHEAP_DIGESTS, None)
