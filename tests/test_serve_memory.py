"""kiosk serve keeps glibc's malloc arenas few, and starts anyway where it cannot."""

import pytest

from kiosk import cli


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, option: int, value: int) -> int:
        self.calls.append((option, value))
        return 1


def test_serving_limits_malloc_arenas_to_two(monkeypatch: pytest.MonkeyPatch) -> None:
    libc = FakeLibc()
    monkeypatch.setattr(cli.ctypes, "CDLL", lambda _name: libc)

    assert cli.limit_malloc_arenas() is True
    assert libc.calls == [(cli.M_ARENA_MAX, 2)]


def test_serving_starts_anyway_on_a_c_library_without_mallopt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli.ctypes, "CDLL", lambda _name: object())

    assert cli.limit_malloc_arenas() is False
