"""What the service keeps of each exec for the Timeline: a bounded, redacted copy of its output, on disk.

`OutputKeeper` sees every chunk of stdout and stderr as it comes (in arrival order) and keeps only the first and
the last `limit / 2` bytes; `finish` redacts both (services/redact.py) and joins them with a
`… N bytes left out …` marker. At each cut the partial line (or word) is dropped as well, so a secret that straddles
a cut — whose other half is not there to be recognised — never survives as a fragment.

`OutputStore` keeps those under `<data_dir>/exec-output/<sandbox>/<id>.out`: written to a temp and renamed (mode
0600, folders 0700), ids ordered by time, and at most `total` bytes and `MAX_FILES` outputs per sandbox — the
oldest go first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from services.errors import InvalidInput, SandbenchError
from services.redact import Redactor

OUTPUT_ID = re.compile(r"[0-9a-f]{16}-[0-9a-f]{8}")
MAX_FILES = 1000  # outputs kept per sandbox whatever their size (each trim lists them: keep that cheap)
CUT_LINE = 4096  # at a cut, drop back to the line's start when it is this close, else to a word's
CUT_WORD = 256


class OutputNotFound(SandbenchError):
    """No kept output by that id (never kept, dropped by the bound, or not this sandbox's)."""

    exit_code = 3


class OutputKeeper:
    """The head and tail of a command's combined output, bounded by `limit` bytes in memory whatever it prints."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self._half = self.limit // 2
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        if self.limit <= 0:
            return
        room = self.limit - self._half - len(self._head) if not self._tail else 0
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > self._half:
                del self._tail[: len(self._tail) - self._half]

    def finish(self, redactor: Redactor) -> bytes | None:
        """The kept output, redacted, with a marker where bytes were left out (None: there was none)."""
        if self.total == 0 or self.limit <= 0:
            return None
        kept = len(self._head) + len(self._tail)
        if kept == self.total:
            return redactor.data(bytes(self._head + self._tail))
        head, tail = _cut_end(bytes(self._head)), _cut_start(bytes(self._tail))
        left_out = self.total - len(head) - len(tail)
        marker = f"\n… {left_out} bytes left out …\n".encode()
        return redactor.data(head) + marker + redactor.data(tail)


def _cut_end(b: bytes) -> bytes:
    nl = b.rfind(b"\n", max(0, len(b) - CUT_LINE))
    if nl >= 0:
        return b[: nl + 1]
    sp = max(b.rfind(c, max(0, len(b) - CUT_WORD)) for c in (b" ", b"\t"))
    return b[: sp + 1] if sp >= 0 else b[: max(0, len(b) - CUT_WORD)]


def _cut_start(b: bytes) -> bytes:
    nl = b.find(b"\n", 0, CUT_LINE)
    if nl >= 0:
        return b[nl + 1 :]
    found = [i for i in (b.find(b" ", 0, CUT_WORD), b.find(b"\t", 0, CUT_WORD)) if i >= 0]
    return b[min(found) + 1 :] if found else b[CUT_WORD:]


class OutputStore:
    def __init__(self, data_dir: Path, total: int, max_files: int = MAX_FILES) -> None:
        self.root = data_dir / "exec-output"
        self.total = total
        self.max_files = max_files

    def _dir(self, sandbox_id: str, *, create: bool = False) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", sandbox_id) or sandbox_id in (".", ".."):
            raise InvalidInput("not a sandbox id")
        d = self.root / sandbox_id
        if create:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            d.mkdir(mode=0o700, exist_ok=True)
        return d

    @contextlib.contextmanager
    def _locked(self, d: Path) -> Iterator[None]:
        fd = os.open(d / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def put(self, sandbox_id: str, data: bytes) -> str | None:
        """Keep `data` (already bounded and redacted); its id, or None when it is larger than the whole bound."""
        if len(data) > self.total:
            return None
        d = self._dir(sandbox_id, create=True)
        out_id = f"{time.time_ns():016x}-{secrets.token_hex(4)}"
        with self._locked(d):
            tmp = d / f".{out_id}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except BaseException:
                os.close(fd)
                tmp.unlink(missing_ok=True)
                raise
            os.close(fd)
            os.rename(tmp, d / f"{out_id}.out")
            self._trim(d)
        return out_id

    def _trim(self, d: Path) -> None:
        files = sorted((p for p in d.iterdir() if p.suffix == ".out"), key=lambda p: p.name)
        sizes = {p: p.stat().st_size for p in files}
        used = sum(sizes.values())
        left = len(files)
        for p in files:  # oldest first: ids begin with the time
            if used <= self.total and left <= self.max_files:
                break
            used -= sizes[p]
            left -= 1
            p.unlink(missing_ok=True)

    def read(self, sandbox_id: str, output_id: str) -> bytes:
        if not isinstance(output_id, str) or not OUTPUT_ID.fullmatch(output_id):
            raise OutputNotFound("no such output (an output id is 16 hex digits, '-', 8 hex digits)")
        try:
            fd = os.open(self._dir(sandbox_id) / f"{output_id}.out", os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            raise OutputNotFound(f"no output {output_id} kept for this sandbox (dropped, or never kept)") from None
        with os.fdopen(fd, "rb") as f:
            return f.read(self.total + 1)

    def drop(self, sandbox_id: str) -> None:
        """Forget a deleted sandbox's outputs."""
        d = self._dir(sandbox_id)
        if d.is_dir():
            for p in d.iterdir():
                p.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                d.rmdir()
