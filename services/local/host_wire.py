"""The session host's unix socket: where it is, who may use it, and the frames spoken over it.

The socket is `<data dir>/run/host.sock`: the run folder is 0700 and the socket 0600, both owned by the user, and
the host checks each peer's uid (SO_PEERCRED) as well, so only that user's processes reach its shells. A client
checks the folder and the socket before connecting and refuses anything else (fail closed: a socket planted by
someone else would otherwise receive every keystroke).

Frames: one byte of kind, four of length (network order), then the payload. A connection starts with one JSON
request (`J`) and its JSON reply; `open` and `attach` then carry the terminal: output (`D`), the foreground
program's name when it changes (`F`) and the exit status (`X`, then the host closes) one way; input (`D`), resize
(`R`) and kill (`K`) the other. Closing the connection detaches: the shell keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from services.errors import ProviderError

HEADER = struct.Struct("!cI")
MAX_FRAME = 4 * 1024 * 1024
JSON, DATA, RESIZE, KILL, EXIT, FOREGROUND = b"J", b"D", b"R", b"K", b"X", b"F"
SIZE = struct.Struct("!HH")
CODE = struct.Struct("!i")
# A unix socket path is at most 107 bytes; a longer one is reached through /proc/self/fd/N of its folder.
MAX_SUN_PATH = 100


def run_dir(data_dir: Path) -> Path:
    return data_dir / "run"


def socket_path(data_dir: Path) -> Path:
    return run_dir(data_dir) / "host.sock"


def pid_path(data_dir: Path) -> Path:
    return run_dir(data_dir) / "host.pid"


def check_private(path: Path, *, kind: str) -> None:
    """`path` must be ours, not a symlink, and reachable by nobody else (folder 0700, socket 0600); else refuse."""
    st = os.lstat(path)
    me = os.geteuid()
    if kind == "dir":
        ok = stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077 == 0
    else:
        ok = stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o177 == 0
    if not ok or st.st_uid != me:
        raise ProviderError(
            f"the terminal session host's {kind} {path} is not private to this user "
            f"(owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o}); refusing to use it",
            public="the terminal session host's socket is not private; refusing to use it",
        )


@contextlib.contextmanager
def address(path: Path) -> Iterator[str]:
    """A path for bind/connect no longer than a unix socket allows: `path` itself, or its name under
    /proc/self/fd of its folder opened for the duration."""
    if len(os.fsencode(path)) <= MAX_SUN_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def json_frame(obj: dict[str, Any]) -> bytes:
    return frame(JSON, json.dumps(obj).encode())


class FrameProtocol(asyncio.Protocol):
    """Frames in, frames out, on an asyncio transport: each complete frame is handed to `on_frame` as it arrives
    (no task between the socket and the consumer: a key's echo costs no extra loop turn); `drain()` waits while
    the transport's buffer is over its high-water mark."""

    def __init__(self, on_frame: Callable[[bytes, bytes], None], on_lost: Callable[[], None]) -> None:
        self._on_frame = on_frame
        self._on_lost = on_lost
        self._buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while len(buf) >= HEADER.size:
            kind, size = HEADER.unpack_from(buf)
            if size > MAX_FRAME:
                self.close()
                return
            end = HEADER.size + size
            if len(buf) < end:
                break
            payload = bytes(buf[HEADER.size : end])
            del buf[:end]
            self._on_frame(kind, payload)
            if self.closed:
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._can_write.set()
        self._on_lost()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    @property
    def writable(self) -> bool:
        """The transport's buffer is under its high-water mark: a send now waits for nothing."""
        return not self.closed and self._can_write.is_set()

    async def drain(self) -> None:
        await self._can_write.wait()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()
