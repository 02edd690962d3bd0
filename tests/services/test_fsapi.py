"""WorkspaceFS against a real filesystem, adversarially: the workspace is written by hostile code, so every test
plants what such code could plant (symlinks out, symlinked parents, FIFOs, sockets, devices, odd names) and checks
that a canary outside the workspace is never read, written, moved or deleted.

Most tests run twice: with openat2 and with the component-walk fallback (forced by the constructor flag).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services import paths
from services.errors import (
    AlreadyExists,
    Conflict,
    DiskLimitExceeded,
    FileNotFound,
    InvalidInput,
    PathRejected,
    ProviderError,
    SandbenchError,
    TooLarge,
)
from services.local import fsapi, linux_calls
from services.local.fsapi import WorkspaceFS
from tests.conftest import require

IS_ROOT = os.geteuid() == 0
MiB = 1024 * 1024


@dataclass
class Canary:
    """A directory outside the workspace with one file in it; `intact()` asserts nothing there changed."""

    dir: Path
    file: Path
    content: bytes
    mtime_ns: int
    listing: list[str]

    def intact(self) -> None:
        assert self.file.read_bytes() == self.content
        assert self.file.stat().st_mtime_ns == self.mtime_ns
        assert sorted(os.listdir(self.dir)) == self.listing


@pytest.fixture
def canary(tmp_path_factory: pytest.TempPathFactory) -> Canary:
    d = tmp_path_factory.mktemp("outside")
    f = d / "canary"
    content = b"HOST-SECRET-CANARY\n"
    f.write_bytes(content)
    os.utime(f, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    return Canary(d, f, content, f.stat().st_mtime_ns, sorted(os.listdir(d)))


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    w = tmp_path / "ws"
    w.mkdir()
    return w


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest) -> str:
    if request.param == "openat2" and not linux_calls.openat2_available():
        pytest.skip("openat2 is not available on this kernel")
    return str(request.param)


@pytest.fixture
def fs(ws: Path, resolver: str) -> Iterator[WorkspaceFS]:
    f = WorkspaceFS(ws, use_openat2=resolver == "openat2")
    assert f.resolver == resolver
    yield f
    f.close()


@pytest.fixture
def big_ws(tmp_path: Path) -> Iterator[Path]:
    """A workspace for the timing tests, on tmpfs when there is one: creating 20,000 files on a busy shared disk
    can take longer than everything else together, and that cost is the fixture's, not WorkspaceFS's."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(prefix="fsapi-", dir=shm))
        yield d
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path / "big"


def no_host_paths(exc: SandbenchError, *hosts: Path) -> None:
    for h in hosts:
        assert str(h) not in str(exc), f"message leaks a host path: {exc}"


def leftovers(ws: Path) -> list[str]:
    return [n for _, _, files in os.walk(ws) for n in files if n.startswith(".sandbench-")]


# -- round trips ----------------------------------------------------------------------------------------------
def test_round_trip(fs: WorkspaceFS, ws: Path) -> None:
    e = fs.write("a.txt", b"hello")
    assert (e.path, e.name, e.kind, e.size, e.mode) == ("a.txt", "a.txt", "file", 5, 0o644)
    assert (ws / "a.txt").read_bytes() == b"hello"
    data = fs.read("a.txt", limit=100)
    assert (data.data, data.size, data.truncated, data.mtime) == (b"hello", 5, False, e.mtime)
    assert fs.stat("a.txt") == e
    d = fs.mkdir("sub")
    assert d.kind == "dir" and d.path == "sub" and d.mode == 0o755
    fs.write("sub/b.txt", b"b")
    fs.mkdir("Zed")
    fs.write("B.txt", b"")
    assert [x.name for x in fs.list_dir("")] == ["sub", "Zed", "a.txt", "B.txt"]
    assert [x.path for x in fs.list_dir("sub")] == ["sub/b.txt"]
    moved = fs.move("sub/b.txt", "c.txt")
    assert moved.path == "c.txt" and fs.read("c.txt", limit=10).data == b"b"
    fs.delete("c.txt")
    fs.delete("sub")
    with pytest.raises(FileNotFound):
        fs.stat("sub")
    root = fs.stat("")
    assert root.kind == "dir" and root.path == "" and root.name == ""
    assert leftovers(ws) == []


WEIRD = [
    "with space.txt",
    "new\nline",
    "[bold]x[not-closed",
    "-rf",
    "\x1b[31mred",
    "ünïcödé-日本語-🙂",
    "tab\tname",
    "~",
    ".hidden",
    "x" * 255,
]


@pytest.mark.parametrize("name", WEIRD, ids=lambda n: repr(n)[:20])
def test_weird_names(fs: WorkspaceFS, ws: Path, name: str) -> None:
    fs.write(name, b"weird")
    assert (ws / name).read_bytes() == b"weird"
    assert fs.read(name, limit=10).data == b"weird"
    assert [e.name for e in fs.list_dir("")] == [name]
    fs.mkdir("d")
    fs.move(name, f"d/{name}")
    assert fs.search("", glob.escape(name)) == [f"d/{name}"]
    assert fs.walk_files() == [f"d/{name}"]
    fs.delete(f"d/{name}")
    assert fs.list_dir("d") == []


def test_bytes_names_round_trip(fs: WorkspaceFS, ws: Path) -> None:
    """Names that are not UTF-8 on disk come back as surrogate-escaped text and work as paths."""
    raw = b"bad-\xff\xfe.bin"
    with open(os.path.join(os.fsencode(ws), raw), "wb") as f:
        f.write(b"raw")
    [entry] = fs.list_dir("")
    assert os.fsencode(entry.name) == raw
    assert fs.read(entry.path, limit=10).data == b"raw"
    fs.write(entry.path, b"new")
    assert (Path(os.fsdecode(os.path.join(os.fsencode(ws), raw)))).read_bytes() == b"new"
    fs.write("made-\udcff", b"x")
    assert os.path.exists(os.path.join(os.fsencode(ws), b"made-\xff"))


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a//b", "a/./b", "a/", "x/..", "a\x00b", "\ud800"])
def test_non_canonical_paths_refused(fs: WorkspaceFS, bad: str) -> None:
    """The path policy runs before us, but this module is the last line of defence."""
    for op in (lambda: fs.read(bad, limit=1), lambda: fs.write(bad, b"x"), lambda: fs.stat(bad)):
        with pytest.raises(PathRejected):
            op()


def test_errors_are_chained_and_hide_host_paths(fs: WorkspaceFS, ws: Path) -> None:
    with pytest.raises(FileNotFound) as info:
        fs.read("missing/file", limit=10)
    assert isinstance(info.value.__cause__, OSError)
    no_host_paths(info.value, ws)
    assert "'missing/file'" in str(info.value)


# -- atomic writes, modes, ownership, conflicts ---------------------------------------------------------------
def test_write_replaces_atomically_and_keeps_mode(fs: WorkspaceFS, ws: Path) -> None:
    fs.write("run.sh", b"#!/bin/sh\n")
    os.chmod(ws / "run.sh", 0o750)
    ino = (ws / "run.sh").stat().st_ino
    e = fs.write("run.sh", b"#!/bin/sh\necho hi\n")
    assert e.mode == 0o750 and stat.S_IMODE((ws / "run.sh").stat().st_mode) == 0o750
    assert (ws / "run.sh").stat().st_ino != ino  # a new inode renamed over the old name, not written in place
    assert fs.write("new", b"", mode=0o600).mode == 0o600
    assert fs.write("run.sh", b"x", mode=0o700).mode == 0o700
    assert leftovers(ws) == []


def test_write_never_writes_through_a_hard_link(fs: WorkspaceFS, ws: Path, canary: Canary) -> None:
    """A hard link made inside the workspace to another file: the write replaces the name, not the inode."""
    (ws / "orig").write_bytes(b"orig")
    os.link(ws / "orig", ws / "alias")
    fs.write("alias", b"changed")
    assert (ws / "orig").read_bytes() == b"orig"


def test_write_drops_setid_bits(fs: WorkspaceFS, ws: Path) -> None:
    (ws / "s").write_bytes(b"x")
    os.chmod(ws / "s", 0o4755)
    assert fs.write("s", b"y").mode == 0o755
    assert fs.write("t", b"y", mode=0o6755).mode == 0o755


@pytest.mark.skipif(not IS_ROOT, reason="chown to another uid needs root")
def test_created_files_and_dirs_are_chowned(ws: Path, resolver: str) -> None:
    with WorkspaceFS(ws, owner_uid=60001, owner_gid=60002, use_openat2=resolver == "openat2") as fs:
        fs.write("f", b"x")
        fs.mkdir("d")
        fs.mkdir("p/q/r", parents=True)
        fs.write("d/g", b"y")
        fs.write("f", b"again")
        for rel in ("f", "d", "p", "p/q", "p/q/r", "d/g"):
            st_ = (ws / rel).stat()
            assert (st_.st_uid, st_.st_gid) == (60001, 60002), rel
        assert stat.S_IMODE((ws / "p/q").stat().st_mode) == 0o755
        assert stat.S_IMODE((ws / "f").stat().st_mode) == 0o644


def test_expected_mtime_conflict(fs: WorkspaceFS, ws: Path) -> None:
    e = fs.write("doc", b"v1")
    e2 = fs.write("doc", b"v2", expected_mtime=e.mtime)
    os.utime(ws / "doc", (e2.mtime + 10, e2.mtime + 10))  # someone in the sandbox edits it
    with pytest.raises(Conflict, match="changed on disk since it was opened"):
        fs.write("doc", b"v3", expected_mtime=e2.mtime)
    assert (ws / "doc").read_bytes() == b"v2"
    (ws / "doc").unlink()
    with pytest.raises(Conflict):
        fs.write("doc", b"v3", expected_mtime=e2.mtime)
    assert not (ws / "doc").exists() and leftovers(ws) == []


def test_write_refuses_non_regular_targets(fs: WorkspaceFS, ws: Path, canary: Canary) -> None:
    (ws / "dir").mkdir()
    os.symlink(canary.file, ws / "out-link")
    os.symlink("dir", ws / "in-link")
    os.mkfifo(ws / "fifo")
    for name in ("dir", "out-link", "in-link", "fifo"):
        with pytest.raises(PathRejected):
            fs.write(name, b"pwned")
    assert os.readlink(ws / "out-link") == str(canary.file)
    assert leftovers(ws) == []
    canary.intact()


def test_write_needs_the_parent(fs: WorkspaceFS, ws: Path) -> None:
    with pytest.raises(FileNotFound):
        fs.write("no/such/dir/f", b"x")
    (ws / "file").write_bytes(b"")
    with pytest.raises(FileNotFound):
        fs.write("file/child", b"x")
    with pytest.raises(PathRejected):
        fs.write("", b"x")


def test_disk_limit(ws: Path, resolver: str) -> None:
    with WorkspaceFS(ws, disk_limit_bytes=MiB, use_openat2=resolver == "openat2") as fs:
        fs.write("keep", b"old content")
        with pytest.raises(DiskLimitExceeded) as info:
            fs.write("big", b"\0" * (2 * MiB))
        assert "limit" in str(info.value) and "MiB" in str(info.value)
        no_host_paths(info.value, ws)
        assert sorted(os.listdir(ws)) == ["keep"]
        # a failed replacement leaves the old content intact
        with pytest.raises(DiskLimitExceeded):
            fs.write("keep", b"\0" * (2 * MiB))
        assert (ws / "keep").read_bytes() == b"old content"
        assert sorted(os.listdir(ws)) == ["keep"]
        # small writes still pass, and the cached usage follows them
        before = fs.usage()
        fs.write("small", b"x" * 10_000)
        assert fs.usage() > before
        fs.delete("small")
        assert fs.usage() == before


def test_chunked_write_is_invisible_until_commit_and_abort_leaves_nothing(ws: Path, resolver: str) -> None:
    with WorkspaceFS(ws, disk_limit_bytes=MiB, use_openat2=resolver == "openat2") as fs:
        fs.write("f", b"old")
        pending = fs.open_write("f")
        pending.write(b"new ")
        pending.write(b"content")
        assert (ws / "f").read_bytes() == b"old"  # the sandbox still sees the old file
        assert pending.commit().size == len(b"new content")
        assert (ws / "f").read_bytes() == b"new content"
        assert sorted(os.listdir(ws)) == ["f"]
        pending = fs.open_write("g")
        pending.write(b"half")
        pending.abort()
        pending.abort()  # again: harmless
        assert sorted(os.listdir(ws)) == ["f"]
        # the disk limit is checked as the chunks arrive, before each is written
        pending = fs.open_write("big")
        pending.write(b"\0" * (MiB // 2))
        with pytest.raises(DiskLimitExceeded):
            pending.write(b"\0" * MiB)
        pending.abort()
        assert sorted(os.listdir(ws)) == ["f"]


def test_chunked_read_refuses_what_read_refuses(fs: WorkspaceFS, ws: Path) -> None:
    (ws / "data").write_bytes(b"x" * 300_000)
    fd, st = fs.open_read("data")
    try:
        assert st.st_size == 300_000 and len(os.read(fd, 1 << 20)) == 300_000
    finally:
        os.close(fd)
    os.symlink("data", ws / "link")
    os.mkfifo(ws / "fifo")
    os.mkdir(ws / "dir")
    for name in ("link", "fifo", "dir"):
        with pytest.raises(PathRejected):
            fs.open_read(name)
    with pytest.raises(PathRejected):
        fs.open_write("link")


def test_disk_limit_allows_shrinking_when_over(ws: Path) -> None:
    (ws / "huge").write_bytes(b"\1" * (2 * MiB))  # written from inside the sandbox, past the soft limit
    with WorkspaceFS(ws, disk_limit_bytes=MiB) as fs:
        with pytest.raises(DiskLimitExceeded):
            fs.write("more", b"\1" * 8192)
        fs.write("huge", b"trimmed")
        assert (ws / "huge").read_bytes() == b"trimmed"


# -- reading ----------------------------------------------------------------------------------------------------
def test_read_limit_and_head(fs: WorkspaceFS, ws: Path) -> None:
    (ws / "big").write_bytes(b"a" * 5000)
    with pytest.raises(TooLarge) as info:
        fs.read("big", limit=1024)
    assert "4.9 KiB" in str(info.value) and "1.0 KiB" in str(info.value)
    head = fs.read("big", limit=1024, head=True)
    assert head.truncated and head.data == b"a" * 1024 and head.size == 5000
    whole = fs.read("big", limit=5000)
    assert not whole.truncated and len(whole.data) == 5000
    assert fs.read("big", limit=5000, head=True).truncated is False
    (ws / "d").mkdir()
    with pytest.raises(PathRejected, match="directory"):
        fs.read("d", limit=10)
    with pytest.raises(PathRejected):
        fs.read("", limit=10)


# -- mkdir / move / delete --------------------------------------------------------------------------------------
def test_mkdir(fs: WorkspaceFS, ws: Path, canary: Canary) -> None:
    fs.mkdir("a")
    with pytest.raises(AlreadyExists):
        fs.mkdir("a")
    assert fs.mkdir("a", parents=True).kind == "dir"
    fs.mkdir("a/b/c", parents=True)
    assert (ws / "a/b/c").is_dir()
    with pytest.raises(FileNotFound):
        fs.mkdir("x/y")
    (ws / "f").write_bytes(b"")
    with pytest.raises(AlreadyExists):
        fs.mkdir("f", parents=True)
    os.symlink(canary.dir, ws / "out")
    with pytest.raises(PathRejected):
        fs.mkdir("out/evil", parents=True)
    with pytest.raises(PathRejected):
        fs.mkdir("out/evil")
    assert fs.mkdir("", parents=True).path == ""
    canary.intact()


def test_move(fs: WorkspaceFS, ws: Path) -> None:
    fs.write("a", b"A")
    fs.write("b", b"B")
    with pytest.raises(AlreadyExists):
        fs.move("a", "b")
    assert (ws / "b").read_bytes() == b"B"
    fs.move("a", "b", overwrite=True)
    assert (ws / "b").read_bytes() == b"A" and not (ws / "a").exists()
    with pytest.raises(FileNotFound):
        fs.move("a", "c")
    fs.mkdir("d/e", parents=True)
    with pytest.raises(PathRejected, match="into itself"):
        fs.move("d", "d/e/d")
    with pytest.raises(FileNotFound):
        fs.move("b", "nope/b")
    fs.mkdir("full")
    fs.write("full/x", b"")
    with pytest.raises(AlreadyExists):
        fs.move("d", "full")
    with pytest.raises(PathRejected):
        fs.move("b", "full", overwrite=True)  # a file cannot replace a directory
    with pytest.raises(PathRejected):
        fs.move("", "x")
    with pytest.raises(PathRejected):
        fs.move("b", "")
    assert fs.move("d", "d2").kind == "dir"


def test_delete(fs: WorkspaceFS, ws: Path) -> None:
    fs.mkdir("d/e/f", parents=True)
    fs.write("d/e/f/x", b"x")
    fs.write("d/y", b"y")
    with pytest.raises(InvalidInput, match="not empty"):
        fs.delete("d")
    fs.delete("d", recursive=True)
    assert os.listdir(ws) == []
    with pytest.raises(PathRejected):
        fs.delete("")
    with pytest.raises(PathRejected):
        fs.delete("", recursive=True)
    with pytest.raises(FileNotFound):
        fs.delete("gone")
    os.mkfifo(ws / "fifo")
    fs.delete("fifo")  # special files are removed as names, never opened
    assert os.listdir(ws) == []


def test_delete_deep_tree(fs: WorkspaceFS, ws: Path) -> None:
    p = ws
    for _ in range(100):
        p = p / "d"
    p.mkdir(parents=True)
    (p / "leaf").write_bytes(b"x")
    fs.delete("d", recursive=True)
    assert os.listdir(ws) == []


# -- symlink attacks --------------------------------------------------------------------------------------------
def test_symlink_to_host_file(fs: WorkspaceFS, ws: Path, canary: Canary) -> None:
    os.symlink(canary.file, ws / "link")
    ops = {
        "read": lambda: fs.read("link", limit=100),
        "head": lambda: fs.read("link", limit=100, head=True),
        "write": lambda: fs.write("link", b"pwned"),
        "list-into": lambda: fs.list_dir("link"),
        "search-into": lambda: fs.search("link", "*"),
        "walk-into": lambda: fs.walk_files("link"),
    }
    for name, op in ops.items():
        with pytest.raises(SandbenchError) as info:
            op()
        no_host_paths(info.value, ws, canary.dir)
        assert isinstance(info.value, PathRejected), name
    entry = fs.stat("link")  # stat describes the link, never its target
    assert entry.kind == "symlink" and entry.symlink_target == str(canary.file)
    [listed] = fs.list_dir("")
    assert listed.kind == "symlink" and listed.symlink_target == str(canary.file)
    # move-onto: replacing the link replaces the link
    fs.write("mine", b"mine")
    fs.move("mine", "link", overwrite=True)
    assert (ws / "link").read_bytes() == b"mine" and not (ws / "link").is_symlink()
    # delete-through: deleting a link deletes the link
    os.symlink(canary.file, ws / "link2")
    fs.delete("link2")
    assert not os.path.lexists(ws / "link2")
    canary.intact()


def test_symlinked_parent_directory(fs: WorkspaceFS, ws: Path, canary: Canary) -> None:
    os.symlink(canary.dir, ws / "dir")
    (ws / "mine").write_bytes(b"mine")
    ops = [
        lambda: fs.read("dir/canary", limit=100),
        lambda: fs.read("dir/canary", limit=100, head=True),
        lambda: fs.write("dir/canary", b"pwned"),
        lambda: fs.write("dir/new", b"pwned"),
        lambda: fs.stat("dir/canary"),
        lambda: fs.list_dir("dir"),
        lambda: fs.mkdir("dir/new"),
        lambda: fs.move("mine", "dir/canary", overwrite=True),
        lambda: fs.move("mine", "dir/mine"),
        lambda: fs.move("dir/canary", "stolen"),
        lambda: fs.delete("dir/canary"),
        lambda: fs.delete("dir", recursive=True),  # allowed: removes the link only (checked below)
        lambda: fs.search("dir", "*"),
        lambda: fs.walk_files("dir"),
    ]
    for i, op in enumerate(ops):
        if i == 11:
            op()
            os.symlink(canary.dir, ws / "dir")
            continue
        with pytest.raises(PathRejected) as info:
            op()
        no_host_paths(info.value, ws, canary.dir)
    assert fs.walk_files("") == ["mine"]  # the link is not entered
    assert fs.search("", "*canary*") == []
    assert (ws / "mine").read_bytes() == b"mine" and not (ws / "stolen").exists()
    canary.intact()


def test_symlink_inside_workspace_is_not_followed_either(fs: WorkspaceFS, ws: Path) -> None:
    (ws / "real").mkdir()
    (ws / "real/f").write_bytes(b"inside")
    os.symlink("real/f", ws / "flink")
    os.symlink("real", ws / "dlink")
    with pytest.raises(PathRejected):
        fs.read("flink", limit=10)
    with pytest.raises(PathRejected):
        fs.write("flink", b"x")
    with pytest.raises(PathRejected):
        fs.read("dlink/f", limit=10)
    with pytest.raises(PathRejected):
        fs.write("dlink/f", b"x")
    listing = {e.name: e for e in fs.list_dir("")}
    assert listing["flink"].kind == "symlink" and listing["flink"].symlink_target == "real/f"
    assert listing["dlink"].kind == "symlink" and listing["dlink"].symlink_target == "real"
    assert [e.name for e in fs.list_dir("")] == ["real", "dlink", "flink"]
    assert (ws / "real/f").read_bytes() == b"inside"
    assert fs.move("flink", "flink2").kind == "symlink"  # moving a link moves the link


def test_recursive_delete_does_not_follow_links(fs: WorkspaceFS, ws: Path, canary: Canary) -> None:
    (ws / "tree/sub").mkdir(parents=True)
    os.symlink(canary.dir, ws / "tree/sub/out-dir")
    os.symlink(canary.file, ws / "tree/out-file")
    os.symlink(canary.dir, ws / "tree/sub/out-dir-rel-looking")
    fs.delete("tree", recursive=True)
    assert os.listdir(ws) == []
    canary.intact()


def test_magic_links_refused(fs: WorkspaceFS, ws: Path, canary: Canary) -> None:
    os.symlink("/proc/self/root/" + str(canary.file).lstrip("/"), ws / "magic")
    os.symlink("/proc/self/cwd", ws / "cwd")
    with pytest.raises(PathRejected):
        fs.read("magic", limit=100)
    with pytest.raises(PathRejected):
        fs.list_dir("cwd")
    canary.intact()


# -- special files ----------------------------------------------------------------------------------------------
def test_fifo_does_not_hang(fs: WorkspaceFS, ws: Path) -> None:
    os.mkfifo(ws / "fifo")
    t0 = time.monotonic()
    with pytest.raises(PathRejected, match="FIFO"):
        fs.read("fifo", limit=100)
    with pytest.raises(PathRejected):
        fs.read("fifo", limit=100, head=True)
    with pytest.raises(PathRejected):
        fs.write("fifo", b"x")
    assert time.monotonic() - t0 < 2
    [entry] = fs.list_dir("")
    assert entry.kind == "other"
    assert fs.stat("fifo").kind == "other"
    assert fs.walk_files() == []


def test_unix_socket_refused(fs: WorkspaceFS, ws: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(ws / "sock"))
        with pytest.raises(PathRejected, match="socket"):
            fs.read("sock", limit=100)
        with pytest.raises(PathRejected):
            fs.write("sock", b"x")
        assert fs.stat("sock").kind == "other"
    finally:
        sock.close()


@pytest.mark.skipif(not IS_ROOT, reason="mknod of a device needs root")
def test_device_node_refused(fs: WorkspaceFS, ws: Path) -> None:
    os.mknod(ws / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    with pytest.raises(PathRejected, match="device"):
        fs.read("null", limit=100)
    with pytest.raises(PathRejected):
        fs.read("null", limit=100, head=True)
    with pytest.raises(PathRejected):
        fs.write("null", b"x")
    assert fs.stat("null").kind == "other"
    assert [e.kind for e in fs.list_dir("")] == ["other"]


@pytest.mark.skipif(not IS_ROOT, reason="a mount needs root")
def test_mount_points_are_not_crossed(ws: Path, canary: Canary) -> None:
    """RESOLVE_NO_XDEV: a mount inside the workspace (only the host's admin can make one) is not crossed. Run in a
    private mount namespace so nothing leaks to the host."""
    unshare = require("unshare")
    (ws / "bind").mkdir()
    (ws / "tmpfs").mkdir()
    (ws / "filebind").write_bytes(b"placeholder")
    script = textwrap.dedent(
        f"""
        import json, subprocess, sys
        from pathlib import Path
        from services.local.fsapi import WorkspaceFS
        from services.errors import SandbenchError
        subprocess.run(["mount", "--bind", {str(canary.dir)!r}, {str(ws / "bind")!r}], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "none", {str(ws / "tmpfs")!r}], check=True)
        subprocess.run(["mount", "--bind", {str(canary.file)!r}, {str(ws / "filebind")!r}], check=True)
        Path({str(ws / "tmpfs" / "f")!r}).write_bytes(b"x")
        out = {{}}
        for mode in (True, False):
            fs = WorkspaceFS(Path({str(ws)!r}), use_openat2=mode)
            for p in ("bind/canary", "tmpfs/f", "filebind"):
                try:
                    fs.read(p, limit=100)
                    out[f"{{fs.resolver}} {{p}}"] = "read"
                except SandbenchError as e:
                    out[f"{{fs.resolver}} {{p}}"] = type(e).__name__
        print(json.dumps(out))
        """
    )
    proc = subprocess.run(
        [unshare, "--mount", "--propagation", "private", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=30,
    )
    if proc.returncode != 0 and "mount" in proc.stderr and "permission" in proc.stderr.lower():
        pytest.skip("mounts not permitted here")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["openat2 bind/canary"] == "PathRejected"  # a bind mount of the same filesystem: openat2 only
    assert out["openat2 tmpfs/f"] == "PathRejected"
    assert out["openat2 filebind"] == "PathRejected"  # a file bind-mounted over a workspace file
    assert out["walk tmpfs/f"] == "PathRejected"  # the fallback compares st_dev: another filesystem is caught
    canary.intact()


# -- search, walk, usage ------------------------------------------------------------------------------------------
def test_search(fs: WorkspaceFS, ws: Path, canary: Canary) -> None:
    for rel in ("src/Main.py", "src/util.py", "docs/README.md", ".git/objects/x.py", "a.PY"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_bytes(b"")
    os.symlink(canary.dir, ws / "src/out")
    assert fs.search("", "*.py") == ["a.PY", "src/Main.py", "src/util.py"]  # lower case: case-insensitive
    assert fs.search("", "*.PY") == ["a.PY"]
    assert fs.search("", "main*") == ["src/Main.py"]
    assert fs.search("", "M*") == ["src/Main.py"]
    assert fs.search("src", "*") == ["src/Main.py", "src/out", "src/util.py"]
    assert fs.search("", "*canary*") == []
    assert fs.search("", ".git") == [".git"]
    assert len(fs.search("", "*", limit=2)) == 2
    with pytest.raises(FileNotFound):
        fs.search("nope", "*")
    with pytest.raises(InvalidInput):
        fs.search("", "")


def test_walk_files(fs: WorkspaceFS, ws: Path, canary: Canary) -> None:
    for rel in ("a", "b/c", "b/d/e", ".git/HEAD", "x/.git/config", "node_modules/m"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_bytes(b"")
    os.symlink(canary.dir, ws / "out")
    os.symlink("a", ws / "a-link")
    os.mkfifo(ws / "fifo")
    assert fs.walk_files() == ["a", "b/c", "b/d/e", "node_modules/m"]
    assert fs.walk_files("b") == ["b/c", "b/d/e"]
    assert fs.walk_files(skip_dirs=frozenset({"node_modules", ".git"})) == ["a", "b/c", "b/d/e"]
    assert sorted(fs.walk_files(skip_dirs=frozenset())) == [
        ".git/HEAD",
        "a",
        "b/c",
        "b/d/e",
        "node_modules/m",
        "x/.git/config",
    ]
    assert fs.walk_files(limit=2) == ["a", "b/c"]
    with pytest.raises(PathRejected):
        fs.walk_files("a")


def test_walk_files_20k(big_ws: Path, resolver: str) -> None:
    for d in range(200):
        sub = big_ws / f"pkg{d:03}" / "src"
        sub.mkdir(parents=True)
        for i in range(100):
            os.close(os.open(sub / f"module_{i}.py", os.O_CREAT | os.O_WRONLY, 0o644))
    fs = WorkspaceFS(big_ws, use_openat2=resolver == "openat2")
    t0 = time.perf_counter()
    files = fs.walk_files()
    took = time.perf_counter() - t0
    print(f"\nwalk_files over 20,000 files ({fs.resolver}): {took * 1000:.0f} ms")
    fs.close()
    assert len(files) == 20_000 and len(set(files)) == 20_000


def test_list_dir_10k(big_ws: Path, resolver: str) -> None:
    big_ws.mkdir(exist_ok=True)
    for i in range(10_000):
        os.close(os.open(big_ws / f"file-{i:05}.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    fs = WorkspaceFS(big_ws, use_openat2=resolver == "openat2")
    t0 = time.perf_counter()
    entries = fs.list_dir("")
    took = time.perf_counter() - t0
    print(f"\nlist_dir of 10,000 entries ({fs.resolver}): {took * 1000:.0f} ms")
    fs.close()
    assert len(entries) == 10_000 and entries[0].name == "file-00000.txt"


def test_usage(fs: WorkspaceFS, ws: Path, canary: Canary) -> None:
    base = fs.usage()
    (ws / "blob").write_bytes(b"\1" * 100_000)
    os.link(ws / "blob", ws / "blob2")
    os.symlink(canary.file, ws / "out")
    big = canary.dir / "big"
    big.write_bytes(b"\1" * 1_000_000)
    os.symlink(canary.dir, ws / "outdir")
    fresh = WorkspaceFS(ws)
    used = fresh.usage()
    blob = (ws / "blob").stat().st_blocks * 512
    link = os.lstat(ws / "out").st_blocks * 512 + os.lstat(ws / "outdir").st_blocks * 512
    assert used == base + blob + link  # the hard link once, the symlinks' own blocks only
    fresh.close()
    big.unlink()


def test_close(ws: Path) -> None:
    fs = WorkspaceFS(ws)
    fs.close()
    fs.close()
    with pytest.raises(ProviderError):
        fs.list_dir("")


def test_module_switch_forces_fallback(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fsapi, "USE_OPENAT2", False)
    with WorkspaceFS(ws) as fs:
        assert fs.resolver == "walk"
        fs.write("f", b"x")
        assert fs.read("f", limit=1).data == b"x"


def test_missing_workspace(tmp_path: Path) -> None:
    with pytest.raises(FileNotFound) as info:
        WorkspaceFS(tmp_path / "nope")
    no_host_paths(info.value, tmp_path)


# -- property: nothing a path can say leaves the workspace ------------------------------------------------------
_COMPONENTS = st.one_of(
    st.sampled_from(["..", ".", "", "~", "out", "out-file", "fifo", "d", "d/f", "inner", "x" * 300, "\x00", "a\x00b"]),
    st.text(min_size=1, max_size=12),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
)
_PATHS = st.one_of(
    st.lists(_COMPONENTS, max_size=6).map("/".join),
    st.lists(_COMPONENTS, max_size=3).map(lambda c: "/" + "/".join(c)),
    st.text(max_size=40),
    st.just("d/" * 2100),
    st.just("/".join(["d"] * 2047)),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=_PATHS, data=st.binary(max_size=64))
def test_paths_never_leave_the_workspace(
    fs: WorkspaceFS, ws: Path, canary: Canary, tmp_path: Path, raw: str, data: bytes
) -> None:
    if not (ws / "d").exists():
        (ws / "d").mkdir()
        (ws / "d/f").write_bytes(b"inside")
        os.symlink(canary.dir, ws / "out")
        os.symlink(canary.file, ws / "out-file")
        os.symlink("d", ws / "inner")
        os.mkfifo(ws / "fifo")
    try:
        p = paths.normalize(raw)
    except SandbenchError:
        return
    ops = [
        lambda: fs.stat(p),
        lambda: fs.read(p, limit=1024),
        lambda: fs.read(p, limit=4, head=True),
        lambda: fs.list_dir(p),
        lambda: fs.write(p, data),
        lambda: fs.read(p + "/canary" if p else "canary", limit=1024),
    ]
    for op in ops:
        try:
            result = op()
        except SandbenchError as exc:  # anything else (OSError, ValueError, ...) fails the test
            no_host_paths(exc, tmp_path, canary.dir)
            continue
        if hasattr(result, "data"):
            assert canary.content not in result.data
    canary.intact()
    assert leftovers(ws) == []


def test_listing_without_details_has_kinds_and_never_follows(tmp_path: Path) -> None:
    """The tree's listing: kinds from the directory entries, no stat per entry, symlinks still not followed."""
    ws = tmp_path / "ws"
    (ws / "d").mkdir(parents=True)
    (ws / "f.txt").write_text("x")
    os.symlink("/etc", ws / "to-etc")
    os.symlink("d", ws / "to-d")
    os.mkfifo(ws / "pipe")
    fs = WorkspaceFS(ws)
    try:
        light = fs.list_dir("", details=False)
        full = fs.list_dir("")
    finally:
        fs.close()
    assert [(e.name, e.kind) for e in light] == [(e.name, e.kind) for e in full]
    kinds = {e.name: e.kind for e in light}
    assert kinds == {"d": "dir", "f.txt": "file", "to-etc": "symlink", "to-d": "symlink", "pipe": "other"}
    assert all(e.size == -1 and e.mtime == -1 and e.symlink_target is None for e in light)
    assert {e.name: e.symlink_target for e in full}["to-etc"] == "/etc"
