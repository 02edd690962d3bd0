"""What the Timeline view asks of its entries (issue 13 §2), beside the reader in services/timeline.py: the filter
the user types (`Filter`: `who:`, `kind:`, words), and an exec's details — the checkpoint to restore to before it
(`checkpoint_before`) and what else a restore to it undoes (`undone_too`), the files it changed as diffs
(`diff_files`), its kept output as printable text (`output_text`). UI-free."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.git_parse import DiffFile, Hunk
from services.text import safe_text
from services.timeline import Entry

if TYPE_CHECKING:
    from services.checkpoints.changes import Change
    from services.checkpoints.store import Checkpoint


# -- filtering ---------------------------------------------------------------------------------------------------
# the short names the view's kind column shows, and a plural or two people type
KIND_ALIASES = {"life": "lifecycle", "ckpt": "checkpoint", "term": "terminal", "files": "file", "commands": "exec"}


@dataclass(frozen=True)
class Filter:
    """`who:NAME` / `kind:KIND` terms and free text (every word must appear), as typed in the view's filter."""

    who: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    words: tuple[str, ...] = ()
    internal: bool = False  # show the app's own probes and reads too

    @classmethod
    def parse(cls, text: str, *, internal: bool = False) -> Filter:
        who: set[str] = set()
        kinds: set[str] = set()
        words: list[str] = []
        for term in text.split():
            low = term.lower()
            if low.startswith("who:") and len(term) > 4:
                who.add(low[4:])
            elif low.startswith("kind:") and len(term) > 5:
                kinds.add(KIND_ALIASES.get(low[5:], low[5:]))
            else:
                words.append(low)
        return cls(frozenset(who), frozenset(kinds), tuple(words), internal)

    def matches(self, entry: Entry) -> bool:
        if entry.internal and not self.internal:
            return False
        if self.who and entry.who.lower() not in self.who:
            return False
        if self.kinds and entry.kind not in self.kinds:
            return False
        text = entry.text()
        return all(w in text for w in self.words)

    def apply(self, entries: Iterable[Entry]) -> list[Entry]:
        return [e for e in entries if self.matches(e)]


# -- an entry's details --------------------------------------------------------------------------------------
def checkpoint_before(entry: Entry, checkpoints: Sequence[Checkpoint]) -> Checkpoint | None:
    """The checkpoint holding the state before `entry`: its own `before`, else the newest taken before its time."""
    if entry.before:
        for c in checkpoints:
            if c.id == entry.before or c.id.startswith(entry.before):
                return c
    # an operation's line is written when it ends: `ts - ms` is when it began
    began = entry.ts - (entry.ms or 0.0) / 1000.0
    earlier = [c for c in checkpoints if c.created_at <= began]
    return max(earlier, key=lambda c: c.created_at) if earlier else None


# what may have changed the workspace, so a restore to an earlier state undoes it too (a read, a probe, a lifecycle
# act or taking a checkpoint changes no file)
CHANGING_KINDS = {"exec", "git", "file", "terminal"}


def undone_too(entry: Entry, target: Checkpoint, entries: Iterable[Entry]) -> list[Entry]:
    """The entries between checkpoint `target` and `entry` that may have changed files, oldest first. The nearest
    checkpoint before `entry` can be older than it by several actions: a restore to it undoes those as well, and
    the user must be told which. One that ended after the checkpoint was taken counts (its changes may be after it)."""
    out = [
        e
        for e in entries
        if e.key < entry.key
        and not e.internal
        and (e.kind in CHANGING_KINDS or e.op == "restore")
        and e.ts > target.created_at
    ]
    return sorted(out, key=lambda e: e.key)


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_STATUS = {"added": "A", "deleted": "D", "modified": "M", "mode-changed": "T"}


def diff_files(changes: Sequence[tuple[Change, list[str]]]) -> list[DiffFile]:
    """`CheckpointService.diff_between`'s changes as the diff view's files (a change without hunks — binary, a
    mode, a symlink, over the size limit — becomes a file with that line as its note)."""
    out: list[DiffFile] = []
    for change, lines in changes:
        hunks: list[Hunk] = []
        notes: list[str] = []
        cur: tuple[str, int, int, int, int] | None = None
        body: list[str] = []
        for line in lines:
            m = _HUNK.match(line)
            if m:
                if cur is not None:
                    hunks.append(Hunk(cur[0], cur[1], cur[2], cur[3], cur[4], tuple(body)))
                a, b, c, d = m.group(1), m.group(2), m.group(3), m.group(4)
                cur = (line, int(a), int(b or 1), int(c), int(d or 1))
                body = []
            elif cur is not None and line[:1] in (" ", "+", "-", "\\"):
                body.append(line)
            elif line.startswith(("--- ", "+++ ")) and cur is None:
                continue
            else:
                notes.append(line)
        if cur is not None:
            hunks.append(Hunk(cur[0], cur[1], cur[2], cur[3], cur[4], tuple(body)))
        status = _STATUS.get(change.status, "M")
        path = change.path
        out.append(
            DiffFile(
                old_path=None if status == "A" else path,
                new_path=None if status == "D" else path,
                header=(f"diff --git a/{path} b/{path}",),
                hunks=tuple(hunks),
                binary=any(n.startswith("Binary files") for n in notes),
                status=status,
                note="; ".join(notes) or None,
            )
        )
    return out


OUTPUT_LIMIT = 256 * 1024  # bytes of a command's output the view shows


def output_text(data: bytes, limit: int = OUTPUT_LIMIT) -> str:
    """A command's output as printable lines: decoded leniently, escapes and controls made visible, bounded."""
    cut = len(data) > limit
    text = data[:limit].decode("utf-8", "replace").removesuffix("\n")  # a last newline ends a line, adds none
    lines = [safe_text(line.replace("\t", "    ")) for line in text.replace("\r\n", "\n").split("\n")]
    if cut:
        lines.append(f"… ({len(data) - limit} more bytes not shown)")
    return "\n".join(lines)
