"""The rename race that a check-then-open file API loses (docs/isolation.md: a realpath() check followed by open()
lost a 3-second race 2,071 times).

A separate process swaps `ws/d` between a real directory and a symlink to a directory outside the workspace with
renameat2(RENAME_EXCHANGE), as fast as it can, while this process reads and writes `d/f` through WorkspaceFS. The
outside canary must never be read, modified, or gain a file. A naive reader runs alongside as a control, to show
that the race is really being run (its count is printed, not asserted: it depends on scheduling).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from services.errors import SandbenchError
from services.local import linux_calls
from services.local.fsapi import WorkspaceFS

CANARY = b"HOST-SECRET-CANARY"

FLIPPER = textwrap.dedent(
    """
    import ctypes, os, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
    end = time.monotonic() + float(sys.argv[2])
    n = 0
    print("ready", flush=True)
    while time.monotonic() < end:
        for _ in range(500):
            if libc.renameat2(fd, b"d", fd, b"d_swap", 2) != 0:  # RENAME_EXCHANGE
                sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
        n += 500
    print(n, flush=True)
    """
)


@pytest.mark.parametrize(("resolver", "seconds"), [("openat2", 3.0), ("walk", 1.5)])
def test_rename_race_never_reaches_outside(tmp_path: Path, resolver: str, seconds: float) -> None:
    if resolver == "openat2" and not linux_calls.openat2_available():
        pytest.skip("openat2 is not available on this kernel")
    ws = tmp_path / "ws"
    outside = tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    (outside / "f").write_bytes(CANARY)
    os.utime(outside / "f", ns=(10**18, 10**18))
    (ws / "d").mkdir()
    (ws / "d/f").write_bytes(b"inside")
    os.symlink(outside, ws / "d_swap")

    flipper = subprocess.Popen(
        [sys.executable, "-c", FLIPPER, str(ws), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert flipper.stdout is not None
    assert flipper.stdout.readline().strip() == "ready"
    ok = refused = naive_hits = i = 0
    with WorkspaceFS(ws, use_openat2=resolver == "openat2") as fs:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            i += 1
            try:
                got = fs.read("d/f", limit=1024).data
                assert got != CANARY, "read the outside file through the swapped symlink"
                assert got == b"inside" or got.startswith(b"written-")
                ok += 1
            except SandbenchError:
                refused += 1
            try:
                fs.write("d/f", b"written-%d" % i)
                ok += 1
            except SandbenchError:
                refused += 1
            try:  # the control: what a path-string API does
                with open(ws / "d/f", "rb") as f:
                    naive_hits += f.read() == CANARY
            except OSError:
                pass
    out, _ = flipper.communicate(timeout=10)
    assert flipper.returncode == 0, out
    swaps = int(out.strip())
    print(
        f"\n{resolver}: {swaps} swaps, {i} rounds, {ok} operations succeeded, {refused} refused; "
        f"a naive open() read the canary {naive_hits} times"
    )
    assert (outside / "f").read_bytes() == CANARY
    assert (outside / "f").stat().st_mtime_ns == 10**18
    assert os.listdir(outside) == ["f"]  # no temp file or new file ever landed outside
    real = ws / "d" if not (ws / "d").is_symlink() else ws / "d_swap"
    assert os.listdir(real) == ["f"]  # and no temp file was left behind inside
    assert swaps > 0 and ok > 0 and refused > 0  # the race was really run: both states were seen


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from services.local.fsapi import WorkspaceFS
    fs = WorkspaceFS(Path(sys.argv[1]))
    blob = b"N" * (16 * 1024 * 1024)
    print("ready", flush=True)
    while True:
        fs.write("target", blob)
    """
)


def test_killed_writer_never_leaves_a_partial_file(tmp_path: Path) -> None:
    """SIGKILL a process in the middle of 16 MiB writes: the target holds the old content or the whole new
    content, never a mix; what a killed writer leaves is a temp file, which is never the target's name."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "target").write_bytes(b"old")
    repo = Path(__file__).resolve().parents[2]
    for delay in (0.05, 0.2, 0.4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(ws)], stdout=subprocess.PIPE, text=True, cwd=repo)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=10)
        data = (ws / "target").read_bytes()
        assert data == b"old" or data == b"N" * (16 * 1024 * 1024)
    for name in os.listdir(ws):
        assert name == "target" or (name.startswith(".sandbench-") and name.endswith(".tmp"))
