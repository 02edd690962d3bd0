"""What is derived from an entry list once and kept (per process): its path map and its paths, keyed by the list's
identity — a manifest from the store, a stat cache, a scan's answer, none ever changed by anyone after it is made —
and `Overlay`, a path map less some paths that is looked up without being copied (the stat cache a restore leaves).

Every scan and compare of 20,000 names wants a path map, and building one from the list was a good part of their
cost; a change feed's scan (services/checkpoints/feed.py) hands over the one it keeps anyway (`know`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from services.checkpoints.store import Entry

V = TypeVar("V")


class ListMaps:
    """Path maps and path lists of the last `size` lists asked about. The list is held with them, so its id is not
    reused while the key lives. Thread-safe (callers run in `asyncio.to_thread`)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._paths: dict[int, tuple[list[Entry], dict[str, Entry]]] = {}
        self._keys: dict[int, tuple[list[Entry], list[str]]] = {}

    def by_path(self, entries: list[Entry]) -> dict[str, Entry]:
        with self._lock:
            hit = self._paths.get(id(entries))
        if hit is not None and hit[0] is entries:
            return hit[1]
        paths = {e.path: e for e in entries}
        self._put(self._paths, entries, paths)
        return paths

    def keys(self, entries: list[Entry]) -> list[str]:
        with self._lock:
            hit = self._keys.get(id(entries))
        if hit is not None and hit[0] is entries:
            return hit[1]
        keys = [e.path for e in entries]
        self._put(self._keys, entries, keys)
        return keys

    def know(self, entries: list[Entry], paths: dict[str, Entry], keys: list[str] | None = None) -> None:
        """The caller built these for `entries` and hands them over: it never changes them."""
        self._put(self._paths, entries, paths)
        if keys is not None:
            self._put(self._keys, entries, keys)

    def _put(self, table: dict[int, tuple[list[Entry], V]], entries: list[Entry], value: V) -> None:
        with self._lock:
            table[id(entries)] = (entries, value)
            while len(table) > self.size:
                table.pop(next(iter(table)))


class Overlay(Mapping[str, "Entry"]):
    """A path map less some paths, looked up without copying it (`materialize` copies it once, for a full scan)."""

    def __init__(self, base: Mapping[str, Entry], drop: frozenset[str]) -> None:
        self.base = base
        self.drop = drop
        self._dict: dict[str, Entry] | None = None

    def __getitem__(self, key: str) -> Entry:
        if key in self.drop:
            raise KeyError(key)
        return self.base[key]

    def __iter__(self) -> Iterator[str]:
        return (k for k in self.base if k not in self.drop)

    def __len__(self) -> int:
        return len(self.materialize())

    def materialize(self) -> dict[str, Entry]:
        if self._dict is None:
            drop = self.drop
            self._dict = {k: v for k, v in self.base.items() if k not in drop}
        return self._dict
