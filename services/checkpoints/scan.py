"""Reading a workspace into checkpoint entries: metadata first, hashing only what moved (fd-based, no symlinks).

The workspace is written by hostile code and this runs on the host, perhaps as root. Each folder is opened beneath
the workspace root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | …)` (services/local/linux_calls.py's;
a component walk with `O_NOFOLLOW` where the kernel lacks it), listed from that fd, and every name in it is
lstat'ed, read (`O_NOFOLLOW | O_NONBLOCK`, type checked again on the fd) and readlink'ed relative to that fd. A
symlink is recorded as a symlink and never followed; a mount point inside the workspace is refused; FIFOs and
devices are refused (as the file API refuses them), sockets skipped (they mean nothing once their process is gone).

A file whose size, mtime, inode, ctime and mode equal the base entry's keeps the base's hash unread. A file that
changes while it is read is read again (a few times), so its blob is one consistent content; timestamps within a
clock tick of the read mark the entry `racy` (git's "racily clean" rule): the next scan hashes it again.
"""

from __future__ import annotations

import errno
import operator
import os
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from services.checkpoints.store import CheckpointStore, Entry, Kind, Overlay
from services.errors import InvalidInput, PathRejected, ProviderError, TooLarge
from services.local import fsapi, linux_calls

MAX_FILES = 500_000
MAX_BYTES = 64 * 1024**3
MAX_DEPTH = 512
RACY_NS = 50_000_000  # a coarse kernel clock tick is at most 10 ms; generous margin
READ_TRIES = 5
_DIR_READ = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_path = operator.attrgetter("path")
_FILE_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


@dataclass
class ScanResult:
    entries: list[Entry] = field(default_factory=list)
    hashed_files: int = 0
    hashed_bytes: int = 0
    files_added: int = 0
    bytes_added: int = 0
    skipped: list[str] = field(default_factory=list)  # sockets


def _human(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.1f} MiB"


class Tree:
    """The workspace root as an O_PATH fd, and folders opened beneath it without following symlinks."""

    def __init__(self, root: os.PathLike[str] | str) -> None:
        try:
            self.fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # ours: the provider made it
        except OSError as exc:
            raise ProviderError("the sandbox's workspace folder is missing") from exc
        self.dev = os.fstat(self.fd).st_dev
        self.openat2 = linux_calls.openat2_available()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Tree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_dir(self, path: str, flags: int = _DIR_READ) -> int:
        """An fd on the folder `path` (relative, canonical; "" the root). OSError (ELOOP for a symlink on the way,
        EXDEV for a mount) from the kernel's own checks."""
        if not path:
            return os.open(".", flags, dir_fd=self.fd)
        if self.openat2:
            return linux_calls.openat2(self.fd, path, flags)
        fd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            parts = path.split("/")
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                nxt = os.open(
                    part, (flags if last else os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) | os.O_NOFOLLOW, dir_fd=fd
                )
                os.close(fd)
                fd = nxt
                if os.fstat(fd).st_dev != self.dev:
                    raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
            return fd
        except BaseException:
            os.close(fd)
            raise


def scan(
    tree: Tree,
    base: Mapping[str, Entry],
    objects: CheckpointStore,
    *,
    store: bool,
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_BYTES,
    start: str = "",
    watch: Callable[[int, str], None] | None = None,
    links: list[str] | None = None,
) -> ScanResult:
    """Every folder, file and symlink under the root (or under folder `start`, itself not included), in path
    order. With `store`, new contents become blobs. For a change feed (services/checkpoints/feed.py): `watch(fd,
    folder)` is called on each folder's fd before it is listed, and `links` gets the path of every non-folder whose
    link count is over 1 (a change through its other name is not seen in its folder)."""
    if not start and not isinstance(base, dict):  # looked up once per name below: a dict's get is the fast one
        base = base.materialize() if isinstance(base, Overlay) else dict(base)
    out = ScanResult()
    total = 0
    # bound once: this loop runs per name, and on 20,000 names its lookups are a good part of the cost
    add, lstat, is_reg, is_dir, get = out.entries.append, os.stat, stat.S_ISREG, stat.S_ISDIR, base.get
    stack: list[tuple[str, int]] = [(start, start.count("/") + 1 if start else 0)]
    while stack:
        here, depth = stack.pop()
        try:
            dfd = tree.open_dir(here)
        except OSError as exc:
            if here and exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                continue  # removed or swapped for a symlink since it was listed: not there any more
            if exc.errno == errno.EXDEV:
                raise PathRejected(f"{here!r} is a mount point: checkpoints cover the workspace only") from exc
            what = here or "the workspace root"
            raise ProviderError(f"cannot read folder {what!r}: {os.strerror(exc.errno or 0)}") from exc
        try:
            if watch is not None:
                watch(dfd, here)  # before the listing: a change after it is an event for next time
            names = os.listdir(dfd)  # sorted once at the end (a list made in C: cheaper than scandir's entries)
            prefix = f"{here}/" if here else ""
            subdirs: list[str] = []
            for name in names:
                if name[0] == "." and name.startswith(".sandbench-") and fsapi.is_temp_name(name):
                    continue  # an atomic write in flight: its result is what counts
                path = prefix + name
                try:
                    st = lstat(name, dir_fd=dfd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                mode = st.st_mode
                if is_reg(mode):
                    old = get(path)
                    # Entry.same_stat, inlined: this runs once per file and a call is a good part of its cost
                    if (
                        old is not None
                        and old.kind == "file"
                        and not old.racy
                        and old.mtime_ns == st.st_mtime_ns
                        and old.size == st.st_size
                        and old.ino == st.st_ino
                        and old.ctime_ns == st.st_ctime_ns
                        and old.mode == mode & 0o7777
                    ):
                        add(old)
                    else:
                        entry = _read_file(dfd, name, path, objects, out, store=store)
                        if entry is None:
                            continue
                        add(entry)
                    total += out.entries[-1].size
                    if links is not None and st.st_nlink > 1:
                        links.append(path)
                    if total > max_bytes:
                        raise TooLarge(
                            f"the workspace holds more than {_human(max_bytes)} of files: over the checkpoint limit"
                        )
                elif is_dir(mode):
                    if st.st_dev != tree.dev:
                        raise PathRejected(f"{path!r} is a mount point: checkpoints cover the workspace only")
                    if depth + 1 >= MAX_DEPTH:
                        raise TooLarge(f"{path!r} is nested more than {MAX_DEPTH} folders deep")
                    old = get(path)
                    same = (
                        old is not None
                        and old.kind == "dir"
                        and (old.mtime_ns, old.ctime_ns, old.ino) == (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                        and old.mode == stat.S_IMODE(mode)
                    )
                    add(old if same else _entry(path, "dir", st, ""))  # type: ignore[arg-type]
                    subdirs.append(path)
                elif stat.S_ISLNK(mode):
                    add(_entry(path, "symlink", st, os.readlink(name, dir_fd=dfd)))
                    if links is not None and st.st_nlink > 1:
                        links.append(path)
                elif stat.S_ISSOCK(mode):
                    out.skipped.append(path)
                    continue
                else:
                    raise InvalidInput(
                        f"{path!r} is {_what(mode)}: checkpoints hold files, folders and symlinks "
                        "only; remove it and try again"
                    )
                if len(out.entries) > max_files:
                    raise TooLarge(
                        f"the workspace holds more than {max_files} files and folders: over the checkpoint limit"
                    )
            stack.extend((d, depth + 1) for d in reversed(subdirs))
        finally:
            os.close(dfd)
    out.entries.sort(key=_path)
    return out


def _what(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _entry(path: str, kind: Kind, st: os.stat_result, ref: str, *, racy: bool = False) -> Entry:
    return Entry(
        path,
        kind,
        stat.S_IMODE(st.st_mode),
        st.st_size if kind != "dir" else 0,
        st.st_mtime_ns,
        st.st_ino,
        st.st_ctime_ns,
        ref,
        racy,
    )


def _read_file(
    dfd: int, name: str, path: str, objects: CheckpointStore, out: ScanResult, *, store: bool
) -> Entry | None:
    try:
        fd = os.open(name, _FILE_READ, dir_fd=dfd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a symlink since the lstat: record what is there now
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            return _entry(path, "symlink", st, os.readlink(name, dir_fd=dfd))
        raise ProviderError(f"cannot read {path!r}: {os.strerror(exc.errno or 0)}") from exc
    try:
        for attempt in range(READ_TRIES):
            pre = os.fstat(fd)
            if not stat.S_ISREG(pre.st_mode):
                raise InvalidInput(
                    f"{path!r} is {_what(pre.st_mode)}: checkpoints hold files, folders and "
                    "symlinks only; remove it and try again"
                )
            sha, got, new = objects.put_fd(fd, pre.st_size, store=store)
            out.hashed_files += 1
            out.hashed_bytes += got
            if new:
                out.files_added += 1
                out.bytes_added += got
            post = os.fstat(fd)
            stable = (pre.st_size, pre.st_mtime_ns, pre.st_ctime_ns) == (got, post.st_mtime_ns, post.st_ctime_ns)
            if stable or attempt == READ_TRIES - 1:
                now = time.time_ns()
                racy = not stable or max(post.st_mtime_ns, post.st_ctime_ns) >= now - RACY_NS
                return Entry(
                    path,
                    "file",
                    stat.S_IMODE(post.st_mode),
                    got,
                    post.st_mtime_ns,
                    post.st_ino,
                    post.st_ctime_ns,
                    sha,
                    racy,
                )
        raise AssertionError("unreachable")
    finally:
        os.close(fd)
