"""A small map that keeps at most a number of bytes: what every per-process cache is made of.

A cache bounded in entries is bounded in nothing a client cannot choose: 512 entries of a
screen that echoed a 200 KB query string were a gigabyte (issue 20). A `ByteBudget` counts
what it keeps, keys and values, in bytes (`weight`, an estimate of what Python holds for
them), and lets the least recently used go when a new entry would pass its budget. An entry
larger than the whole budget is never kept: the caller computes it again next time.

Thread-safe: waitress answers from several threads at once.

One cache is not ours: Python's `urllib.parse.urlsplit` keeps the last 128 addresses it
split (an lru_cache), and waitress splits every request's target with it, so 128 targets
of 256 KB stayed in a served kiosk (about 60 MB). `forget_long_addresses` empties it after
a request whose target is long (kiosk/fast_path.py, the kiosk's first layer).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Generic, TypeVar, overload
from urllib.parse import urlsplit

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

# What the map itself spends per entry beyond its key and value (the OrderedDict's links
# and hash slot, the tuple of key, value and size): counted, so a million tiny entries
# cannot pass the budget either.
ENTRY_OVERHEAD = 200
_ATOMS = (int, float, bool, type(None), complex)


def weight(value: object) -> int:
    """About how many bytes Python holds for `value` and what it contains (strings, bytes,
    numbers, tuples, lists, sets, dicts, dataclasses and other plain objects), each object
    counted once."""
    return _weight(value, set(), 0)


def _weight(value: object, seen: set[int], depth: int) -> int:
    size = sys.getsizeof(value)
    if isinstance(value, _ATOMS):
        return size
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if depth > 8 or isinstance(value, (str, bytes, bytearray)):
        return size
    depth += 1
    if isinstance(value, (tuple, list, set, frozenset)):
        return size + sum(_weight(item, seen, depth) for item in value)
    if isinstance(value, dict):
        return size + sum(
            _weight(k, seen, depth) + _weight(v, seen, depth) for k, v in value.items()
        )
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return size + sum(_weight(getattr(value, f.name), seen, depth) for f in fields)
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        return size + _weight(attributes, seen, depth)
    return size


class ByteBudget(Generic[K, V]):
    """A least-recently-used map holding at most `budget` bytes of keys and values."""

    def __init__(self, budget: int) -> None:
        if budget <= 0:
            raise ValueError("A byte budget must be positive.")
        self.budget = budget
        self.used = 0  # bytes held now, as `weight` counts them
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: Any = None) -> Any:
        """The value kept for `key` (now the most recently used), else `default`."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return default
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> bool:
        """Keep `value` for `key`, letting the least recently used go to make room. False
        (and nothing kept, any older value for `key` gone) when it alone passes the budget."""
        size = weight(key) + weight(value) + ENTRY_OVERHEAD
        with self._lock:
            self._drop(key)
            if size > self.budget:
                return False
            while self.used + size > self.budget:
                _key, (_value, dropped) = self._entries.popitem(last=False)
                self.used -= dropped
            self._entries[key] = (value, size)
            self.used += size
            return True

    def pop(self, key: K) -> None:
        """Forget `key`, if kept."""
        with self._lock:
            self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.used = 0

    def _drop(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.used -= entry[1]


# A kiosk's own addresses are a few hundred characters (the language switch's way back is
# at most 1 KB): a longer target is someone else's, and is not left in urlsplit's cache.
LONG_ADDRESS = 4096


def forget_long_addresses(environ: dict[str, Any]) -> None:
    """After a request whose target was long: empty urlsplit's cache, which waitress (and
    werkzeug, for request.url) filled with it. Its other entries are split again."""
    length = len(environ.get("PATH_INFO", "")) + len(environ.get("QUERY_STRING", ""))
    if length > LONG_ADDRESS:
        clear = getattr(urlsplit, "cache_clear", None)  # cached since Python 3.11
        if clear is not None:
            clear()
