"""Raw inotify through ctypes: an instance, watches on folder fds, and `struct inotify_event` parsed by hand.

Not watchfiles: its debounce thread cannot say it is caught up, and the change feed's correctness rests on exactly
that (services/checkpoints/feed.py). Here a non-blocking read of the instance until EAGAIN returns every event the
kernel queued so far — and the kernel queues an event inside the modifying syscall itself.

A watch is added on `/proc/self/fd/N` of a folder the caller opened safely (openat2 beneath the workspace, no
symlinks): that magic link names exactly the open inode, so a sandbox cannot make us watch a path it swapped for a
symlink. The per-user limits (`max_user_watches`, `max_user_instances`) are shared with every other tool of the
user: running out is `InotifyUnavailable`, and the caller works without a feed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import NamedTuple

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# what a folder's watch asks for: every change to a name in it, and to the folder itself. Not IN_EXCL_UNLINK: a
# write through an unlinked name that was a hard link still changes the file's other name.
FOLDER_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)

_HEADER = struct.Struct("iIII")  # int wd; uint32_t mask, cookie, len; then char name[len], NUL-padded
READ_SIZE = 64 * 1024


class InotifyUnavailable(Exception):
    """No inotify instance or watch could be had (a per-user limit reached, or no inotify): run without a feed."""


class ParseError(Exception):
    """The bytes read are not a sequence of whole `struct inotify_event`s: the feed cannot trust what it read."""


class Event(NamedTuple):
    wd: int
    mask: int
    cookie: int
    name: str  # "" for an event on the watched folder itself


_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.inotify_init1.argtypes = [ctypes.c_int]
        lib.inotify_init1.restype = ctypes.c_int
        lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        lib.inotify_add_watch.restype = ctypes.c_int
        lib.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.inotify_rm_watch.restype = ctypes.c_int
        _libc = lib
    return _libc


def parse(buf: bytes) -> list[Event]:
    """The events in `buf` (what one read returned). ParseError on anything but whole events."""
    out: list[Event] = []
    off, end, size = 0, len(buf), _HEADER.size
    unpack = _HEADER.unpack_from
    while off < end:
        if end - off < size:
            raise ParseError("a truncated inotify event header")
        wd, mask, cookie, length = unpack(buf, off)
        off += size
        if length > end - off:
            raise ParseError("an inotify event name past the end of the read")
        raw = buf[off : off + length]
        off += length
        nul = raw.find(b"\0")
        name = raw[:nul] if nul >= 0 else raw
        if b"/" in name:
            raise ParseError("an inotify event name with a slash")
        out.append(Event(wd, mask, cookie, os.fsdecode(name)))
    return out


class Inotify:
    """One inotify instance (non-blocking, close-on-exec). Not thread-safe: the feed serializes its use."""

    def __init__(self) -> None:
        try:
            lib = _lib()
        except (OSError, AttributeError) as exc:
            raise InotifyUnavailable("inotify is not available here") from exc
        fd = lib.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise InotifyUnavailable(f"no inotify instance: {os.strerror(err)}")
        self.fd: int = fd
        self._lib = lib

    def add_watch(self, dir_fd: int, mask: int = FOLDER_MASK) -> int:
        """A watch on the folder open as `dir_fd` (that inode, through /proc/self/fd): its watch descriptor — the
        same one again when that inode is watched already. InotifyUnavailable when a limit is reached."""
        wd = self._lib.inotify_add_watch(self.fd, f"/proc/self/fd/{dir_fd}".encode(), mask)
        if wd < 0:
            err = ctypes.get_errno()
            if err in (errno.ENOSPC, errno.EMFILE, errno.ENOMEM):
                raise InotifyUnavailable(f"no inotify watch: {os.strerror(err)} (fs.inotify.max_user_watches)")
            raise OSError(err, os.strerror(err))
        return int(wd)

    def rm_watch(self, wd: int) -> None:
        self._lib.inotify_rm_watch(self.fd, wd)  # EINVAL: gone already (its folder was removed)

    def read(self) -> list[Event]:
        """Every event queued so far (nothing blocks: an empty list when there is none)."""
        out: list[Event] = []
        while True:
            try:
                buf = os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                return out
            if not buf:
                return out
            out.extend(parse(buf))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
