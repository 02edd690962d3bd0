"""The audit log: one JSON line per service operation — who, which sandbox, which operation, which path, outcome.

Never file contents, command output, environment values or secrets: callers pass only the fields below. An exec's
entry (`record_exec`) carries its command line *redacted* by the caller (services/redact.py), its duration, exit
code, the checkpoints around it and the id of its kept output — the Timeline is read from these lines:

    {"ts", "who", "provider", "op": "exec", "outcome", "sandbox", "path": cwd, "program", "argv": [...],
     "ms": duration, "exit": code (absent on error), "before": checkpoint id | null, "after": checkpoint id | null,
     "output": output id (absent when none kept), "internal": true (only for the app's own read-only probes)}

`who` is who acted. It is the log's identity (the service's owner), unless the operation runs `acting_as` another
name — a `sandbench serve` token acting for an owner under its own name (services/server/auth.py) — and then the
entry says `"who": NAME, "for": OWNER`. The acting name is a context variable, so it follows the request into the
tasks and threads it starts and never leaks into another request's entries.

**Rotation** (issue 15): when a write leaves the file at `max_bytes` or more, the writer renames it to
`audit.jsonl.1` (older ones shifted to `.2`, `.3`…; beyond `keep` files or older than `keep_days` deleted) and
creates a fresh `audit.jsonl`. Several processes append at once (the app, the CLI, `sandbench serve`), so rotation
and appends share one protocol, on `flock`s of the current file's inode:

- a writer takes a *shared* lock on its fd, checks the path still names its fd's inode (else reopens the path and
  tries again), writes its one line, unlocks: 3 more syscalls per line (bench/audit.py);
- a rotator takes an *exclusive* lock on the current inode, checks the path still names it (else another process
  rotated first: nothing to do), shifts and prunes the old files, renames the current one away last, creates the
  new one, unlocks.

So a line is never written into a file after it was renamed away, none is lost, and a reader that sees the path
name a new inode knows the old file is complete (services/timeline.py reads across the boundary). Files written by
a sandbench that predates this protocol are still rotated; its lines may land in `.1` then.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

# the name the current operation acts under, when it is not the service's own identity
ACTING: contextvars.ContextVar[str | None] = contextvars.ContextVar("sandbench_acting", default=None)


@contextlib.contextmanager
def acting_as(name: str | None) -> Iterator[None]:
    """Within the block (and the tasks and threads it starts), audit entries say `who: name` (None: the owner)."""
    token = ACTING.set(name)
    try:
        yield
    finally:
        ACTING.reset(token)


def rotated_path(path: Path, n: int) -> Path:
    """The `n`th newest rotated file of the log at `path` (`audit.jsonl.1` is the newest)."""
    return path.with_name(f"{path.name}.{n}")


def rotated_files(path: Path) -> list[tuple[int, Path]]:
    """The rotated files of the log at `path` as (number, path), newest first."""
    prefix = path.name + "."
    found: list[tuple[int, Path]] = []
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    for name in names:
        tail = name[len(prefix) :] if name.startswith(prefix) else ""
        if tail.isdigit() and tail[0] != "0":
            found.append((int(tail), path.parent / name))
    return sorted(found)


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def rotate(path: Path, *, keep: int = 0, keep_days: float = 0.0, min_bytes: int = 1) -> bool:
    """Rotate the log at `path` if it holds at least `min_bytes`; True when this call rotated it.

    `keep`: rotated files kept at most (0: no count bound); `keep_days`: rotated files older than this are deleted
    (0: no age bound). Safe against other writers and rotators in other processes (the module's docstring)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        st = os.fstat(fd)
        try:
            if not _same(os.stat(path, follow_symlinks=False), st):
                return False  # another process rotated it while this one waited for the lock
        except FileNotFoundError:
            return False
        if st.st_size < max(1, min_bytes):
            return False
        # the shifting and pruning first and the current file's rename last: a second rotator can only lock the
        # new file once the rename is done, so it never shifts files this one is still moving
        older = rotated_files(path)
        cutoff = time.time() - keep_days * 86400 if keep_days > 0 else None
        for n, old in reversed(older):
            try:
                if (keep and n + 1 > keep) or (cutoff is not None and old.stat().st_mtime < cutoff):
                    old.unlink()
                else:
                    os.rename(old, rotated_path(path, n + 1))
            except FileNotFoundError:
                pass
        os.rename(path, rotated_path(path, 1))
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        except FileExistsError:
            pass  # a writer starting just now created it
        return True
    finally:
        os.close(fd)  # and with it the lock


class AuditLog:
    def __init__(
        self,
        path: Path,
        identity: str,
        provider: str,
        *,
        max_bytes: int = 0,
        keep: int = 0,
        keep_days: float = 0.0,
    ):
        """`max_bytes`: rotate when a write leaves the file at least this big (0: never, from this process; it
        still follows rotations done by others); `keep`, `keep_days`: retention of rotated files (see `rotate`)."""
        self.path = path
        self.identity = identity
        self.provider = provider
        self.max_bytes = max_bytes
        self.keep = keep
        self.keep_days = keep_days
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = -1
        self._st: os.stat_result | None = None
        self._open()

    def _open(self) -> None:
        # O_APPEND makes each line one write at the end, whatever other processes append meanwhile
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._st = fd, os.fstat(fd)

    def record(
        self,
        op: str,
        *,
        sandbox: str | None = None,
        name: str | None = None,
        path: str | None = None,
        dest: str | None = None,
        program: str | None = None,
        outcome: str = "ok",
    ) -> None:
        entry: dict[str, object] = {
            "ts": round(time.time(), 3),
            "who": self.actor(),
            "provider": self.provider,
            "op": op,
            "outcome": outcome,
        }
        for key, value in (("sandbox", sandbox), ("name", name), ("path", path), ("dest", dest), ("program", program)):
            if value is not None:
                entry[key] = value
        self._write(entry)

    def record_exec(
        self,
        *,
        sandbox: str,
        cwd: str,
        program: str,
        argv: list[str],
        ms: int,
        outcome: str = "ok",
        exit_code: int | None = None,
        before: str | None = None,
        after: str | None = None,
        output: str | None = None,
        internal: bool = False,
        who: str | None = None,
    ) -> None:
        """One exec's entry; `argv` and `program` must already be redacted."""
        entry: dict[str, object] = {
            "ts": round(time.time(), 3),
            "who": who or self.actor(),
            "provider": self.provider,
            "op": "exec",
            "outcome": outcome,
            "sandbox": sandbox,
            "path": cwd,
            "program": program,
            "argv": argv,
            "ms": ms,
        }
        if exit_code is not None:
            entry["exit"] = exit_code
        entry["before"] = before
        entry["after"] = after
        if output is not None:
            entry["output"] = output
        if internal:
            entry["internal"] = True
        self._write(entry)

    def actor(self) -> str:
        """Who is acting now: the `acting_as` name, else the log's identity."""
        return ACTING.get() or self.identity

    def _write(self, entry: dict[str, object]) -> None:
        if entry["who"] != self.identity:
            entry["for"] = self.identity  # whose sandbox and rights the actor used
        line = (json.dumps(entry, ensure_ascii=True) + "\n").encode()
        with self._lock:
            if self._fd < 0:
                raise OSError(errno.EBADF, "audit log is closed")
            size = self._append(line)
            if self.max_bytes and size >= self.max_bytes:
                rotate(self.path, keep=self.keep, keep_days=self.keep_days, min_bytes=self.max_bytes)

    def _append(self, line: bytes) -> int:
        """Write one line into the file the path names now (never one renamed away); the file's size after it."""
        for _ in range(100):  # a path that names a new file on every try: a rotation storm, not a state to wait in
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            try:
                assert self._st is not None
                try:
                    current = _same(os.stat(self.path, follow_symlinks=False), self._st)
                except FileNotFoundError:
                    current = False
                if current:
                    os.write(self._fd, line)
                    return os.lseek(self._fd, 0, os.SEEK_END)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._open()  # rotated (or removed) by someone: append to the file the path names now
        raise OSError(f"{self.path}: replaced on every write attempt")

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
