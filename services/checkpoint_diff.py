"""One file's diff against a checkpoint, byte-exact, and reverting one hunk of it (the app's Changes view).

The Changes view diffs the file under the cursor only (a workspace with 5,000 changed files costs one file's read
per selection, not 5,000), and its hunks must revert byte for byte. So the diff here is computed on lines that
keep their endings (`\\n`, `\\r\\n`, `\\r`, and a last line without one, shown as git shows it) — each `RawHunk`
holds the exact bytes of both sides — and `DisplayHunk`s are the same hunks as text for `DiffView` (as
`services.git_parse.DiffFile`, the one diff model the views share).

Both sides are read through the service: the workspace side with `read_file` (ownership, path policy, no symlink
followed), the checkpoint side from the store after an ownership check (`checkpoint_bytes`). Reverting a hunk
re-reads the file, refuses (`Conflict`) if it is not what was diffed, and writes the result with `write_file`
(atomic, and `expected_mtime` refuses a change that lands between the read and the write).

`diff_from_lines` turns the service's own unified lines (`CheckpointService.diff_between`) into a `DiffFile`.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.checkpoints.changes import DIFF_LIMIT, Change, is_binary
from services.errors import Conflict, FileNotFound, InvalidInput, TooLarge
from services.git_parse import DiffFile, Hunk, decode

if TYPE_CHECKING:
    from services.checkpoints.store import Checkpoint
    from services.sandbox_service import SandboxService

CONTEXT = 3
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
NO_NEWLINE = "\\ No newline at end of file"


@dataclass(frozen=True)
class RawHunk:
    """One hunk's exact bytes: `old_lines` (at 0-based `old_start` in the checkpoint's file) became `new_lines`
    (at 0-based `new_start` in the workspace's), each line with its ending."""

    old_start: int
    old_lines: tuple[bytes, ...]
    new_start: int
    new_lines: tuple[bytes, ...]


@dataclass(frozen=True)
class FileDiff:
    """What the view shows for one change, and what reverting a hunk of it needs: the workspace bytes diffed
    (`current`, None when absent or unread) and their mtime."""

    change: Change
    diff: DiffFile
    raw: tuple[RawHunk, ...]
    current: bytes | None
    mtime: float | None


def status_letter(change: Change) -> str:
    """A added, D deleted, M modified, T type or mode changed (git's letters)."""
    if change.status == "added":
        return "A"
    if change.status == "deleted":
        return "D"
    if change.status == "mode-changed" or (change.old_kind is not None and change.old_kind != change.kind):
        return "T"
    return "M"


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)  # bytes: splits on \n, \r\n and \r only


def _shown(sign: str, line: bytes) -> list[str]:
    body = decode(line.rstrip(b"\r\n"))
    out = [sign + body]
    if not line.endswith((b"\n", b"\r")):
        out.append(NO_NEWLINE)
    return out


def byte_hunks(old: bytes, new: bytes) -> tuple[list[Hunk], list[RawHunk]]:
    """The hunks turning `old` into `new`, as shown and as bytes (the same hunks, index for index)."""
    a, b = _lines(old), _lines(new)
    shown: list[Hunk] = []
    raw: list[RawHunk] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(CONTEXT):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        body: list[str] = []
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                for line in a[a1:a2]:
                    body.extend(_shown(" ", line))
                continue
            for line in a[a1:a2]:
                body.extend(_shown("-", line))
            for line in b[b1:b2]:
                body.extend(_shown("+", line))
        old_count, new_count = i2 - i1, j2 - j1
        # unified diff numbering: 1-based starts, and a side with no lines names the line before it
        old_no = i1 + 1 if old_count else i1
        new_no = j1 + 1 if new_count else j1
        header = f"@@ -{old_no},{old_count} +{new_no},{new_count} @@"
        shown.append(Hunk(header, old_no, old_count, new_no, new_count, tuple(body)))
        raw.append(RawHunk(i1, tuple(a[i1:i2]), j1, tuple(b[j1:j2])))
    return shown, raw


def _header(path: str, status: str) -> tuple[str, ...]:
    a = "/dev/null" if status == "A" else f"a/{path}"
    b = "/dev/null" if status == "D" else f"b/{path}"
    return (f"--- {a}", f"+++ {b}")


def make_diff(change: Change, old: bytes | None, new: bytes | None, note: str | None = None) -> FileDiff:
    """The diff of one change from its two sides' bytes (None: absent there, or over the limit with `note`)."""
    status = {"added": "A", "deleted": "D"}.get(change.status, "M")
    if change.status == "mode-changed" or change.kind != "file" or change.old_kind not in (None, "file"):
        status = "T" if status == "M" else status
    old_path = None if change.status == "added" else change.path
    new_path = None if change.status == "deleted" else change.path
    header = _header(change.path, status)

    def diff(hunks: tuple[Hunk, ...] = (), *, binary: bool = False, why: str | None = None) -> DiffFile:
        return DiffFile(old_path, new_path, header, hunks, binary, status, why)

    if change.status == "mode-changed":
        return FileDiff(change, diff(why=f"mode {change.old_mode or 0:o} → {change.new_mode or 0:o}"), (), new, None)
    if note is not None:
        # no path: DiffView shows the note alone (with a path it would add "no content change" under it)
        return FileDiff(change, DiffFile(None, None, header, note=f"{change.path}: {note}"), (), None, None)
    if (old is not None and is_binary(old)) or (new is not None and is_binary(new)):
        return FileDiff(change, diff(binary=True), (), new, None)
    shown, raw = byte_hunks(old or b"", new or b"")
    return FileDiff(change, diff(tuple(shown)), tuple(raw), new, None)


def revert_hunk(current: bytes, hunk: RawHunk) -> bytes:
    """`current` with `hunk` undone: its new lines, which must be where the diff saw them, replaced by its old
    lines. `Conflict` if they are not there (the file moved on)."""
    lines = _lines(current)
    at = hunk.new_start
    if tuple(lines[at : at + len(hunk.new_lines)]) != hunk.new_lines:
        raise Conflict("the file changed since its diff was shown: refresh (f5) and try again")
    return b"".join([*lines[:at], *hunk.old_lines, *lines[at + len(hunk.new_lines) :]])


# -- reading both sides ------------------------------------------------------------------------------------------
async def checkpoint_bytes(svc: SandboxService, sandbox_id: str, ckpt: Checkpoint, path: str) -> bytes | None:
    """`path`'s bytes at checkpoint `ckpt` of this sandbox (None: over `DIFF_LIMIT`). `FileNotFound` when it was
    not a file there. Reading needs only read access to the sandbox, as listing its checkpoints does."""
    await svc.get(sandbox_id)  # ownership (read-only access is enough), as list_checkpoints checks
    store = svc.checkpoints.store
    if ckpt.sandbox != sandbox_id:
        raise InvalidInput("that checkpoint is another sandbox's")

    def read() -> bytes | None:
        entry = next((e for e in store.manifest(ckpt) if e.path == path), None)
        if entry is None or entry.kind != "file":
            raise FileNotFound(f"{path!r} was not a file at checkpoint {ckpt.id}")
        return store.blob_bytes(entry.ref, DIFF_LIMIT)

    return await asyncio.to_thread(read)


async def file_diff(svc: SandboxService, sandbox_id: str, ckpt: Checkpoint, change: Change) -> FileDiff:
    """The diff of one change of the workspace since `ckpt`, both sides read now."""
    limit = f"over {DIFF_LIMIT // 1024} KiB, not diffed"
    if change.kind == "dir" and change.old_kind in (None, "dir"):
        return make_diff(change, None, None, "a folder" if change.status != "deleted" else "a folder, deleted")
    if change.status == "mode-changed":
        return make_diff(change, None, None)
    if change.kind == "symlink" or change.old_kind == "symlink":
        return make_diff(change, None, None, "a symlink (or it was one): restore it with r")
    old: bytes | None = None
    if change.status != "added" and change.old_kind == "file":
        old = await checkpoint_bytes(svc, sandbox_id, ckpt, change.path)
        if old is None:
            return make_diff(change, None, None, limit)
    new: bytes | None = None
    mtime: float | None = None
    if change.status != "deleted" and change.kind == "file":
        try:
            data = await svc.read_file(sandbox_id, change.path, limit=DIFF_LIMIT)
        except TooLarge:
            return make_diff(change, None, None, limit)
        except FileNotFound:
            return make_diff(change, old, None, "gone since the list was made: refresh (f5)")
        if data.truncated:
            return make_diff(change, None, None, limit)
        new, mtime = data.data, data.mtime
    fd = make_diff(change, old, new)
    return FileDiff(fd.change, fd.diff, fd.raw, new, mtime)


async def restore_hunk(svc: SandboxService, sandbox_id: str, fd: FileDiff, index: int) -> int:
    """Revert hunk `index` of `fd` in the workspace file; returns the bytes written. Refuses (`Conflict`) when the
    file is not what was diffed, and writes atomically with `expected_mtime`, so a change in between is refused
    too. A file the diff did not read (added, deleted, binary, too large) has no hunk to revert."""
    if fd.current is None or fd.mtime is None or not 0 <= index < len(fd.raw):
        raise InvalidInput("no hunk to restore here: restore the whole file with r")
    path = fd.change.path
    now = await svc.read_file(sandbox_id, path, limit=DIFF_LIMIT)
    if now.truncated or now.data != fd.current:
        raise Conflict(f"{path!r} changed since its diff was shown: refresh (f5) and try again")
    data = revert_hunk(now.data, fd.raw[index])
    await svc.write_file(sandbox_id, path, data, expected_mtime=now.mtime)
    return len(data)


def diff_from_lines(change: Change, lines: list[str]) -> DiffFile:
    """A `DiffFile` from the unified lines `CheckpointService.diff`/`diff_between` give one change (a note line
    such as `mode 644 -> 755` or `Binary files … differ` when it has no hunks)."""
    status = {"added": "A", "deleted": "D", "mode-changed": "T"}.get(change.status, "M")
    old_path = None if change.status == "added" else change.path
    new_path = None if change.status == "deleted" else change.path
    header = _header(change.path, status)
    hunks: list[Hunk] = []
    notes: list[str] = []
    binary = False
    cur: tuple[str, int, int, int, int] | None = None
    body: list[str] = []

    def close() -> None:
        if cur is not None:
            hunks.append(Hunk(cur[0], cur[1], cur[2], cur[3], cur[4], tuple(body)))

    for line in lines:
        m = _HUNK.match(line)
        if m:
            close()
            body = []
            cur = (line, int(m[1]), int(m[2] or 1), int(m[3]), int(m[4] or 1))
        elif cur is None:
            if line.startswith(("--- ", "+++ ")):
                continue
            if line.startswith("Binary files "):
                binary = True
            else:
                notes.append(line)
        else:
            body.append(line if line[:1] in ("+", "-", " ", "\\") else " " + line)
    close()
    return DiffFile(old_path, new_path, header, tuple(hunks), binary, status, "; ".join(notes) or None)
