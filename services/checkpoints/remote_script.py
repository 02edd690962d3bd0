"""The fixed, self-contained program `remote.py` runs inside a Daytona sandbox (`python3 -I -c <this file> MODE`).

It never imports sandbench and is never built from data: its source is this file, its arguments are a mode and
numbers, and what it works on arrives on stdin (JSON) or in a staging folder the host uploaded. It runs in the
sandbox's home (the exec's cwd) and works from that folder's fd: every folder is opened with `O_NOFOLLOW`
beneath the one before it, every name is lstat'ed, files are read with `O_NOFOLLOW`, so a symlink is recorded as
a symlink and never followed, and a restore never writes through one.

Modes (output: one JSON line per record on stdout, ASCII only, framed by `B` and `Z <count>` lines so a cut
output is detected; an error is one `E <json message>` line and exit status 3):
- `scan MAX_FILES MAX_OUTPUT SINCE_NS`: every folder, file and symlink as [path, kind, mode, size, mtime_ns,
  ino, ctime_ns, ref, racy] (ref: a symlink's target; a file's sha256 when its ctime or mtime is at or after
  SINCE_NS — 0: every file —, else "").
- `hash MAX_OUTPUT`: stdin is a JSON list of paths; each regular file among them as a scan row with its sha256
  (one read whose metadata held still; else marked racy). Gone or no longer a file: ["path", "gone"].
- `apply STAGE`: STAGE is a folder name in home holding `plan.json` and the files' contents (`0`, `1`, ...);
  the plan's operations are done in order (see `_apply`), each staged file's sha256 checked before its rename.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time
from typing import Any

DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
RACY_NS = 50_000_000
TEMP = ".sandbench-"


class Fail(Exception):
    pass


class Out:
    def __init__(self, limit: int) -> None:
        self.limit, self.used, self.count, self.lines = limit, 0, 0, ["B"]

    def add(self, row: list[Any]) -> None:
        line = json.dumps(row, ensure_ascii=True, separators=(",", ":"))
        self.used += len(line) + 1
        if self.used > self.limit:
            raise Fail("too-large-output")
        self.lines.append(line)
        self.count += 1

    def emit(self) -> None:
        self.lines.append(f"Z {self.count}")
        sys.stdout.write("\n".join(self.lines) + "\n")


def _name(path: str | bytes) -> str:
    return os.fsdecode(path) if isinstance(path, bytes) else path


def _hash(fd: int) -> tuple[str, int]:
    h, got = hashlib.sha256(), 0
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return h.hexdigest(), got
        h.update(chunk)
        got += len(chunk)


def _file_row(dfd: int, name: str, path: str) -> list[Any]:
    try:
        fd = os.open(name, READ, dir_fd=dfd)
    except (FileNotFoundError, OSError):
        return [path, "gone"]
    try:
        for attempt in range(5):
            pre = os.fstat(fd)
            if not stat.S_ISREG(pre.st_mode):
                return [path, "gone"]
            sha, got = _hash(fd)
            post = os.fstat(fd)
            stable = (pre.st_size, pre.st_mtime_ns, pre.st_ctime_ns) == (got, post.st_mtime_ns, post.st_ctime_ns)
            if stable or attempt == 4:
                racy = not stable or max(post.st_mtime_ns, post.st_ctime_ns) >= time.time_ns() - RACY_NS
                mode = stat.S_IMODE(post.st_mode)
                return [path, "file", mode, got, post.st_mtime_ns, post.st_ino, post.st_ctime_ns, sha, racy]
    finally:
        os.close(fd)
    return [path, "gone"]


def scan(max_files: int, limit: int, since_ns: int) -> None:
    out = Out(limit)
    root = os.open(".", DIR)
    dev = os.fstat(root).st_dev
    stack = [""]  # folders are opened when their turn comes (holding an fd per pending folder could run out)
    while stack:
        here = stack.pop()
        try:
            dfd = _walk(root, here.split("/")) if here else os.open(".", DIR, dir_fd=root)
        except OSError:
            continue  # swapped for a symlink or removed since it was listed
        try:
            names = sorted(os.listdir(dfd))
            for name in names:
                if name.startswith(TEMP):
                    continue  # a restore's staging folder or an atomic write in flight
                path = here + "/" + name if here else name
                try:
                    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                m = st.st_mode
                if stat.S_ISREG(m):
                    if st.st_ctime_ns >= since_ns or st.st_mtime_ns >= since_ns:
                        row = _file_row(dfd, name, path)
                        if row[1] == "gone":
                            continue
                        out.add(row)
                    else:
                        mode = stat.S_IMODE(m)
                        out.add([path, "file", mode, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, "", False])
                elif stat.S_ISDIR(m):
                    if st.st_dev != dev:
                        raise Fail("mount:" + path)
                    stack.append(path)
                    out.add([path, "dir", stat.S_IMODE(m), 0, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, "", False])
                elif stat.S_ISLNK(m):
                    target = _name(os.readlink(name, dir_fd=dfd))
                    out.add([path, "symlink", stat.S_IMODE(m), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns,
                             target, False])  # fmt: skip
                elif stat.S_ISSOCK(m):
                    continue
                else:
                    raise Fail("special:" + path)
                if out.count > max_files:
                    raise Fail("too-many-files")
        finally:
            os.close(dfd)
    out.emit()


def _walk(root: int, parts: list[str]) -> int:
    """An fd on the folder `parts` beneath `root`, through real folders only (OSError: ELOOP, ENOTDIR, ...)."""
    fd = os.open(".", DIR, dir_fd=root)
    try:
        for part in parts:
            nxt = os.open(part, DIR, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def _parent(root: int, path: str) -> tuple[int, str]:
    """An fd on the folder holding `path`, reached through real folders only (ELOOP/ENOTDIR otherwise)."""
    parts = path.split("/")
    return _walk(root, parts[:-1]), parts[-1]


def _remove(pfd: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=pfd)
        return
    # by fds, so a symlink inside is unlinked as a name, never followed (shutil.rmtree's dir_fd needs 3.11+)
    fd = os.open(name, DIR, dir_fd=pfd)
    try:
        os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) | 0o700)  # a read-only folder must still empty
        for child in os.listdir(fd):
            _remove(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=pfd)


def hash_paths(limit: int) -> None:
    out = Out(limit)
    root = os.open(".", DIR)
    for path in json.loads(sys.stdin.read()):
        try:
            pfd, name = _parent(root, path)
        except OSError:
            out.add([path, "gone"])
            continue
        try:
            out.add(_file_row(pfd, name, path))
        finally:
            os.close(pfd)
    out.emit()


def _apply(stage: str) -> None:
    """Operations, in the plan's order: ["rm", path] removes a name (a folder with its contents);
    ["mkdir", path, mode] makes a folder, removing a non-folder in its way; ["file", path, mode, n, sha] renames
    staged file n over the name (a folder there is removed first); ["link", path, target] makes a symlink under a
    temp name and renames it over the name; ["chmod", path, mode] sets a folder's mode."""
    root = os.open(".", DIR)
    sfd = os.open(stage, DIR, dir_fd=root)
    with os.fdopen(os.open("plan.json", READ, dir_fd=sfd), "rb") as f:
        plan = json.loads(f.read())
    done = 0
    for op in plan:
        kind, path = op[0], op[1]
        try:
            pfd, name = _parent(root, path)
        except OSError:
            raise Fail("changed:" + path) from None
        try:
            if kind == "rm":
                _remove(pfd, name)
            elif kind == "mkdir":
                try:
                    st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                    if not stat.S_ISDIR(st.st_mode):
                        _remove(pfd, name)
                        os.mkdir(name, 0o700, dir_fd=pfd)
                except FileNotFoundError:
                    os.mkdir(name, 0o700, dir_fd=pfd)
            elif kind == "file":
                fd = os.open(str(op[3]), READ, dir_fd=sfd)
                try:
                    if not stat.S_ISREG(os.fstat(fd).st_mode) or _hash(fd)[0] != op[4]:
                        raise Fail("staged:" + path)
                    os.fchmod(fd, op[2] & 0o777)
                finally:
                    os.close(fd)
                try:
                    if stat.S_ISDIR(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
                        _remove(pfd, name)
                except FileNotFoundError:
                    pass
                os.rename(str(op[3]), name, src_dir_fd=sfd, dst_dir_fd=pfd)
            elif kind == "link":
                tmp = TEMP + os.urandom(8).hex() + ".tmp"
                os.symlink(op[2], tmp, dir_fd=pfd)
                try:
                    if stat.S_ISDIR(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
                        _remove(pfd, name)
                except FileNotFoundError:
                    pass
                os.rename(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
            elif kind == "chmod":
                fd = os.open(name, DIR, dir_fd=pfd)
                try:
                    os.fchmod(fd, op[2] & 0o777)
                finally:
                    os.close(fd)
            else:
                raise Fail("bad-plan")
        finally:
            os.close(pfd)
        done += 1
    os.close(sfd)
    _remove(root, stage)
    out = Out(1 << 20)
    out.add(["done", done])
    out.emit()


def main() -> None:
    mode = sys.argv[1]
    try:
        if mode == "scan":
            scan(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        elif mode == "hash":
            hash_paths(int(sys.argv[2]))
        elif mode == "apply":
            _apply(sys.argv[2])
        else:
            raise Fail("bad-mode")
    except Fail as exc:
        sys.stdout.write("E " + json.dumps(str(exc), ensure_ascii=True) + "\n")
        sys.exit(3)
    except OSError as exc:
        sys.stdout.write("E " + json.dumps("os:" + os.strerror(exc.errno or 0), ensure_ascii=True) + "\n")
        sys.exit(3)


if __name__ == "__main__":
    main()
