"""The code interpreter's driver: the program one interpreter context runs *inside the sandbox* (never on the host).

`services.server.interpreter` starts it on a PTY of the sandbox, with this file's text in an environment variable
(data, never shell text), and speaks JSON lines with it. It is standalone (standard library only) and must keep
working on the sandbox's `python3`, so it imports nothing from sandbench.

Protocol, one JSON object per line:
- in (the PTY, put in raw mode first): `{"op": "run", "code": str, "envs": {str: str}}` and `{"op": "interrupt"}`;
- out (the PTY): a ready marker line first, then `{"type": "stdout"|"stderr", "text": str}`,
  `{"type": "error", "name", "value", "traceback"}` and, to end each run, `{"type": "control", "text":
  "completed"|"interrupted"}`; `{"type": "fatal", "text": str}` when the context cannot start.

The user's code runs in one persistent namespace in the main thread. Python-level `sys.stdout`/`sys.stderr` become
frames directly (their order is kept); file descriptors 1 and 2 are pipes forwarded by a thread, so a subprocess's
output is captured too and never mixes with the protocol. An interrupt raises KeyboardInterrupt in the main thread.
"""

from __future__ import annotations

import codecs
import io
import json
import linecache
import os
import queue
import select
import signal
import sys
import threading
import time
import traceback
import tty
from typing import Any

CHUNK = 65536  # characters per frame at most
FLUSH_DELAY = 0.02  # seconds output may wait to be sent with what follows it
KEEP_CELLS = 200  # source of recent cells kept for tracebacks

_out_lock = threading.Lock()
_state_lock = threading.Lock()
_running = False
_interrupt_asked = False
OUT_FD = -1  # the PTY, for frames only (set in main)
OUTPUT: _Output  # set in main
FORWARDER: _Forwarder  # set in main


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def emit(obj: dict[str, Any]) -> None:
    line = (json.dumps(obj, ensure_ascii=True) + "\n").encode("ascii")
    with _out_lock:
        _write_all(OUT_FD, line)


def emit_text(kind: str, text: str) -> None:
    for i in range(0, len(text), CHUNK):
        emit({"type": kind, "text": text[i : i + CHUNK]})


class _Output:
    """Output waiting to become frames, in the order it was written. Writes only append (a loop of prints costs no
    syscall per line); `flush()` sends it, and a thread does so `FLUSH_DELAY` after the first write, so output
    streams within that delay even without a newline or an explicit flush."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the pending list
        self._sending = threading.Lock()  # one flush at a time, so batches never overtake each other
        self._pending: list[tuple[str, list[str]]] = []
        self._size = 0
        self._dirty = threading.Event()
        threading.Thread(target=self._flusher, daemon=True).start()

    def add(self, kind: str, text: str) -> None:
        with self._lock:
            if self._pending and self._pending[-1][0] == kind:
                self._pending[-1][1].append(text)
            else:
                self._pending.append((kind, [text]))
            self._size += len(text)
            big = self._size >= CHUNK
        self._dirty.set()
        if big:
            self.flush()

    def flush(self) -> None:
        with self._sending:
            with self._lock:
                batch, self._pending, self._size = self._pending, [], 0
                self._dirty.clear()
            for kind, texts in batch:
                emit_text(kind, "".join(texts))

    def _flusher(self) -> None:
        while True:
            self._dirty.wait()
            time.sleep(FLUSH_DELAY)
            self.flush()


class _Bytes(io.RawIOBase):
    """`sys.stdout.buffer`: bytes decoded incrementally (a character split across writes stays whole)."""

    def __init__(self, kind: str, fd: int) -> None:
        self.kind, self.fd = kind, fd
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        text = self.decoder.decode(bytes(b))
        if text:
            FORWARDER.catch_up()
            OUTPUT.add(self.kind, text)
        return len(b)

    def fileno(self) -> int:
        return self.fd  # the forwarded pipe: a subprocess given sys.stdout writes where print does

    def isatty(self) -> bool:
        return False


class _Text(io.TextIOBase):
    """`sys.stdout` / `sys.stderr` of the user's code."""

    def __init__(self, kind: str, fd: int) -> None:
        self.kind = kind
        self._buffer = _Bytes(kind, fd)

    @property
    def buffer(self) -> _Bytes:
        return self._buffer

    @property  # read-only on io.TextIOBase too
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "backslashreplace"

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if s:
            FORWARDER.catch_up()
            OUTPUT.add(self.kind, s)
        return len(s)

    def flush(self) -> None:
        pass  # the flusher sends within FLUSH_DELAY; the end of a run sends everything

    def fileno(self) -> int:
        return self._buffer.fd

    def isatty(self) -> bool:
        return False


class _Forwarder(threading.Thread):
    """Forwards what processes write to fds 1 and 2 (the pipes' read ends) as output. `catch_up()` takes in what
    is there now: before each Python-level write (a child that has finished printed before the line that follows
    it) and at the end of a run (a run's output comes before its end)."""

    def __init__(self, pipes: dict[int, str]) -> None:
        super().__init__(daemon=True)
        self.pipes = pipes  # read fd -> kind
        self.decoders = {fd: codecs.getincrementaldecoder("utf-8")("replace") for fd in pipes}
        self._lock = threading.Lock()
        for fd in pipes:
            os.set_blocking(fd, False)

    def _read(self, fd: int, budget: int) -> None:
        got = 0
        while got < budget:
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                return
            if not data:
                return
            got += len(data)
            text = self.decoders[fd].decode(data)
            if text:
                OUTPUT.add(self.pipes[fd], text)

    def catch_up(self, budget: int = 4 * 1024 * 1024) -> None:
        # bounded: a background child flooding fd 1 cannot hold a write, or the end of a run, forever
        ready, _, _ = select.select(list(self.pipes), [], [], 0)
        if ready:
            with self._lock:
                for fd in ready:
                    self._read(fd, budget)

    def run(self) -> None:
        while True:
            ready, _, _ = select.select(list(self.pipes), [], [])
            with self._lock:
                for fd in ready:
                    self._read(fd, CHUNK * 4)


def _reader(in_fd: int, runs: queue.Queue[dict[str, Any] | None], main_ident: int) -> None:
    """Reads requests from the PTY. Runs go to the main thread; an interrupt is a SIGINT to the main thread, and
    only while a run is in progress (once per run), so it can never land in the driver's own code between runs."""
    global _interrupt_asked
    parts: list[bytes] = []  # of the line being received: a 16 MiB request is joined once, not copied per read
    while True:
        try:
            data = os.read(in_fd, 65536)
        except OSError:
            data = b""
        if not data:
            runs.put(None)
            return
        *complete, rest = data.split(b"\n")
        lines = []
        for piece in complete:
            lines.append(b"".join([*parts, piece]))
            parts = []
        if rest:
            parts.append(rest)
        for line in lines:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            if msg.get("op") == "run":
                runs.put(msg)
            elif msg.get("op") == "interrupt":
                with _state_lock:
                    if _running and not _interrupt_asked:
                        _interrupt_asked = True
                        signal.pthread_kill(main_ident, signal.SIGINT)


def _clean_traceback(exc: BaseException) -> str:
    tb = exc.__traceback__
    # the driver's own frames (it runs as `python3 -c`, so "<string>") come first: the user sees only theirs
    while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _set_envs(envs: dict[str, Any]) -> dict[str, str | None]:
    saved: dict[str, str | None] = {}
    for key, value in envs.items():
        if isinstance(key, str) and isinstance(value, str) and key and "=" not in key and "\x00" not in key + value:
            saved[key] = os.environ.get(key)
            os.environ[key] = value
    return saved


def _restore_envs(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _stop_running() -> None:
    global _running
    while True:
        try:
            with _state_lock:
                _running = False
            return
        except KeyboardInterrupt:  # an interrupt that was already on its way
            continue


def execute(namespace: dict[str, Any], cell: int, code: str, envs: dict[str, Any], forwarder: _Forwarder) -> None:
    global _running, _interrupt_asked
    name = f"<cell {cell}>"
    if len(code) < 1024 * 1024:
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)
        linecache.cache.pop(f"<cell {cell - KEEP_CELLS}>", None)
    error: BaseException | None = None
    control = "completed"
    saved: dict[str, str | None] = {}
    try:
        try:
            with _state_lock:
                _running, _interrupt_asked = True, False
            saved = _set_envs(envs)
            exec(compile(code, name, "exec"), namespace)  # noqa: S102 -- running the client's code is the point
        finally:
            _stop_running()
    except KeyboardInterrupt as exc:
        if _interrupt_asked:
            control = "interrupted"
        else:  # the user's own KeyboardInterrupt is an error like any other
            error = exc
    except SystemExit:
        pass  # as in Daytona: sys.exit() ends the run, not the context
    except BaseException as exc:
        error = exc
    for _ in range(3):  # the ending must get out even if a late interrupt arrives meanwhile
        try:
            _restore_envs(saved)
            forwarder.catch_up()
            OUTPUT.flush()
            if error is not None:
                emit(
                    {
                        "type": "error",
                        "name": type(error).__name__,
                        "value": str(error),
                        "traceback": _clean_traceback(error),
                    }
                )
            emit({"type": "control", "text": control})
            return
        except KeyboardInterrupt:
            continue


def main() -> None:
    global OUT_FD, OUTPUT, FORWARDER
    ready = os.environ.pop("SANDBENCH_INTERP_READY", "")
    cwd = os.environ.pop("SANDBENCH_INTERP_CWD", "")
    os.environ.pop("SANDBENCH_INTERP", None)
    os.environ.pop("HISTFILE", None)
    tty.setraw(0)  # no echo, no line editing, no signal keys, no newline translation: bytes pass as they are
    in_fd, OUT_FD = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    pipes: dict[int, str] = {}
    for fd, kind in ((1, "stdout"), (2, "stderr")):
        r, w = os.pipe()
        os.dup2(w, fd)
        os.close(w)
        pipes[r] = kind
    for fd in (in_fd, OUT_FD, devnull, *pipes):
        os.set_inheritable(fd, False)
    sys.stdin = open(os.devnull)  # the code reads no input: the PTY carries requests
    OUTPUT = _Output()
    forwarder = FORWARDER = _Forwarder(pipes)
    sys.stdout, sys.stderr = _Text("stdout", 1), _Text("stderr", 2)
    _write_all(OUT_FD, (ready + "\n").encode())
    if cwd:
        try:
            os.chdir(cwd)
        except OSError as exc:
            emit({"type": "fatal", "text": f"cannot use {cwd!r} as the working directory: {exc.strerror}"})
            return
    forwarder.start()  # `python3 -c` has "" first on sys.path: modules in the working directory import
    runs: queue.Queue[dict[str, Any] | None] = queue.Queue()
    main_ident = threading.main_thread().ident or 0
    threading.Thread(target=_reader, args=(in_fd, runs, main_ident), daemon=True).start()
    namespace = {"__name__": "__main__", "__doc__": None, "__package__": None, "__builtins__": __builtins__}
    emit({"type": "control", "text": "ready"})
    cell = 0
    while True:
        try:
            msg = runs.get()
            if msg is None:
                return
            cell += 1
            code, envs = msg.get("code"), msg.get("envs")
            execute(
                namespace,
                cell,
                code if isinstance(code, str) else "",
                envs if isinstance(envs, dict) else {},
                forwarder,
            )
        except KeyboardInterrupt:
            continue


if __name__ == "__main__":
    main()
