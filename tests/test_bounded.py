"""The byte-bounded map every per-process cache is made of (kiosk/bounded.py)."""

import threading
from dataclasses import dataclass

import pytest

from kiosk.bounded import ENTRY_OVERHEAD, ByteBudget, weight


def test_weight_counts_what_a_value_holds():
    assert weight("x" * 100_000) > 100_000
    assert weight(b"x" * 100_000) > 100_000
    assert weight(("key", "x" * 50_000, ("y" * 50_000,))) > 100_000
    assert weight({"a": ["x" * 30_000, b"y" * 30_000]}) > 60_000

    @dataclass(frozen=True)
    class Kept:
        body: tuple[bytes, ...]
        headers: list[tuple[str, str]]

    assert weight(Kept((b"x" * 40_000,), [("X", "y" * 40_000)])) > 80_000


def test_it_never_holds_more_bytes_than_its_budget():
    kept: ByteBudget[str, str] = ByteBudget(1_000_000)
    for number in range(500):
        kept.put(f"?q{number}=" + "B" * 20_000, "page " + "B" * 20_000)
        assert kept.used <= kept.budget
    # 500 entries of 40 KB would be 20 MB: about 24 of them fit, whatever a client sends.
    assert 10 <= len(kept) <= 25
    assert kept.used == sum(
        weight(key) + weight(value) + ENTRY_OVERHEAD for key, (value, _) in kept._entries.items()
    )


def test_the_least_recently_used_goes_first():
    kept: ByteBudget[str, str] = ByteBudget(
        3 * (weight("k0") + weight("v" * 1000) + ENTRY_OVERHEAD)
    )
    for name in ("k0", "k1", "k2"):
        assert kept.put(name, "v" * 1000)
    assert kept.get("k0") == "v" * 1000  # k1 is now the oldest
    kept.put("k3", "v" * 1000)
    assert "k1" not in kept and "k0" in kept and "k2" in kept and "k3" in kept
    assert kept.get("k1", "missing") == "missing"


def test_an_entry_larger_than_the_budget_is_not_kept_and_evicts_nothing():
    kept: ByteBudget[str, str] = ByteBudget(10_000)
    kept.put("small", "s")
    assert kept.put("huge", "x" * 20_000) is False
    assert "huge" not in kept and kept.get("small") == "s"


def test_replacing_a_value_counts_it_once():
    kept: ByteBudget[str, str] = ByteBudget(100_000)
    for _ in range(50):
        kept.put("same", "x" * 1000)
    assert len(kept) == 1
    assert kept.used == weight("same") + weight("x" * 1000) + ENTRY_OVERHEAD
    kept.pop("same")
    assert kept.used == 0 and len(kept) == 0


def test_many_tiny_entries_are_bounded_too():
    kept: ByteBudget[int, int] = ByteBudget(100_000)
    for number in range(100_000):
        kept.put(number, number)
    assert kept.used <= 100_000 and len(kept) < 100_000 // ENTRY_OVERHEAD


def test_threads_putting_at_once_keep_the_count_right():
    kept: ByteBudget[str, str] = ByteBudget(200_000)

    def fill(prefix: str) -> None:
        for number in range(2000):
            kept.put(f"{prefix}{number % 300}", "v" * (number % 700))
            kept.get(f"{prefix}{(number * 7) % 300}")

    threads = [threading.Thread(target=fill, args=(str(n),)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert kept.used == sum(size for _, size in kept._entries.values()) <= kept.budget


def test_a_budget_must_be_positive():
    with pytest.raises(ValueError):
        ByteBudget(0)


def test_weight_counts_a_shared_or_circular_value_once():
    shared = "x" * 10_000
    loop: list[object] = [shared]
    loop.append(loop)
    assert weight(loop) < 11_000
    assert weight((shared, shared)) < 11_000
