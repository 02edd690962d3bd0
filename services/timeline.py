"""The Timeline of one sandbox: its entries of the audit log, typed, newest first, followed live (DESIGN §8 "The audit
log is the timeline"; issue 13 §2). UI-free: the app's Timeline view and tests read it.

The audit log (`services/audit.py`, `config.audit_log`) is one JSON line per service operation, appended with
O_APPEND by every process of the data dir: the app, the CLI and `sandbench serve` (whose agents' token identities
are the entries' `who`). `TimelineReader` reads it for one sandbox:

- **bounded**: `load()` reads at most the last `max_bytes` of the file and keeps at most `max_entries` entries of
  the sandbox; `older` says how many of its entries are not shown (those before the window are counted, not parsed,
  by scanning the skipped prefix for the sandbox's id in fixed-size chunks, up to `COUNT_LIMIT` bytes).
- **robust**: a torn last line (a writer mid-append) waits for the rest; a line that is not a JSON object, or has
  fields of the wrong type, is skipped and counted (`garbage`), never raised; a line longer than `LINE_MAX` is
  dropped. Every string shown comes from here already made printable (`safe_text`): sandbox text never reaches a
  terminal as escapes, and the view renders it as `rich.text.Text`, never markup.
- **live**: `poll()` returns the entries appended since the last read (from a byte offset: a `stat` and, when the
  file grew, one bounded read), so any process's appends arrive within one poll interval; `follow()` polls every
  `interval` seconds (0.25 s default). A truncated or replaced file is read again from its start.
- **across rotations** (services/audit.py rotates `audit.jsonl` to `audit.jsonl.1` at `audit_max_bytes`): `load()`
  fills its window from `.1` when the current file is shorter, and following reads the old file to its end, then
  the new one, without a duplicate or a lost entry. An entry's key grows across files (`_base`).

Who may read: `open_timeline` checks the caller may see the sandbox (`SandboxService.get`: its owner, or others'
read-only where the config allows) before anything is read, and the reader only ever yields that sandbox's entries.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from services.audit import rotated_path
from services.errors import SandbenchError
from services.text import safe_text

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService

Kind = Literal["exec", "file", "git", "lifecycle", "checkpoint", "terminal", "other"]
KINDS: tuple[Kind, ...] = ("exec", "file", "git", "lifecycle", "checkpoint", "terminal", "other")

MAX_BYTES = 4 * 1024 * 1024  # the tail of the log `load()` reads
MAX_ENTRIES = 5000  # entries of one sandbox kept in memory
POLL_BYTES = 1024 * 1024  # read per poll at most; a burst beyond it is skipped and counted
LINE_MAX = 64 * 1024  # an audit line is a few hundred bytes; anything this long is not one
COUNT_LIMIT = 256 * 1024 * 1024  # the skipped prefix scanned to count older entries
CHUNK = 1024 * 1024
WHAT_MAX = 400  # characters of a row's "what"

FILE_OPS = {"write", "move", "mkdir", "read", "stat", "list", "search", "list-files"}
READ_OPS = {"read", "stat", "list", "search", "list-files", "terminal-list"}  # looks, not changes
CHECKPOINT_OPS = {"checkpoint", "restore"}
TERMINAL_OPS = {"terminal", "terminal-list", "terminal-attach"}


@dataclass(frozen=True)
class Entry:
    """One audit line of the sandbox, typed. `key` (the line's byte offset in the file, after the sizes of the files
    read before it) is unique within one reader, and grows with the line's position in the log."""

    key: int
    ts: float
    who: str
    op: str
    kind: Kind
    what: str  # one printable line: argv (shlex-joined), a path, a git command, a lifecycle op
    outcome: str
    sandbox: str
    path: str | None = None
    ms: float | None = None
    exit: int | None = None
    before: str | None = None
    after: str | None = None
    output: str | None = None
    internal: bool = False  # the app's own read-only probes, and reads: hidden unless asked for
    argv: tuple[str, ...] = ()  # as recorded (already redacted by the writer), made printable
    acting_for: str | None = None  # the owner whose rights `who` used (a serve token acting under its own name)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def text(self) -> str:
        """What the text filter searches: who, kind, op, what and outcome."""
        return f"{self.who} {self.kind} {self.op} {self.what} {self.outcome}".lower()


def _str(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return safe_text(value) if isinstance(value, str) else None


def _num(raw: dict[str, Any], key: str) -> float | None:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _short(text: str) -> str:
    return text if len(text) <= WHAT_MAX else text[: WHAT_MAX - 1] + "…"


def kind_of(op: str, path: str | None, program: str | None) -> Kind:
    if op == "exec":
        return "git" if program == "git" else "exec"
    if op in CHECKPOINT_OPS:
        return "checkpoint"
    if op in TERMINAL_OPS:
        return "terminal"
    if op in FILE_OPS or (op == "delete" and path is not None):
        return "file"
    if op in {"create", "start", "stop", "archive", "delete", "snapshot", "fork", "adopt"} or op.startswith(
        ("auto-", "set-")
    ):
        return "lifecycle"
    return "other"


def _decode(line: bytes) -> dict[str, Any] | None:
    try:
        raw = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return raw if isinstance(raw, dict) else None


def parse_line(line: bytes, key: int, sandbox_id: str) -> Entry | None:
    """The entry of one audit line if it is a well-formed line of `sandbox_id`, else None (never raises)."""
    raw = _decode(line)
    if raw is None or raw.get("sandbox") != sandbox_id:
        return None
    return entry_of(raw, key, sandbox_id)


def entry_of(raw: dict[str, Any], key: int, sandbox_id: str) -> Entry | None:
    """The typed entry of a decoded audit line, or None when its fields are not what an audit line holds."""
    op, who, ts = raw.get("op"), raw.get("who"), _num(raw, "ts")
    if not isinstance(op, str) or not isinstance(who, str) or ts is None:
        return None
    path, dest, program, name = _str(raw, "path"), _str(raw, "dest"), _str(raw, "program"), _str(raw, "name")
    argv_raw = raw.get("argv")
    argv = (
        tuple(safe_text(a) for a in argv_raw)
        if isinstance(argv_raw, list) and argv_raw and all(isinstance(a, str) for a in argv_raw)
        else ()
    )
    kind = kind_of(op, path, program)
    exit_raw = raw.get("exit")
    return Entry(
        key=key,
        ts=ts,
        who=safe_text(who),
        op=safe_text(op),
        kind=kind,
        what=_short(_what(op, kind, argv, program, path, dest, name)),
        outcome=_str(raw, "outcome") or "ok",
        sandbox=sandbox_id,
        path=path,
        ms=_num(raw, "ms"),
        exit=exit_raw if isinstance(exit_raw, int) and not isinstance(exit_raw, bool) else None,
        before=_str(raw, "before"),
        after=_str(raw, "after"),
        output=_str(raw, "output"),
        internal=raw.get("internal") is True or op in READ_OPS,
        argv=argv,
        acting_for=_str(raw, "for"),
    )


def _error_titles() -> dict[str, str]:
    titles: dict[str, str] = {}
    todo: list[type[SandbenchError]] = [SandbenchError]
    while todo:
        cls = todo.pop()
        titles[cls.__name__] = cls.title
        todo += cls.__subclasses__()
    return titles


def error_title(outcome: str) -> str:
    """What a failed entry's outcome says to a person: the error's title ("Already exists"), not its class name.
    The audit log keeps only the class (services/sandbox_core.py `outcome`: a message may hold host detail)."""
    name = outcome.removeprefix("error:")
    if name in ("", "error"):
        return "Failed"
    return _error_titles().get(name, "Failed")


GIT_PLUMBING_FLAGS = {"--no-pager", "--no-optional-locks", "--literal-pathspecs"}


def git_summary(argv: Sequence[str]) -> tuple[str, ...]:
    """A git command as the user asked for it: `git` and its subcommand with its arguments, without the global
    options the app puts before the subcommand for itself (`--no-pager`, `-c color.ui=false`, …: services/git.py),
    which would push what was done off the row. The full command line stays in the entry's `argv`."""
    if not argv:
        return ()
    out, i = [argv[0]], 1
    while i < len(argv):
        arg = argv[i]
        if arg in GIT_PLUMBING_FLAGS:
            i += 1
        elif arg == "-c" and i + 1 < len(argv):
            i += 2
        elif (arg.startswith("-c") and len(arg) > 2) or arg.startswith("--config-env="):
            i += 1
        else:
            break
    return (*out, *argv[i:])


def _what(
    op: str,
    kind: Kind,
    argv: tuple[str, ...],
    program: str | None,
    path: str | None,
    dest: str | None,
    name: str | None,
) -> str:
    if kind in ("exec", "git"):
        # argv is already printable (safe_text); shlex.join quotes what a shell would split, for display only
        shown = git_summary(argv) if kind == "git" else argv
        command = shlex.join(shown) if shown else (program or "?")
        return f"{command}  (in {path})" if path else command
    if kind == "file":
        if op == "move":
            return f"move {path or '/'} → {dest or '?'}"
        return f"{op} {path or '/'}"
    if kind == "checkpoint":
        return " ".join(p for p in (op, name, path) if p)
    if kind == "terminal":
        label = {"terminal": "open terminal", "terminal-attach": "attach terminal", "terminal-list": "list terminals"}
        return label.get(op, op) + (f" in {path}" if path else "")
    if op == "set-labels":
        return _labels_what(name)
    if op == "fork" and dest:
        return f"fork → {dest}" + (f" (from checkpoint {name})" if name else "")
    return " ".join(p for p in (op, name) if p)


# services/checkpoints/auto.py LABEL: how `sandbench config NAME auto-checkpoint` is kept
AUTO_LABEL = "sandbench.auto-checkpoint"


def _labels_what(changes: str | None) -> str:
    """A relabelling as the user asked for it: `auto-checkpoint on` (`sandbench config NAME auto-checkpoint on`
    sets a label), else the labels set (`k=v`) and removed (`k-`); older entries name no change."""
    if not changes:
        return "set labels"
    parts = changes.split(" ")
    if len(parts) == 1 and parts[0].startswith(AUTO_LABEL):
        value = parts[0][len(AUTO_LABEL) :]
        return "auto-checkpoint " + ("default" if value == "-" else value.removeprefix("="))
    return "labels " + changes


@dataclass
class Page:
    """What `load` found: entries newest first, and what is not shown."""

    entries: list[Entry]
    older: int = 0  # entries of the sandbox before those shown (outside the window or over `max_entries`)
    older_capped: bool = False  # the count stopped at COUNT_LIMIT bytes: "more than `older`"
    garbage: int = 0  # lines that were not audit entries (torn, corrupt, over-long)


@dataclass
class TimelineReader:
    path: Path
    sandbox_id: str
    max_bytes: int = MAX_BYTES
    max_entries: int = MAX_ENTRIES
    garbage: int = 0
    skipped: int = 0  # entries of the sandbox a poll skipped (a burst over POLL_BYTES), counted as for `older`
    _offset: int = 0  # in the file followed
    _inode: tuple[int, int] | None = None
    _fd: int = -1  # the file followed, kept open: after a rotation it is read to its end under its new name
    _base: int = 0  # an entry's key is `_base` + its offset in the file followed (the files before it come first)
    _done: list[tuple[int, int]] = field(default_factory=list)  # files read (or passed over): never read again
    _pending: bytes = b""
    _pending_at: int = 0
    _needle: bytes = field(init=False, default=b"")
    _id: bytes = field(init=False, default=b"")

    def __post_init__(self) -> None:
        self._id = json.dumps(self.sandbox_id, ensure_ascii=True).encode()
        # how json.dumps writes the field (audit.py: default separators, ensure_ascii): cheap to count in bulk
        self._needle = b'"sandbox": ' + self._id

    # -- the first read ------------------------------------------------------------------------------------
    def load(self) -> Page:
        """The newest entries (at most `max_entries`, from the last `max_bytes`), newest first.

        When the current file is shorter than `max_bytes`, the rest of the window is read from the newest rotated
        file (`audit.jsonl.1`), so a rotation does not empty the view; older rotated files are not read (`older`
        is then a lower bound: `older_capped`)."""
        self.close()
        self._offset, self._inode, self._pending, self._base, self._done = 0, None, b"", 0, []
        st = self._open_current()
        size = st.st_size if st is not None else 0
        start = max(0, size - self.max_bytes)
        data = _pread(self._fd, start, size - start) if st is not None else b""
        self._offset = start + len(data)
        start, data = _line_start(start, data)
        begin = max(0, start - COUNT_LIMIT)
        older = self._count(self._fd, begin, start) if st is not None else 0
        capped = begin > 0
        entries: list[Entry] = []
        prev = rotated_path(self.path, 1)
        try:
            pfd = os.open(prev, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            pfd = -1
        if pfd >= 0:
            try:
                pst = os.fstat(pfd)
                self._finished((pst.st_dev, pst.st_ino))
                psize = pst.st_size
                self._base = psize  # the current file's lines come after the rotated one's: keys stay unique
                budget = self.max_bytes - (size - start)
                if start == 0 and budget > 0 and data.count(self._id) < self.max_entries:
                    pstart = max(0, psize - budget)
                    pdata = _pread(pfd, pstart, psize - pstart)
                    pstart, pdata = _line_start(pstart, pdata)
                    pbegin = max(0, pstart - (COUNT_LIMIT - start))
                    older += self._count(pfd, pbegin, pstart)
                    capped = capped or pbegin > 0 or rotated_path(self.path, 2).exists()
                    base, self._base = self._base, 0
                    entries = self._parse(pdata, pstart)
                    self._base = base
                    if self._pending:  # a torn last line of a file no one appends to any more
                        self._pending, self.garbage = b"", self.garbage + 1
                else:
                    capped = True  # entries in the rotated files are not counted
            finally:
                os.close(pfd)
        entries += self._parse(data, start)
        if len(entries) > self.max_entries:
            older += len(entries) - self.max_entries
            entries = entries[-self.max_entries :]
        entries.reverse()
        return Page(entries, older, capped, self.garbage)

    def _open_current(self) -> os.stat_result | None:
        """Open the file the path names now (closing the one read so far); None when there is none."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        self.close()
        self._fd = fd
        st = os.fstat(fd)
        self._inode = (st.st_dev, st.st_ino)
        return st

    def close(self) -> None:
        """Let go of the file followed (`load` or `poll` opens it again)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()

    def _count(self, fd: int, begin: int, end: int) -> int:
        """Lines naming the sandbox in bytes `begin`..`end` of the file, counted in fixed-size chunks, not parsed."""
        count, tail = 0, b""
        pos = begin
        while pos < end:
            chunk = os.pread(fd, min(CHUNK, end - pos), pos)
            if not chunk:
                break
            pos += len(chunk)
            buf = tail + chunk
            count += buf.count(self._needle)
            # the tail is shorter than the needle: an occurrence across two chunks is counted once, in the next
            tail = buf[-(len(self._needle) - 1) :]
        return count

    def _parse(self, data: bytes, start: int) -> list[Entry]:
        """Entries of complete lines in `data` (read from byte `start`); an unfinished last line is kept pending."""
        out: list[Entry] = []
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:
                self._pending, self._pending_at = data[pos:], start + pos
                if len(self._pending) > LINE_MAX:
                    self._pending, self.garbage = b"", self.garbage + 1
                break
            self._take(data[pos:nl], start + pos, out)
            pos = nl + 1
        return out

    def _take(self, line: bytes, key: int, out: list[Entry]) -> None:
        if not line.strip():
            return
        if len(line) > LINE_MAX:
            self.garbage += 1
            return
        if self._id not in line:
            return  # another sandbox's line (or none's): not parsed at all
        raw = _decode(line)
        if raw is None:
            # a line torn by a writer that died mid-append runs into the next one: keep the next one
            at = line.rfind(b'{"ts": ')
            raw = _decode(line[at:]) if at > 0 else None
            self.garbage += 1
            if raw is None:
                return
            key += at
        if raw.get("sandbox") != self.sandbox_id:
            return
        entry = entry_of(raw, self._base + key, self.sandbox_id)
        if entry is None:
            self.garbage += 1
        else:
            out.append(entry)

    # -- following -----------------------------------------------------------------------------------------
    def poll(self) -> list[Entry]:
        """Entries appended since the last read, newest first (empty when nothing was appended).

        Across a rotation (the path names another file than the one followed): the old file is read to its end
        first (the writers' protocol, services/audit.py, guarantees no line lands in it once it is renamed), then
        the new one from its start; a file that came and went between two polls (two rotations) is read whole.
        A truncated file is read again from its start. Keys keep growing across all of it: no entry twice."""
        if self._fd < 0 and self._open_current() is None:
            return []
        try:
            now = os.stat(self.path, follow_symlinks=False)
            replaced = (now.st_dev, now.st_ino) != self._inode
        except FileNotFoundError:
            now, replaced = None, False
        out = self._read_new()
        if not replaced:
            return out[::-1]
        self._drop_file()
        try:
            mid = os.stat(rotated_path(self.path, 1), follow_symlinks=False)
        except FileNotFoundError:
            mid = None
        if mid is not None and now is not None and (mid.st_dev, mid.st_ino) not in (*self._done, self._inode_of(now)):
            # the file rotated away is not the one followed: a whole file went by between two polls
            try:
                fd = os.open(rotated_path(self.path, 1), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            except FileNotFoundError:
                fd = -1
            if fd >= 0:
                self.close()
                self._fd = fd
                st = os.fstat(fd)
                self._inode = (st.st_dev, st.st_ino)
                out += self._read_new()
                self._drop_file()
        if self._open_current() is not None:
            out += self._read_new()
        return out[::-1]

    def _drop_file(self) -> None:
        """Done with the file followed: the next one's keys start after its end."""
        if self._pending:  # a torn last line of a file no one appends to any more
            self._pending, self.garbage = b"", self.garbage + 1
        self._base += self._offset
        self._offset = 0
        if self._inode is not None:
            self._finished(self._inode)
        self.close()

    def _finished(self, inode: tuple[int, int]) -> None:
        self._done = [*self._done[-7:], inode]  # a few: a rotated file is not read again, nor one replaced

    @staticmethod
    def _inode_of(st: os.stat_result) -> tuple[int, int]:
        return (st.st_dev, st.st_ino)

    def _read_new(self) -> list[Entry]:
        """Entries appended to the open file since `_offset`, oldest first (a burst over POLL_BYTES: its newest
        part, the rest counted in `skipped`)."""
        size = os.fstat(self._fd).st_size
        if size < self._offset:  # truncated: read it again from its start (keys after the old ones)
            self._base += self._offset
            self._offset, self._pending = 0, b""
        if size == self._offset:
            return []
        start = self._offset
        burst = size - start > POLL_BYTES
        skip_to = size - POLL_BYTES if burst else start
        data = _pread(self._fd, skip_to, size - skip_to)
        self._offset = skip_to + len(data)
        if burst:
            # a burst bigger than one read: keep its newest part (from a line's start), count the rest
            skip_to, data = _line_start(skip_to, data)
            self.skipped += self._count(self._fd, start, skip_to) + (1 if self._needle in self._pending else 0)
            self._pending = b""
        if self._pending:
            data, skip_to = self._pending + data, self._pending_at
            self._pending = b""
        return self._parse(data, skip_to)

    async def follow(self, interval: float = 0.25) -> AsyncIterator[list[Entry]]:
        """Batches of new entries (newest first) as they are appended, by any process. Cancel to stop."""
        while True:
            await asyncio.sleep(interval)
            batch = await asyncio.to_thread(self.poll)
            if batch:
                yield batch


def _pread(fd: int, start: int, size: int) -> bytes:
    """`size` bytes from byte `start` (fewer at the end of the file)."""
    parts: list[bytes] = []
    while size > 0:
        chunk = os.pread(fd, size, start)
        if not chunk:
            break
        parts.append(chunk)
        start += len(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _line_start(start: int, data: bytes) -> tuple[int, bytes]:
    """`data` read from byte `start` > 0 begins mid-line (that line's head is outside the read): from the next line."""
    if start == 0:
        return start, data
    nl = data.find(b"\n")
    if nl < 0:
        return start + len(data), b""
    return start + nl + 1, data[nl + 1 :]


async def open_timeline(
    service: SandboxService, sandbox_id: str, *, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES
) -> TimelineReader:
    """A reader of `sandbox_id`'s timeline, once the caller may see that sandbox (raises `SandboxNotFound` else)."""
    await service.get(sandbox_id)
    return TimelineReader(service.config.audit_log, sandbox_id, max_bytes=max_bytes, max_entries=max_entries)
