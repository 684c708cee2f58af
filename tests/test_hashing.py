"""The secrets people type (lead passphrase, volunteer PIN) are hashed with Argon2id at or above
OWASP's minimum; the tests elsewhere hash with cheaper parameters (conftest.quick_argon2)."""

from kiosk.services import hashing


def test_the_kiosk_hashes_with_argon2id_at_or_above_owasps_minimum(real_hasher):
    assert real_hasher.type.name == "ID"
    assert real_hasher.memory_cost >= 19 * 1024 and real_hasher.time_cost >= 2
    stored = real_hasher.hash("correct horse")
    assert stored.startswith("$argon2id$") and "m=65536,t=3,p=4" in stored
    assert real_hasher.verify(stored, "correct horse")


def test_a_hash_made_with_other_parameters_still_verifies(real_hasher):
    """A kiosk whose parameters change keeps opening its old hashes: each carries its own."""
    stored = real_hasher.hash("2580")
    assert hashing.verify_secret(stored, "2580")
    assert not hashing.verify_secret(stored, "2581")
    assert not hashing.verify_secret("not a hash", "2580")
