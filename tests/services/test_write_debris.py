"""A write killed mid-way leaves no debris: `kill -9` of `sandbench cp` during a 200 MB copy leaves its atomic-write
temp in the workspace; the next service start (`sandbench ls`) or sandbox stop removes it, the target keeps its old
content, and nothing that merely looks like our temp — a symlink planted under the same name, a sandbox's own file
with our name or a similar one — is touched. In-flight writes of another process are left alone, and our temp
names never show in listings, search or the fuzzy finder's walk. The copies killed or stopped and the `ls` that
sweeps are real `sandbench` processes; making the sandbox and its files goes through the CLI's `main()` in this
process (`run_here`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.config import Config
from services.local.fsapi import WorkspaceFS
from services.local.provider import LocalProvider
from tests.services.test_cli import REPO, run, run_here

pytestmark = [pytest.mark.timeout(240), pytest.mark.bwrap]

BIG = 200 * 1024 * 1024
OLD = b"the old content\n"
TEMP = re.compile(r"\.sandbench-[0-9a-f]{16}\.tmp")  # the atomic write's temp name (services/local/fsapi.py)


def _temps(ws: Path) -> list[Path]:
    return [p for p in ws.rglob(".sandbench-*") if TEMP.fullmatch(p.name) and not p.is_symlink()]


def _start_copy(big: Path, dest: str) -> subprocess.Popen[bytes]:
    with open(big, "rb") as stdin:
        return subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "cp", "-", dest],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )


def _await_temp(proc: subprocess.Popen[bytes], ws: Path, before: set[Path], timeout: float = 60) -> Path:
    """The copy's temp file, as soon as it has data in it (polled: there is nothing to wait on for that).
    `before`: files with our name pattern that were there already (the sandbox's own) are not the copy's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in _temps(ws) if p not in before]
        with contextlib.suppress(FileNotFoundError):
            if found and found[0].stat().st_size > 0:  # mid-copy: part of the data is in
                return found[0]
        if proc.poll() is not None:
            raise AssertionError(
                f"cp ended before its temp file was seen: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        time.sleep(0.001)
    raise AssertionError("cp never created its temp file")


def _kill_mid_copy(big: Path, ws: Path, dest: str) -> Path:
    before = set(_temps(ws))
    proc = _start_copy(big, dest)
    try:
        temp = _await_temp(proc, ws, before)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert temp.exists(), "the copy finished before it was killed"
    return temp


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.truncate(BIG)  # sparse: cheap to make and to read, 200 MB once written into the workspace
    return path


def _create(name: str, *, here: bool = True) -> tuple[str, Path]:
    """A new sandbox and its workspace; `here=False` from an async test (the CLI runs its own event loop)."""
    made = (run_here if here else run)("create", name, "--json")
    assert made.returncode == 0, made.stderr
    import json

    sid = json.loads(made.stdout)["id"]
    return sid, Path(os.environ["SANDBENCH_HOME"]) / "sandboxes" / sid / "workspace"


def test_killed_cp_leaves_nothing_after_the_next_start(sandbench_home: Path, big: Path, tmp_path: Path) -> None:
    _, ws = _create("box")
    assert run_here("exec", "box", "--", "mkdir", "sub").returncode == 0
    assert run_here("cp", "-", "box:sub/target.bin", stdin=OLD).returncode == 0
    # the sandbox's own files: one with our exact temp name (not ours: no journal entry), one with a near name
    made = run_here(
        "exec", "box", "--", "sh", "-c", "echo a > .sandbench-0123456789abcdef.tmp; echo b > .sandbench-x.tmp"
    )
    assert made.returncode == 0, made.stderr
    victim = tmp_path / "victim"
    victim.write_bytes(b"outside the workspace\n")

    # 1: killed, then the sandbox swaps a symlink (to a host file) in under the temp's name before any sweep
    first = _kill_mid_copy(big, ws, "box:sub/target.bin")
    first.unlink()
    first.symlink_to(victim)
    # 2: killed and left as it is
    second = _kill_mid_copy(big, ws, "box:sub/target.bin")
    assert second.stat().st_size > 0 and second.parent.name == "sub"

    listed = run("ls")  # a service start: the provider sweeps what killed writes left
    assert listed.returncode == 0, listed.stderr
    assert not second.exists() and not os.path.lexists(second)
    assert first.is_symlink() and victim.read_bytes() == b"outside the workspace\n"
    assert (ws / ".sandbench-0123456789abcdef.tmp").read_bytes() == b"a\n"
    assert (ws / ".sandbench-x.tmp").read_bytes() == b"b\n"
    out = run("cp", "box:sub/target.bin", "-")
    assert out.returncode == 0 and out.stdout == OLD
    # and the workspace is back to its size: the 200 MB temp no longer counts against the disk limit
    assert sum(p.stat().st_size for p in ws.rglob("*") if p.is_file() and not p.is_symlink()) < 1024 * 1024


async def test_stop_sweeps_and_an_inflight_write_is_left_alone(sandbench_home: Path, big: Path, config: Config) -> None:
    sid, ws = _create("box", here=False)
    # this provider starts before the debris exists: only its stop can remove what follows
    provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
    try:
        # a write in flight in another process (stopped mid-copy, holding its journal entry) survives a service
        # start, then completes
        proc = _start_copy(big, "box:new.bin")
        try:
            temp = await asyncio.to_thread(_await_temp, proc, ws, set())
            proc.send_signal(signal.SIGSTOP)
            assert run("ls").returncode == 0
            assert temp.exists()
            proc.send_signal(signal.SIGCONT)
            assert await asyncio.to_thread(proc.wait, 120) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        assert (ws / "new.bin").stat().st_size == BIG

        temp = await asyncio.to_thread(_kill_mid_copy, big, ws, "box:new.bin")
        await provider.stop(sid)
        assert not temp.exists()
        assert (ws / "new.bin").stat().st_size == BIG
    finally:
        await provider.close()


def test_our_temps_are_not_listed(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".sandbench-0123456789abcdef.tmp").write_bytes(b"half a write")
    (tmp_path / ".sandbench-fedcba9876543210.tmp").symlink_to("elsewhere")  # not a file of ours: shown
    (tmp_path / ".sandbench-x.tmp").write_bytes(b"theirs")
    (tmp_path / "sub" / "real.txt").write_bytes(b"real")
    with WorkspaceFS(tmp_path) as fs:
        for details in (True, False):
            assert [e.name for e in fs.list_dir("sub", details=details)] == ["real.txt"]
            assert sorted(e.name for e in fs.list_dir("", details=details)) == [
                ".sandbench-fedcba9876543210.tmp",
                ".sandbench-x.tmp",
                "sub",
            ]
        assert fs.walk_files() == [".sandbench-x.tmp", "sub/real.txt"]
        assert fs.search("", ".sandbench-*") == [".sandbench-fedcba9876543210.tmp", ".sandbench-x.tmp"]
