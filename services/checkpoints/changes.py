"""What changed between two manifests (a checkpoint's and the workspace's now), and unified diffs of it.

Statuses: `added`, `deleted`, `modified` (content, or a symlink's target, or a name that changed kind),
`mode-changed` (same content, other mode). Diffs are bounded: a file over `DIFF_LIMIT` is named, not diffed;
binary content (a NUL in its head, or not UTF-8) is named as binary, as `git diff` does.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.checkpoints.store import Entry

DIFF_LIMIT = 1024 * 1024
DIFF_LINES = 20_000  # per file


@dataclass(frozen=True)
class Change:
    path: str
    status: str  # added | deleted | modified | mode-changed
    kind: str  # the kind now (deleted: the kind it was)
    old_kind: str | None
    old_size: int | None
    new_size: int | None
    old_mode: int | None
    new_mode: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "kind": self.kind,
            "old_kind": self.old_kind,
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_mode": None if self.old_mode is None else f"{self.old_mode:o}",
            "new_mode": None if self.new_mode is None else f"{self.new_mode:o}",
        }


def compare(old: list[Entry], new: list[Entry], before: Mapping[str, Entry] | None = None) -> list[Change]:
    """What differs from `old` to `new` (both sorted by path). `before`: `{e.path: e for e in old}` when the caller
    has it (the store keeps one per manifest: building it was a good part of a compare of 20,000 names)."""
    if old is new:
        return []  # a change feed's scan that found nothing moved hands back the very manifest it started from
    if before is None:
        before = {e.path: e for e in old}
    get = before.get
    out: list[Change] = []
    seen = 0
    for b in new:
        a = get(b.path)
        if a is b:
            seen += 1
            continue  # the scan reused the entry: nothing about it moved
        if a is None:
            out.append(Change(b.path, "added", b.kind, None, None, b.size, None, b.mode))
            continue
        seen += 1
        if a.kind != b.kind or a.ref != b.ref:
            out.append(Change(b.path, "modified", b.kind, a.kind, a.size, b.size, a.mode, b.mode))
        elif a.mode != b.mode:
            out.append(Change(b.path, "mode-changed", b.kind, a.kind, a.size, b.size, a.mode, b.mode))
    if seen < len(before):  # some old name is gone (paths are unique on both sides)
        now = {e.path for e in new}
        gone = (a for a in old if a.path not in now)
        out.extend(Change(a.path, "deleted", a.kind, a.kind, a.size, None, a.mode, None) for a in gone)
    return sorted(out, key=lambda c: c.path)


def is_binary(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def unified(path: str, old: bytes | None, new: bytes | None) -> list[str]:
    """The diff lines of one file (`None`: absent on that side). Binary content is named, never shown."""
    a_name = f"a/{path}" if old is not None else "/dev/null"
    b_name = f"b/{path}" if new is not None else "/dev/null"
    if (old is not None and is_binary(old)) or (new is not None and is_binary(new)):
        return [f"Binary files {a_name} and {b_name} differ"]
    a = (old or b"").decode("utf-8").splitlines()
    b = (new or b"").decode("utf-8").splitlines()
    lines = list(difflib.unified_diff(a, b, a_name, b_name, lineterm="", n=3))
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"... ({len(lines) - DIFF_LINES} more diff lines not shown)"]
    return lines
