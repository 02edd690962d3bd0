"""WorkspaceFS: the host-side file API over one local sandbox's workspace (docs/isolation.md, "The host side").

The workspace is written by hostile code. bubblewrap keeps that code inside, but this module runs on the host —
possibly as root — and every path it is given names something the sandbox controls. So this module owns:

- **Path resolution that cannot leave the workspace.** The workspace root is opened once as an `O_PATH` directory
  fd; every path is resolved beneath it with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
  RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)` (a ctypes shim: `services.local.linux_calls`). Where `openat2` is missing
  (kernels before 5.6, or a seccomp profile that refuses it) the same guarantee comes from a component-by-component
  walk with `O_PATH | O_NOFOLLOW | O_DIRECTORY` on the previous component's fd. Symlinks are never followed — not in
  the middle of a path and not at its end. The final component is always acted on relative to its parent's fd, so
  a rename race between "check" and "use" has nothing to win: there is no second lookup by name from the host root.
- **Refusing what is not a regular file or directory** before reading it (FIFOs would hang a reader, devices
  have side effects on open), opening with `O_NONBLOCK` so even a FIFO swapped in after the check cannot hang us.
- **Atomic writes** (temp file in the same directory, fsync, rename over the old name): the sandbox never sees a
  half-written file, a failed write leaves the old content, and nothing is ever written *through* an existing inode
  (so a planted hard link cannot redirect a write). Many at once (`commit_many`, a restore's): every temp fsynced
  (concurrently, so the filesystem commits its journal once for them), then each renamed, then each folder fsynced
  once: each file still on disk before its name points at it, for far fewer flushes.
- **Temp files left by a killed write** (`sweep_temps`). Every atomic write (`open_write`'s `AtomicWrite`, which
  `write` uses too) records its temp's name — before creating it — and then its inode in a journal folder outside
  the workspace, one entry per write, `flock`ed until `commit()` or `abort()` removes it. An entry nobody holds
  locked belongs to a process that died mid-write: its temp is removed — if it is still a regular file with our
  name and that inode, found beneath the root without following symlinks and unlinked relative to its parent's
  fd. Exact and cheap (a walk of a 20,000-file workspace to find them would cost every start; the journal costs
  one small file per write). Our temp names are also kept out of every listing.
- **Ownership**: when the app runs as root the files it creates are chowned to the sandbox's uid/gid.
- **The soft disk limit** for writes made through this API (`usage()`: `st_blocks`, hard links once).

Size: one class over hostile paths (~1,100 lines), kept whole so that one review covers every system call the host
makes on a workspace: each method resolves beneath the root fd and acts relative to its parent's fd, and the
atomic-write journal is the same rule applied to temp files. The ctypes shims are `linux_calls.py`.

Every failure is a `services.errors` type with a short message naming sandbox-relative paths only (never the
workspace's host path; `str(OSError)` would include it, so it is never used), chained to the OSError.

Paths arrive already normalised by `services.paths.normalize` ('a/b/c', '' = the root). They are checked again
here (no '..', no '.', no empty component, no NUL, not absolute) because this is the last line of defence.

Why one ~1,100-line file: `WorkspaceFS` is one class whose every method follows the same fd discipline (resolve
beneath the root, act relative to the parent's fd, map the OSError); keeping it and its atomic write together
lets a security review read the whole host-side surface in one place. The ctypes syscall shims are apart
(`linux_calls.py`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from services.errors import (
    AlreadyExists,
    Conflict,
    DiskLimitExceeded,
    FileNotFound,
    InvalidInput,
    PathRejected,
    PermissionDenied,
    ProviderError,
    SandbenchError,
    TooLarge,
)
from services.local.linux_calls import RENAME_NOREPLACE, openat2, renameat2
from services.models import FileData, FileEntry, FileKind
from services.units import byte_size

__all__ = ["USE_OPENAT2", "AtomicWrite", "WorkspaceFS", "is_temp_name"]

USE_OPENAT2 = True
"""Module switch: False forces the component-walk fallback for every WorkspaceFS created afterwards (tests)."""

USAGE_TTL = 5.0
FLUSH_THREADS = 16  # `commit_many`: fsyncs in flight at once (they wait on the disk, not on a core)
"""Seconds a measured `usage()` is trusted; writes and deletes through this object adjust it meanwhile."""

MAX_DELETE_DEPTH = 512
"""Recursive delete holds one fd per level; deeper trees than this are refused rather than exhausting fds."""

_TEMP_NAME = re.compile(r"\.sandbench-[0-9a-f]{16}\.tmp")
"""The atomic write's temp name (`write`): swept when a killed write left one, and never listed."""


def is_temp_name(name: str) -> bool:
    return _TEMP_NAME.fullmatch(name) is not None


_O_CLOEXEC = os.O_CLOEXEC
_DIR_PATH = os.O_PATH | os.O_DIRECTORY | _O_CLOEXEC  # a handle for *at() calls; no read permission needed
_DIR_READ = os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC  # getdents needs a readable fd
# O_NONBLOCK: a FIFO swapped in after the type check opens at once instead of waiting for a writer.
_FILE_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | _O_CLOEXEC


# -- small helpers --------------------------------------------------------------------------------------------
def _q(path: str) -> str:
    """A path for a message: quoted with repr so newlines and escape sequences from the sandbox stay inert."""
    return repr(path) if path else "the workspace root"


def _human(n: int) -> str:
    return byte_size(n, ("bytes", "KiB", "MiB", "GiB", "TiB"), " ")


def _kind(mode: int) -> FileKind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _what(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symlink (symlinks are not followed)"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    return "not a regular file"


def _split(path: str) -> list[str]:
    """The components of an already-normalised path, checked again: this module must not trust its callers."""
    if not isinstance(path, str):
        raise PathRejected("path must be text")
    if path == "":
        return []
    if "\x00" in path:
        raise PathRejected("path contains a NUL byte")
    if path.startswith("/"):
        raise PathRejected(f"absolute path refused: {path!r}")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise PathRejected(f"path is not in canonical form: {path!r}")
    try:
        os.fsencode(path)
    except UnicodeEncodeError as exc:
        raise PathRejected("path is not valid text") from exc
    return parts


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def _fail(exc: OSError, path: str, *, final: bool = True) -> SandbenchError:
    """Translate an OSError about `path` into a user-readable error. Never uses str(exc): it holds host paths.
    `final` says whether the failing lookup was of the path itself (True) or of a directory on the way."""
    code = exc.errno
    q = _q(path)
    if code == errno.ENOENT:
        return FileNotFound(f"{q} does not exist" if final else f"{q}: a folder on the way does not exist")
    if code == errno.ELOOP:
        if final:
            return PathRejected(f"{q} is a symlink (symlinks are not followed)")
        return PathRejected(f"{q} goes through a symlink (symlinks are not followed)")
    if code == errno.EXDEV:
        return PathRejected(f"{q} leaves the workspace (a mount point or an escape)")
    if code == errno.ENOTDIR:
        return FileNotFound(f"{q} is not a directory" if final else f"{q}: a parent is not a directory")
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"{q}: permission denied")
    if code == errno.EROFS:
        return PermissionDenied(f"{q}: the workspace is read-only")
    if code == errno.ENAMETOOLONG:
        return PathRejected(f"{q}: name or path too long")
    if code == errno.EEXIST:
        return AlreadyExists(f"{q} already exists")
    if code == errno.EISDIR:
        return PathRejected(f"{q} is a directory")
    if code == errno.ENOTEMPTY:
        return InvalidInput(f"{q} is a directory that is not empty")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return DiskLimitExceeded(f"{q}: no space left on the workspace's disk")
    if code in (errno.ENXIO, errno.EOPNOTSUPP):
        return PathRejected(f"{q} is not a regular file")
    return ProviderError(f"{q}: {os.strerror(code) if code else 'I/O error'}")


def _is_temp(de: os.DirEntry[str]) -> bool:
    """One of our atomic-write temps (a regular file with our name; a sandbox's symlink so named is listed)."""
    if not is_temp_name(de.name):
        return False
    try:
        return de.is_file(follow_symlinks=False)
    except OSError:
        return False


def _entry(path: str, st: os.stat_result, target: str | None = None) -> FileEntry:
    return FileEntry(
        path=path,
        name=path.rpartition("/")[2],
        kind=_kind(st.st_mode),
        size=st.st_size,
        mtime=st.st_mtime,
        mode=stat.S_IMODE(st.st_mode),
        symlink_target=target,
    )


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


class WorkspaceFS:
    """Synchronous; the provider calls it via asyncio.to_thread (so from several threads at once: every operation
    works on its own fds, and the only shared state — the root fd and the usage cache — is guarded).
    All paths are already-normalised relative paths."""

    def __init__(
        self,
        root: Path,
        *,
        owner_uid: int | None = None,
        owner_gid: int | None = None,
        disk_limit_bytes: int | None = None,
        use_openat2: bool | None = None,
        journal: Path | None = None,
        new_modes: tuple[int, int] = (0o644, 0o755),
    ) -> None:
        """`use_openat2`: None = use it when the kernel has it (and the module switch allows), False = force the
        component walk, True = require openat2 (ProviderError when unavailable). `journal`: a folder outside the
        workspace, ours alone, where writes record their temp files (created if missing); None = no journal.
        `new_modes`: the modes of new files and folders (a volume shared by sandboxes of several uids: 0666, 0777)."""
        try:
            # The root itself is trusted (the provider created it), so this one open may follow symlinks.
            self._root_fd = os.open(root, _DIR_PATH)
        except OSError as exc:
            raise FileNotFound("the workspace directory is missing or not a directory") from exc
        self._root_dev = os.fstat(self._root_fd).st_dev
        self.owner_uid = owner_uid
        self.owner_gid = owner_gid
        self.disk_limit_bytes = disk_limit_bytes
        self._file_mode, self._dir_mode = new_modes
        self._lock = threading.Lock()
        self._users = 0
        self._closed = False
        self._usage: tuple[float, int] | None = None  # (monotonic time measured, bytes)
        self._journal_fd = -1
        if journal is not None:
            try:
                journal.mkdir(mode=0o700, exist_ok=True)
                self._journal_fd = os.open(journal, _DIR_PATH)
            except OSError as exc:
                _close(self._root_fd)
                raise ProviderError("the sandbox's write journal cannot be opened") from exc
        want = USE_OPENAT2 if use_openat2 is None else use_openat2
        self.resolver: Literal["openat2", "walk"] = "walk"
        if want:
            try:
                _close(openat2(self._root_fd, "", _DIR_PATH))
                self.resolver = "openat2"
            except OSError as exc:
                # ENOSYS: kernel < 5.6. EPERM: a container's seccomp profile that predates openat2.
                if use_openat2:
                    self.close()
                    raise ProviderError("openat2 is not available on this kernel") from exc

    # -- lifetime -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._users == 0:
                self._release()

    def _release(self) -> None:
        if self._root_fd >= 0:
            _close(self._root_fd)
            self._root_fd = -1
        if self._journal_fd >= 0:
            _close(self._journal_fd)
            self._journal_fd = -1

    def __enter__(self) -> WorkspaceFS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _use(self) -> Iterator[int]:
        """The root fd, held open for the duration of an operation. close() from another thread waits for the last
        user: closing it mid-operation could let the fd number be reused for some other directory, and a later
        openat2 relative to it would then resolve beneath the wrong place."""
        with self._lock:
            if self._closed:
                raise ProviderError("the workspace is closed")
            self._users += 1
        try:
            yield self._root_fd
        finally:
            with self._lock:
                self._users -= 1
                if self._closed and self._users == 0:
                    self._release()

    # -- resolution ---------------------------------------------------------------------------------------------
    def _open_dir(self, root: int, parts: list[str], path: str, *, final: bool) -> int:
        """An O_PATH fd for the directory made of `parts` (root if empty; the caller closes it unless it is
        `root`). Never follows a symlink, never leaves the workspace. `final` only picks the wording of errors."""
        if not parts:
            return root
        if self.resolver == "openat2":
            try:
                return openat2(root, "/".join(parts), _DIR_PATH)
            except OSError as exc:
                raise _fail(exc, path, final=final) from exc
        fd = root
        try:
            for part in parts:
                nxt = self._open_component(fd, part, _DIR_PATH)
                if fd != root:
                    os.close(fd)
                fd = nxt
        except OSError as exc:
            if fd != root:
                _close(fd)
            raise _fail(exc, path, final=final) from exc
        return fd

    def _open_component(self, dir_fd: int, name: str, flags: int) -> int:
        """Open one name relative to `dir_fd` without following it. Raises OSError; ELOOP when it is a symlink."""
        if self.resolver == "openat2":
            return openat2(dir_fd, name, flags)
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW, dir_fd=dir_fd)
        except OSError as exc:
            # O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR (and O_PATH|O_NOFOLLOW would open the link itself):
            # tell a symlink apart so the message is right.
            if exc.errno == errno.ENOTDIR:
                try:
                    is_link = stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
                except OSError:
                    is_link = False
                if is_link:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP)) from exc
            raise
        # The walk's stand-in for RESOLVE_NO_XDEV (it misses a bind mount of the same filesystem; openat2 does
        # not). A workspace has no mounts in it unless the host's admin put them there.
        try:
            dev = os.fstat(fd).st_dev
        except OSError:
            os.close(fd)
            raise
        if dev != self._root_dev:
            os.close(fd)
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        return fd

    @contextlib.contextmanager
    def _parent(self, root: int, path: str) -> Iterator[tuple[int, str]]:
        """(fd of the parent directory, final name). The caller acts relative to the fd, never by a joined path."""
        parts = _split(path)
        if not parts:
            raise PathRejected("this operation needs a path inside the workspace, not the root")
        fd = self._open_dir(root, parts[:-1], path, final=False)
        try:
            yield fd, parts[-1]
        finally:
            if fd != root:
                _close(fd)

    def _lstat(self, dir_fd: int, name: str, path: str) -> os.stat_result:
        try:
            return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as exc:
            raise _fail(exc, path) from exc

    def _open_listable(self, root: int, path: str) -> int:
        """A readable directory fd for `path` (for scandir)."""
        parts = _split(path)
        if not parts:
            try:
                return (
                    openat2(root, "", _DIR_READ) if self.resolver == "openat2" else os.open(".", _DIR_READ, dir_fd=root)
                )
            except OSError as exc:
                raise _fail(exc, path) from exc
        with self._parent(root, path) as (pfd, name):
            try:
                return self._open_component(pfd, name, _DIR_READ)
            except OSError as exc:
                if exc.errno == errno.ENOTDIR:
                    raise PathRejected(f"{_q(path)} is not a directory") from exc
                raise _fail(exc, path) from exc

    # -- reading ------------------------------------------------------------------------------------------------
    def stat(self, path: str) -> FileEntry:
        with self._use() as root:
            parts = _split(path)
            if not parts:
                return _entry("", os.fstat(root))
            with self._parent(root, path) as (pfd, name):
                st = self._lstat(pfd, name, path)
                target = None
                if stat.S_ISLNK(st.st_mode):
                    with contextlib.suppress(OSError):
                        target = os.readlink(name, dir_fd=pfd)
                return _entry(path, st, target)

    def list_dir(self, path: str, *, details: bool = True) -> list[FileEntry]:
        """Folders first, then by case-folded name. Symlinks are shown as symlinks with their target, never
        followed; FIFOs, sockets and devices are kind "other".

        `details=False` is the tree's listing: kinds come from the directory entries themselves (no `stat` per
        entry, no `readlink`), and size, mtime and mode are -1. It is half the cost of a 10,000-entry folder."""
        with self._use() as root:
            fd = self._open_listable(root, path)
            try:
                out: list[FileEntry] = []
                with os.scandir(fd) as it:
                    for de in it:
                        name = de.name
                        try:
                            if _is_temp(de):
                                continue  # an atomic write in flight (or a killed one's, until swept)
                            if not details:
                                # d_type from getdents; DirEntry falls back to an lstat only when it is unknown
                                if de.is_symlink():
                                    kind: FileKind = "symlink"
                                elif de.is_dir(follow_symlinks=False):
                                    kind = "dir"
                                elif de.is_file(follow_symlinks=False):
                                    kind = "file"
                                else:
                                    kind = "other"
                                out.append(FileEntry(_join(path, name), name, kind, -1, -1.0, -1, None))
                                continue
                            # fstatat(fd, name, AT_SYMLINK_NOFOLLOW): the scandir fd, not a path string
                            st = de.stat(follow_symlinks=False)
                            target = os.readlink(name, dir_fd=fd) if stat.S_ISLNK(st.st_mode) else None
                        except OSError:
                            continue  # gone (or replaced) since getdents: the next listing will show the truth
                        out.append(_entry(_join(path, name), st, target))
            except OSError as exc:
                raise _fail(exc, path) from exc
            finally:
                _close(fd)
        out.sort(key=lambda e: (e.kind != "dir", e.name.casefold(), e.name))
        return out

    def read(self, path: str, *, limit: int, head: bool = False) -> FileData:
        """A regular file's bytes. Over `limit`: TooLarge, or with `head` the first `limit` bytes (truncated)."""
        if limit < 0:
            raise InvalidInput("read limit must not be negative")
        fd, st = self.open_read(path)
        try:
            if st.st_size > limit and not head:
                raise TooLarge(f"{_q(path)} is {_human(st.st_size)}, over the {_human(limit)} read limit")
            # One byte past the limit tells a file that grew since the fstat from one that did not.
            data = self._read_upto(fd, limit + 1)
        except OSError as exc:
            raise _fail(exc, path) from exc
        finally:
            os.close(fd)
        size = max(st.st_size, len(data))
        if len(data) > limit:
            if not head:
                raise TooLarge(f"{_q(path)} is over the {_human(limit)} read limit")
            return FileData(path=path, data=data[:limit], size=size, mtime=st.st_mtime, truncated=True)
        return FileData(path=path, data=data, size=size, mtime=st.st_mtime, truncated=size > len(data))

    def open_read(self, path: str) -> tuple[int, os.stat_result]:
        """A blocking, close-on-exec fd on a regular file and its fstat, for reading it in chunks; the caller closes
        it. No symlink is followed anywhere on the path, and the type is checked before and after the open."""
        with self._use() as root, self._parent(root, path) as (pfd, name):
            # Refuse by type before opening: opening a device can have side effects, a FIFO can block.
            pre = self._lstat(pfd, name, path)
            if not stat.S_ISREG(pre.st_mode):
                raise PathRejected(f"{_q(path)} is {_what(pre.st_mode)}")
            try:
                fd = self._open_component(pfd, name, _FILE_READ)
            except OSError as exc:
                raise _fail(exc, path) from exc
            try:
                st = os.fstat(fd)
                # Again on the fd: the name may have been swapped between the lstat and the open.
                if not stat.S_ISREG(st.st_mode):
                    raise PathRejected(f"{_q(path)} is {_what(st.st_mode)}")
                fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
            except OSError as exc:
                os.close(fd)
                raise _fail(exc, path) from exc
            except BaseException:
                os.close(fd)
                raise
            return fd, st

    @staticmethod
    def _read_upto(fd: int, n: int) -> bytes:
        chunks: list[bytes] = []
        got = 0
        while got < n:
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    # -- writing ------------------------------------------------------------------------------------------------
    def write(
        self, path: str, data: bytes, *, expected_mtime: float | None = None, mode: int | None = None
    ) -> FileEntry:
        """Atomically replace (or create) a regular file. `expected_mtime`: Conflict if the file on disk is not the
        one that was read. The parent must exist; a directory, symlink or special file at `path` is refused."""
        pending = self.open_write(path, expected_mtime=expected_mtime, mode=mode)
        try:
            pending.write(data)
            return pending.commit()
        finally:
            pending.abort()  # a no-op once committed

    def open_write(self, path: str, *, expected_mtime: float | None = None, mode: int | None = None) -> AtomicWrite:
        """Begin an atomic replace of `path` whose content arrives in chunks (`write`), made visible by `commit()`
        and dropped by `abort()`. The same checks as `write`; the disk limit is checked as the bytes arrive."""
        with self._use() as root, self._parent(root, path) as (pfd, name):
            old = self._existing_file(pfd, name, path)
            self._check_mtime(old, expected_mtime, path)
            if mode is not None:
                final_mode = mode & 0o777
            elif old is not None:
                final_mode = stat.S_IMODE(old.st_mode) & 0o777
            else:
                final_mode = self._file_mode
            try:
                # the parent's fd outlives this `with`: the temp file and the rename stay relative to it
                own_pfd = os.dup(pfd)
            except OSError as exc:
                raise _fail(exc, path) from exc
            tmp = f".sandbench-{secrets.token_hex(8)}.tmp"
            try:
                # recorded (and locked) before the temp exists, so no kill can leave a temp the journal lacks
                entry = _JournalEntry(self._journal_fd, _join(path.rpartition("/")[0], tmp))
            except BaseException:
                _close(own_pfd)
                raise
        try:
            return AtomicWrite(self, path, own_pfd, name, tmp, entry, old, final_mode, expected_mtime)
        except BaseException:
            _close(own_pfd)
            entry.close()
            raise

    # -- the write journal: temp files a killed write left behind ---------------------------------------------
    def sweep_temps(self) -> int:
        """Remove the temp files of writes whose process died (see the module docstring); returns how many.
        Entries locked by a live writer — in this process or another — are left alone."""
        with self._use():
            jfd = self._journal_fd
            if jfd < 0:
                return 0
            try:
                lfd = os.open(".", _DIR_READ, dir_fd=jfd)  # listing needs a readable fd, not the O_PATH one
                try:
                    names = os.listdir(lfd)
                finally:
                    os.close(lfd)
            except OSError:
                return 0
            return sum(self._sweep_entry(jfd, name) for name in names)

    def _sweep_entry(self, jfd: int, name: str) -> int:
        """One journal entry: skipped while its writer holds it locked; otherwise its temp goes, then the entry."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _O_CLOEXEC, dir_fd=jfd)
        except OSError:
            return 0
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            lines = self._read_upto(fd, 8192).split(b"\n")
            removed = 0
            if len(lines) >= 2:  # a complete first line: the temp's path
                removed = self._remove_temp(os.fsdecode(lines[0]), int(lines[1]) if lines[1].isdigit() else None)
            os.unlink(name, dir_fd=jfd)
            return removed
        except OSError:  # BlockingIOError: a write in flight, in this process or another
            return 0
        finally:
            os.close(fd)

    def _remove_temp(self, temp_path: str, inode: int | None) -> int:
        """Unlink one journalled temp if it is still ours: a regular file (never a symlink or a directory) with
        our temp name and the recorded inode — or, when the writer died before recording it, an empty file owned
        by us. Resolved beneath the root without following symlinks, unlinked relative to its parent's fd."""
        try:
            if not is_temp_name(temp_path.rpartition("/")[2]):
                return 0
            with self._use() as root, self._parent(root, temp_path) as (pfd, name):
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    return 0
                if inode is not None and st.st_ino != inode:
                    return 0
                if inode is None and (st.st_size != 0 or st.st_uid != os.geteuid()):
                    return 0
                os.unlink(name, dir_fd=pfd)
        except (OSError, SandbenchError):
            return 0  # gone, moved, or its folder replaced: nothing of ours is left to remove there
        self._adjust_usage(-(st.st_blocks * 512 if st.st_nlink == 1 else 0))
        return 1

    def _existing_file(self, pfd: int, name: str, path: str) -> os.stat_result | None:
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _fail(exc, path) from exc
        if not stat.S_ISREG(st.st_mode):
            raise PathRejected(f"{_q(path)} is {_what(st.st_mode)}; not replaced")
        return st

    @staticmethod
    def _check_mtime(old: os.stat_result | None, expected: float | None, path: str) -> None:
        if expected is None:
            return
        if old is None:
            raise Conflict(f"{_q(path)} was deleted on disk since it was opened")
        # A microsecond of slack: the float may have been through JSON or another language on the way.
        if abs(old.st_mtime - expected) > 1e-6:
            raise Conflict(f"{_q(path)} changed on disk since it was opened")

    def _check_disk(self, path: str, old_bytes: int, new_len: int) -> None:
        if self.disk_limit_bytes is None:
            return
        used = self.usage()
        new_bytes = -(-new_len // 4096) * 4096  # the blocks it will take, roughly
        projected = used - old_bytes + new_bytes
        # A write that does not grow usage is always allowed: it lets the user cut a file down when over the limit.
        if projected > self.disk_limit_bytes and projected > used:
            raise DiskLimitExceeded(
                f"writing {_q(path)} would take the workspace to {_human(projected)}, over its "
                f"{_human(self.disk_limit_bytes)} disk limit ({_human(used)} used)"
            )

    def _chown_fd(self, fd: int) -> None:
        if self.owner_uid is None and self.owner_gid is None:
            return
        uid = -1 if self.owner_uid is None else self.owner_uid
        gid = -1 if self.owner_gid is None else self.owner_gid
        os.fchown(fd, uid, gid)

    def commit_many(self, writes: Sequence[AtomicWrite]) -> list[FileEntry]:
        """Commit several writes with the crash safety of a `commit` each and far fewer flushes to disk: every
        temp flushed (concurrently: fsyncs that overlap share the filesystem's journal commits), then each renamed
        over its target, then each folder renamed in fsynced once. Every write has ended (committed, or dropped with
        its temp) when this returns or raises."""
        try:
            if len(writes) > 1:
                with ThreadPoolExecutor(max_workers=min(len(writes), FLUSH_THREADS)) as pool:
                    list(pool.map(AtomicWrite.flush, writes))
            out = [w._commit(sync_dir=False) for w in writes]
            folders: dict[tuple[int, int], int] = {}
            for w in writes:  # the very fds the renames were made in, each folder once
                st = os.fstat(w._pfd)
                folders.setdefault((st.st_dev, st.st_ino), w._pfd)
            if len(folders) > 1:
                with ThreadPoolExecutor(max_workers=min(len(folders), FLUSH_THREADS)) as pool:
                    list(pool.map(self._fsync_dir, folders.values()))
            else:
                for pfd in folders.values():
                    self._fsync_dir(pfd)
            return out
        finally:
            for w in writes:
                w.abort()

    @staticmethod
    def _fsync_dir(dir_fd: int) -> None:
        """Make a rename durable. Best effort: an O_PATH fd cannot be fsynced, so open the directory for reading."""
        try:
            fd = os.open(".", _DIR_READ, dir_fd=dir_fd)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def mkdir(self, path: str, *, parents: bool = False) -> FileEntry:
        """Create a directory (0755, owned by the sandbox's uid). `parents`: like `mkdir -p`, and no error if it
        already exists as a directory."""
        with self._use() as root:
            parts = _split(path)
            if not parts:
                if parents:
                    return _entry("", os.fstat(root))
                raise AlreadyExists("the workspace root already exists")
            if not parents:
                with self._parent(root, path) as (pfd, name):
                    return self._mkdir_at(pfd, name, path, exist_ok=False)[1]
            fd = root
            try:
                entry: FileEntry | None = None
                for i, part in enumerate(parts):
                    sub = "/".join(parts[: i + 1])
                    nxt, entry = self._mkdir_at(fd, part, sub, exist_ok=True, keep_fd=True)
                    if fd != root:
                        os.close(fd)
                    fd = nxt
                assert entry is not None  # parts is not empty
                return entry
            finally:
                if fd != root:
                    _close(fd)

    def _mkdir_at(
        self, dir_fd: int, name: str, path: str, *, exist_ok: bool, keep_fd: bool = False
    ) -> tuple[int, FileEntry]:
        created = True
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)  # 0700 until chowned; then opened up
        except FileExistsError as exc:
            if not exist_ok:
                raise AlreadyExists(f"{_q(path)} already exists") from exc
            created = False
        except OSError as exc:
            raise _fail(exc, path) from exc
        try:
            # Opened without following: if the sandbox swapped in a symlink since the mkdir, this fails rather than
            # chowning/chmoding whatever the link points at. (fchown/fchmod need a real fd, not O_PATH.)
            fd = self._open_component(dir_fd, name, _DIR_READ)
        except OSError as exc:
            if exc.errno == errno.ENOTDIR:
                raise AlreadyExists(f"{_q(path)} already exists and is not a directory") from exc
            raise _fail(exc, path) from exc
        try:
            if created:
                self._chown_fd(fd)
                os.fchmod(fd, self._dir_mode)
            entry = _entry(path, os.fstat(fd))
        except OSError as exc:
            os.close(fd)
            raise _fail(exc, path) from exc
        if keep_fd:
            return fd, entry
        os.close(fd)
        return -1, entry

    def move(self, src: str, dst: str, *, overwrite: bool = False) -> FileEntry:
        """Rename within the workspace. A symlink is moved as the link itself. Without `overwrite` an existing
        `dst` is AlreadyExists (checked by the kernel: RENAME_NOREPLACE, no check-then-rename race)."""
        src_parts, dst_parts = _split(src), _split(dst)
        if not src_parts:
            raise PathRejected("the workspace root cannot be moved")
        if not dst_parts:
            raise PathRejected("cannot move onto the workspace root")
        if dst.startswith(src + "/"):
            raise PathRejected(f"cannot move {_q(src)} into itself")
        with self._use() as root, self._parent(root, src) as (sfd, sname), self._parent(root, dst) as (dfd, dname):
            self._lstat(sfd, sname, src)  # a clear "does not exist" for the source, not one about dst
            if src == dst:
                return _entry(dst, self._lstat(dfd, dname, dst))
            try:
                if overwrite:
                    os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
                else:
                    self._rename_noreplace(sfd, sname, dfd, dname)
            except OSError as exc:
                code = exc.errno
                if code == errno.EEXIST or (code == errno.ENOTEMPTY and not overwrite):
                    raise AlreadyExists(f"{_q(dst)} already exists") from exc
                if code == errno.EINVAL:
                    raise PathRejected(f"cannot move {_q(src)} into itself") from exc
                if code == errno.ENOTEMPTY:
                    raise InvalidInput(f"{_q(dst)} is a directory that is not empty") from exc
                if code == errno.EISDIR:
                    raise PathRejected(f"{_q(dst)} is a directory; a file cannot replace it") from exc
                if code == errno.ENOTDIR:
                    raise PathRejected(f"{_q(dst)} is not a directory; a directory cannot replace it") from exc
                raise _fail(exc, src) from exc
            st = self._lstat(dfd, dname, dst)
            target = None
            if stat.S_ISLNK(st.st_mode):
                with contextlib.suppress(OSError):
                    target = os.readlink(dname, dir_fd=dfd)
            return _entry(dst, st, target)

    @staticmethod
    def _rename_noreplace(sfd: int, sname: str, dfd: int, dname: str) -> None:
        try:
            renameat2(sfd, sname, dfd, dname, RENAME_NOREPLACE)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EINVAL):
                raise
            # ENOSYS (old kernel) / EINVAL (a filesystem without RENAME_NOREPLACE): check, then rename. The race
            # left can only replace one workspace entry by another (both names are beneath the workspace fds).
            try:
                os.stat(dname, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
                return
            raise OSError(errno.EEXIST, os.strerror(errno.EEXIST)) from exc

    def delete(self, path: str, *, recursive: bool = False) -> None:
        """Remove a file, symlink (the link, not its target), special file, or directory (`recursive` for a
        non-empty one). The recursive walk opens each subdirectory without following symlinks and removes entries
        relative to its fd, so a symlink swapped in anywhere in the tree leads nowhere."""
        if not _split(path):
            raise PathRejected("refusing to delete the workspace root")
        freed = 0
        with self._use() as root, self._parent(root, path) as (pfd, name):
            st = self._lstat(pfd, name, path)
            try:
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=pfd)
                    freed = st.st_blocks * 512 if st.st_nlink == 1 else 0
                else:
                    try:
                        os.rmdir(name, dir_fd=pfd)
                        freed = st.st_blocks * 512
                    except OSError as exc:
                        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                            raise
                        if not recursive:
                            raise InvalidInput(
                                f"{_q(path)} is a directory that is not empty (delete it recursively)"
                            ) from exc
                        freed = self._rmtree(pfd, name, path)
            except OSError as exc:
                if exc.errno == errno.ENOTEMPTY:
                    # Something inside changed under us (the sandbox is writing there): say so plainly.
                    raise Conflict(f"{_q(path)} changed while it was being deleted; try again") from exc
                raise _fail(exc, path) from exc
        self._adjust_usage(-freed)

    def _rmtree(self, pfd: int, name: str, path: str) -> int:
        """Iterative (no recursion limit), one fd per level: each directory is listed once, its non-directories
        unlinked relative to its fd, its subdirectories entered one by one (opened without following), and it is
        removed from its parent's fd when empty. Returns the bytes freed (roughly)."""
        freed = 0
        stack: list[tuple[int, str, Iterator[str]]] = []  # (dir fd, its name in its parent, subdirs left)

        def enter(parent_fd: int, dname: str) -> None:
            nonlocal freed
            fd = self._open_component(parent_fd, dname, _DIR_READ)
            subdirs: list[str] = []
            try:
                with os.scandir(fd) as it:
                    entries = list(it)
                for de in entries:
                    try:
                        st = de.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        subdirs.append(de.name)
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(de.name, dir_fd=fd)
                        freed += st.st_blocks * 512 if st.st_nlink == 1 else 0
            except BaseException:
                os.close(fd)
                raise
            stack.append((fd, dname, iter(subdirs)))

        try:
            enter(pfd, name)
            while stack:
                fd, dname, pending = stack[-1]
                sub = next(pending, None)
                if sub is not None:
                    if len(stack) >= MAX_DELETE_DEPTH:
                        raise ProviderError(
                            f"{_q(path)} is nested more than {MAX_DELETE_DEPTH} levels deep; "
                            "delete it from the sandbox's terminal"
                        )
                    try:
                        enter(fd, sub)
                    except OSError as exc:
                        # gone, or no longer a directory: changed under us, and the rmdir below says if it matters
                        if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                            raise
                        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                            os.unlink(sub, dir_fd=fd)  # a symlink/file swapped in: remove the entry, not its target
                    continue
                stack.pop()
                blocks = os.fstat(fd).st_blocks * 512
                os.close(fd)
                os.rmdir(dname, dir_fd=stack[-1][0] if stack else pfd)
                freed += blocks
        finally:
            for fd, _, _ in stack:
                _close(fd)
        return freed

    # -- walking ------------------------------------------------------------------------------------------------
    def _walk(
        self, root: int, path: str, skip_dirs: frozenset[str]
    ) -> Generator[tuple[str, list[os.DirEntry[str]]], None, None]:
        """Depth-first over the directories beneath `path`, in name order: yields (dir path, its entries) while the
        directory's fd is open (so DirEntry.stat works: fstatat on that fd). Each directory is opened anew beneath
        the root without following symlinks, so a subtree swapped for a symlink mid-walk is skipped, never entered.
        Directories that vanish or change type meanwhile are skipped quietly; `path` itself must be a directory."""
        first = True
        stack = [path]
        while stack:
            here = stack.pop()
            try:
                fd = self._open_listable(root, here)
            except SandbenchError:
                if first:
                    raise
                continue
            first = False
            try:
                try:
                    with os.scandir(fd) as it:
                        entries = sorted(it, key=lambda e: e.name)
                    subdirs: list[str] = []
                    for de in entries:
                        with contextlib.suppress(OSError):
                            # d_type from getdents; DT_UNKNOWN falls back to fstatat on this fd, never following
                            if de.is_dir(follow_symlinks=False) and de.name not in skip_dirs:
                                subdirs.append(de.name)
                except OSError:
                    continue
                yield here, entries
                stack.extend(_join(here, d) for d in reversed(subdirs))
            finally:
                os.close(fd)

    def search(self, path: str, pattern: str, *, limit: int = 1000) -> list[str]:
        """Paths (relative to the root) under `path` whose name matches the glob `pattern` — case-insensitive when
        the pattern is all lower case. `.git` contents are skipped; symlinks are matched by name, never entered."""
        if not pattern:
            raise InvalidInput("search pattern is empty")
        fold = pattern == pattern.lower()
        found: list[str] = []
        if limit <= 0:
            return found
        with self._use() as root, contextlib.closing(self._walk(root, path, frozenset({".git"}))) as walk:
            for here, entries in walk:
                for de in entries:
                    if _is_temp(de):
                        continue
                    if fnmatch.fnmatchcase(de.name.lower() if fold else de.name, pattern):
                        found.append(_join(here, de.name))
                        if len(found) >= limit:
                            return found
        return found

    def walk_files(
        self, path: str = "", *, limit: int = 200_000, skip_dirs: frozenset[str] = frozenset({".git"})
    ) -> list[str]:
        """Every regular file under `path` (paths relative to the root), `skip_dirs` not entered: the fuzzy finder's
        input. Uses d_type from getdents, so no stat per file."""
        out: list[str] = []
        if limit <= 0:
            return out
        with self._use() as root, contextlib.closing(self._walk(root, path, skip_dirs)) as walk:
            for here, entries in walk:
                for de in entries:
                    try:
                        is_file = de.is_file(follow_symlinks=False)
                    except OSError:
                        continue
                    if is_file and not is_temp_name(de.name):
                        out.append(_join(here, de.name))
                        if len(out) >= limit:
                            return out
        return out

    # -- disk usage ---------------------------------------------------------------------------------------------
    def usage(self) -> int:
        """Bytes the workspace occupies (st_blocks * 512, symlinks not followed, hard links once). Measured at most
        every USAGE_TTL seconds; writes and deletes through this object adjust the cached figure meanwhile."""
        with self._lock:
            hit = self._usage
        if hit is not None and time.monotonic() - hit[0] < USAGE_TTL:
            return hit[1]
        measured_at = time.monotonic()
        total = self._measure()
        with self._lock:
            self._usage = (measured_at, total)
        return total

    def _measure(self) -> int:
        seen: set[tuple[int, int]] = set()
        with self._use() as root, contextlib.closing(self._walk(root, "", frozenset())) as walk:
            total = os.fstat(root).st_blocks * 512
            for _here, entries in walk:
                for de in entries:
                    try:
                        st = de.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                        key = (st.st_dev, st.st_ino)
                        if key in seen:
                            continue
                        seen.add(key)
                    total += st.st_blocks * 512
        return total

    def _adjust_usage(self, delta: int) -> None:
        with self._lock:
            if self._usage is not None:
                self._usage = (self._usage[0], max(0, self._usage[1] + delta))


class AtomicWrite:
    """One file being written through `WorkspaceFS.open_write`: a temp file (`.sandbench-*.tmp`, created O_EXCL
    beside the target, never through an existing inode), renamed over the target by `commit()`. Until then the
    sandbox sees the old content (or nothing); `abort()`, or any failure, removes the temp file. Synchronous, like
    WorkspaceFS; one thread at a time."""

    def __init__(
        self,
        fs: WorkspaceFS,
        path: str,
        pfd: int,
        name: str,
        tmp: str,
        entry: _JournalEntry,
        old: os.stat_result | None,
        final_mode: int,
        expected_mtime: float | None,
    ) -> None:
        """Takes `pfd` and `entry` over once constructed (`abort` releases them); if this raises, the caller
        still owns them. Creates the temp file `tmp` in `pfd` and records its inode in `entry`."""
        self._fs, self.path, self._pfd, self._name, self._tmp = fs, path, pfd, name, tmp
        self._old_bytes = old.st_blocks * 512 if old is not None and old.st_nlink == 1 else 0
        self._mode, self._expected = final_mode, expected_mtime
        self.written = 0
        self._done = self._flushed = False
        self._fd = -1
        fs._check_disk(path, self._old_bytes, 0)
        try:
            self._fd = os.open(
                self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC, 0o600, dir_fd=pfd
            )
        except OSError as exc:
            raise _fail(exc, path) from exc
        try:
            entry.note_inode(os.fstat(self._fd).st_ino)
        except OSError as exc:
            os.close(self._fd)
            self._fd = -1
            with contextlib.suppress(OSError):
                os.unlink(self._tmp, dir_fd=pfd)
            raise ProviderError("the sandbox's write journal is not writable") from exc
        self._entry: _JournalEntry | None = entry

    def write(self, data: bytes) -> None:
        if self._done or self._flushed:
            raise ProviderError(f"{_q(self.path)}: the write has already ended")
        self._fs._check_disk(self.path, self._old_bytes, self.written + len(data))
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise _fail(exc, self.path) from exc
        self.written += len(data)

    def flush(self) -> None:
        """Owner, mode and bytes of the temp file on disk (what `commit` does first). A caller writing many files
        flushes them all (concurrently: the filesystem commits its journal once for fsyncs that overlap), then
        commits each; safe to call once before `commit`, which then only renames."""
        if self._done:
            raise ProviderError(f"{_q(self.path)}: the write has already ended")
        if self._flushed:
            return
        fd = self._fd
        try:
            self._fs._chown_fd(fd)
            # After the chown (which clears set-id bits) and masked to 0o777: the app may be root, and a
            # set-id bit copied from a sandbox-made file onto a file we create is never what anyone wants.
            os.fchmod(fd, self._mode)
            os.fsync(fd)
        except OSError as exc:
            raise _fail(exc, self.path) from exc
        self._flushed = True

    def commit(self) -> FileEntry:
        try:
            return self._commit(sync_dir=True)
        finally:
            self.abort()

    def _commit(self, *, sync_dir: bool) -> FileEntry:
        """Flush (unless done), rename over the target, and (with `sync_dir`) fsync the folder; the caller aborts."""
        if self._done:
            raise ProviderError(f"{_q(self.path)}: the write has already ended")
        fs, fd, pfd = self._fs, self._fd, self._pfd
        try:
            if not self._flushed:
                self.flush()
            # Narrow the window for a change made while we wrote; the rename itself cannot be conditional.
            fs._check_mtime(fs._existing_file(pfd, self._name, self.path), self._expected, self.path)
            os.rename(self._tmp, self._name, src_dir_fd=pfd, dst_dir_fd=pfd)
            self._done = True
            st = os.fstat(fd)
            if sync_dir:
                fs._fsync_dir(pfd)
        except OSError as exc:
            if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                raise PathRejected(f"{_q(self.path)} is a directory") from exc
            raise _fail(exc, self.path) from exc
        fs._adjust_usage(st.st_blocks * 512 - self._old_bytes)
        return _entry(self.path, st)

    def abort(self) -> None:
        """Drop the temp file (unless committed), then its journal entry, and close the fds; safe to call again."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if not self._done:
            self._done = True
            with contextlib.suppress(OSError):
                os.unlink(self._tmp, dir_fd=self._pfd)
        if self._entry is not None:
            # only once the temp is gone or renamed: a kill before this leaves a locked-no-more entry to sweep
            self._entry.close()
            self._entry = None
        if self._pfd >= 0:
            _close(self._pfd)
            self._pfd = -1


class _JournalEntry:
    """One in-flight write's record in the journal folder (`WorkspaceFS(journal=...)`), named after its temp:
    the temp's workspace-relative path, then its inode once created. `flock`ed from before the temp exists until
    `close()` removes it; a killed writer's lock goes with its process, which is how `sweep_temps` tells a dead
    write from a live one. Made under a scratch name, locked, written, then renamed into place, so a sweep never
    sees an entry that is not both complete and locked. With no journal (`journal_fd` < 0) it does nothing."""

    def __init__(self, journal_fd: int, temp_path: str) -> None:
        self._dir = self._fd = -1
        if journal_fd < 0:
            return
        entry = temp_path.rpartition("/")[2]
        self._current = f"{entry}.new"
        try:
            self._dir = os.dup(journal_fd)  # outlives the WorkspaceFS's fd, like the write's parent fd
            self._fd = os.open(
                self._current,
                os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC,
                0o600,
                dir_fd=self._dir,
            )
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # released by the kernel when this process dies, however it dies
            os.write(self._fd, os.fsencode(temp_path) + b"\n")
            os.rename(self._current, entry, src_dir_fd=self._dir, dst_dir_fd=self._dir)
            self._current = entry
        except OSError as exc:
            self.close()
            raise ProviderError("the sandbox's write journal is not writable") from exc

    def note_inode(self, ino: int) -> None:
        if self._fd >= 0:
            os.write(self._fd, b"%d\n" % ino)

    def close(self) -> None:
        """Remove the entry, then drop its lock (in that order: a sweep never takes a live write's entry)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.unlink(self._current, dir_fd=self._dir)
            os.close(self._fd)
            self._fd = -1
        if self._dir >= 0:
            _close(self._dir)
            self._dir = -1
