"""Per-sandbox cgroups against the real kernel (services/local/cgroups.py).

Each test creates its own cgroup under a test-only parent and removes it afterwards, failed or not. Where the host
has no writable cgroup hierarchy the tests skip — except in CI as root, which is known to have one, so there they
fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.errors import InvalidInput, NameRejected
from services.local import cgroups
from services.local.cgroups import Cgroup, CgroupManager

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# One parent per test process: xdist workers (and other runs on this machine) each remove theirs when done, and a
# shared one vanished under another worker's next test.
PARENT = f"sandbench-test-{os.getpid()}"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def manager() -> Iterator[CgroupManager]:
    m = CgroupManager(PARENT)
    if not m.available:
        if IN_CI and os.geteuid() == 0:
            pytest.fail(f"CI is expected to offer a writable cgroup hierarchy: {m.reason}")
        pytest.skip(f"no cgroup here: {m.reason}")
    yield m
    layout = m._layout
    if layout is not None:
        for parent in layout.parents.values():
            with contextlib.suppress(OSError):  # other sessions may still use it
                parent.rmdir()


@pytest.fixture
def make_cgroup(manager: CgroupManager) -> Iterator[Callable[..., Cgroup]]:
    made: list[Cgroup] = []

    def make(*, pids_max: int = 64, memory_bytes: int = 256 * MiB, cpus: float = 1.0) -> Cgroup:
        cg = manager.ensure(f"t-{secrets.token_hex(4)}", pids_max=pids_max, memory_bytes=memory_bytes, cpus=cpus)
        assert cg is not None
        made.append(cg)
        return cg

    yield make
    for cg in made:
        cg.remove()
        assert not any(Path(d).exists() for d in cg.dirs.values()), f"{cg} left behind"


def joiner(cg: Cgroup) -> Callable[[], None]:
    """What the launcher does in preexec: the forked child writes its own pid into every procs file."""
    files = cg.procs_files

    def join() -> None:
        pid = str(os.getpid()).encode()
        for f in files:
            fd = os.open(f, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)

    return join


def run_in(cg: Cgroup, code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        preexec_fn=joiner(cg),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_sandbox_ids_are_validated() -> None:
    m = CgroupManager(PARENT)
    for bad in ("", "../x", "a/b", "A", "-a", "a b", "a\n", "x" * 64, ".."):
        with pytest.raises(NameRejected):
            m.ensure(bad, pids_max=16, memory_bytes=64 * MiB, cpus=1)
        with pytest.raises(NameRejected):
            m.get(bad)


def test_unusable_host_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "mountinfo"
    empty.write_text("")
    monkeypatch.setattr(cgroups, "MOUNTINFO", str(empty))
    m = CgroupManager(PARENT)
    assert not m.available
    assert m.reason == "no writable cgroup hierarchy"
    assert m.ensure("abc", pids_max=16, memory_bytes=64 * MiB, cpus=1) is None
    assert m.get("abc") is None
    bad = CgroupManager("../escape")
    assert not bad.available and "parent" in bad.reason


def test_invalid_limits_are_refused(manager: CgroupManager) -> None:
    with pytest.raises(InvalidInput):
        manager.ensure("t-limits", pids_max=0, memory_bytes=64 * MiB, cpus=1)
    with pytest.raises(InvalidInput):
        manager.ensure("t-limits", pids_max=16, memory_bytes=64 * MiB, cpus=0)
    assert manager.get("t-limits") is None


def test_child_joined_before_exec_is_counted_with_its_children(make_cgroup: Callable[..., Cgroup]) -> None:
    cg = make_cgroup()
    assert cg.pids() == set()
    proc = run_in(
        cg,
        """
        import subprocess, sys, time
        p = subprocess.Popen(["sleep", "30"])
        print(p.pid, flush=True)
        time.sleep(30)
        """,
    )
    try:
        assert proc.stdout is not None
        grandchild = int(proc.stdout.readline())
        assert {proc.pid, grandchild} <= cg.pids()
        assert os.getpid() not in cg.pids()
        for line in Path(f"/proc/{grandchild}/cgroup").read_text().splitlines():
            if any(ctl in line.split(":")[1].split(",") for ctl in ("pids", "memory")):
                assert line.endswith(f"/{PARENT}/{cg.sandbox_id}")
    finally:
        assert cg.kill_all()
        proc.wait(timeout=5)
    assert cg.pids() == set()


def test_fork_bomb_is_bounded_by_pids_max(make_cgroup: Callable[..., Cgroup]) -> None:
    cg = make_cgroup(pids_max=16)
    proc = run_in(
        cg,
        """
        import errno, json, os, time
        forked, refused = 0, None
        for _ in range(200):
            try:
                pid = os.fork()
            except OSError as exc:
                refused = errno.errorcode[exc.errno]
                continue
            if pid == 0:
                os.close(1); os.close(2)
                time.sleep(20)
                os._exit(0)
            forked += 1
        print(json.dumps({"forked": forked, "refused": refused}), flush=True)
        time.sleep(20)
        """,
    )
    peak = 0
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        peak = max(peak, len(cg.pids()))
        result = json.loads(line)
    finally:
        assert cg.kill_all()
        proc.wait(timeout=5)
    assert result["refused"] == "EAGAIN"
    assert result["forked"] == 15  # 16 tasks: the parent and 15 children, and not one more
    assert peak <= 16
    assert cg.pids() == set()


def test_memory_limit_kills_or_refuses_the_sandbox_not_us(make_cgroup: Callable[..., Cgroup]) -> None:
    cg = make_cgroup(memory_bytes=64 * MiB)
    hog = """
        import sys
        data = b"\\x01" * (int(sys.argv[1]) * 1024 * 1024)  # touched, not just reserved
        print(len(data), flush=True)
        """
    # control: well under the limit works, so what follows is the limit and not something else
    ok = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(hog), "24"],
        preexec_fn=joiner(cg),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ok.returncode == 0, ok.stderr
    big = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(hog), "128"],
        preexec_fn=joiner(cg),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert big.returncode != 0
    assert big.returncode == -signal.SIGKILL or "MemoryError" in big.stderr
    peak = cg.memory_peak_bytes()
    assert peak is not None and 24 * MiB < peak <= 64 * MiB + 4 * MiB


def test_cpu_quota_is_enforced(make_cgroup: Callable[..., Cgroup]) -> None:
    cg = make_cgroup(cpus=0.25)
    proc = run_in(
        cg,
        """
        import os, time
        end = time.monotonic() + 1.2
        while time.monotonic() < end:
            pass
        t = os.times()
        print(t.user + t.system, flush=True)
        """,
    )
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    # 0.25 CPU for 1.2 s is 0.3 s of CPU time; unlimited it would be ~1.2 s
    assert float(out) < 0.6


def test_limits_are_written_and_updated(manager: CgroupManager, make_cgroup: Callable[..., Cgroup]) -> None:
    cg = make_cgroup(pids_max=32, memory_bytes=128 * MiB, cpus=1.5)

    def read(ctl: str, name: str) -> str:
        return (cg.dirs[ctl] / name).read_text().strip()

    if cg.version == 1:
        assert read("pids", "pids.max") == "32"
        assert read("memory", "memory.limit_in_bytes") == str(128 * MiB)
        assert read("cpu", "cpu.cfs_quota_us") == "150000"
        assert read("cpu", "cpu.cfs_period_us") == "100000"
        memsw = cg.dirs["memory"] / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            assert memsw.read_text().strip() == str(128 * MiB)
    else:
        assert read("unified", "pids.max") == "32"
        assert read("unified", "memory.max") == str(128 * MiB)
        assert read("unified", "cpu.max") == "150000 100000"
    # raising and lowering the memory limit both work (memsw must stay >= the limit at every step in v1)
    for mem in (512 * MiB, 64 * MiB):
        again = manager.ensure(cg.sandbox_id, pids_max=8, memory_bytes=mem, cpus=0.5)
        assert again is not None and again.procs_files == cg.procs_files
        key = ("memory", "memory.limit_in_bytes") if cg.version == 1 else ("unified", "memory.max")
        assert read(*key) == str(mem)
        if cg.version == 1 and (cg.dirs["memory"] / "memory.memsw.limit_in_bytes").exists():
            assert read("memory", "memory.memsw.limit_in_bytes") == str(mem)
    assert read(*(("pids", "pids.max") if cg.version == 1 else ("unified", "pids.max"))) == "8"
    found = manager.get(cg.sandbox_id)
    assert found is not None and found.procs_files == cg.procs_files


def test_kill_all_gets_double_forked_daemons_and_busy_forkers(make_cgroup: Callable[..., Cgroup]) -> None:
    cg = make_cgroup(pids_max=64)
    # a daemon: setsid + fork, the intermediate parent exits, the daemon is reparented away from us
    launcher = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import os, time
                if os.fork() == 0:
                    os.setsid()
                    if os.fork() == 0:
                        print(os.getpid(), flush=True)
                        os.close(1); os.close(2)
                        time.sleep(60)
                        os._exit(0)
                    os._exit(0)
                os.wait()
                """
            ),
        ],
        preexec_fn=joiner(cg),
        capture_output=True,
        text=True,
        timeout=30,
    )
    daemon = int(launcher.stdout)
    # and a process forking as fast as it can while we kill
    forker = run_in(
        cg,
        """
        import os, time
        while True:
            try:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
            except OSError:
                time.sleep(0.001)
        """,
    )
    try:
        # the kill must meet the forker mid-stream: wait until it has children of its own (a fixed 0.2 s was not
        # always enough for a fork or two on a loaded machine)
        deadline = time.monotonic() + 30
        while len(cg.pids()) <= 3 and forker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert alive(daemon) and daemon in cg.pids()
        assert forker.pid in cg.pids() and len(cg.pids()) > 3
        assert cg.kill_all(timeout=5)
        assert cg.pids() == set()
        assert not alive(daemon)
    finally:
        with contextlib.suppress(ProcessLookupError):
            forker.kill()
        forker.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.kill(daemon, signal.SIGKILL)
    assert forker.returncode == -signal.SIGKILL


def test_a_parent_removed_since_the_probe_is_made_again(manager: CgroupManager) -> None:
    assert manager._layout is not None
    for parent in manager._layout.parents.values():
        if not any(p.is_dir() for p in parent.iterdir()):
            parent.rmdir()
    assert not any(p.exists() for p in manager._layout.parents.values())
    sid = f"t-{secrets.token_hex(4)}"
    cg = manager.ensure(sid, pids_max=16, memory_bytes=64 * MiB, cpus=1)
    assert cg is not None, "a sandbox started after its cgroup parent went got no limits"
    try:
        assert cg.pids() == set()
        assert manager.get(sid) is not None
    finally:
        cg.remove()


def test_remove_cleans_up(manager: CgroupManager) -> None:
    sid = f"t-{secrets.token_hex(4)}"
    cg = manager.ensure(sid, pids_max=16, memory_bytes=64 * MiB, cpus=1)
    assert cg is not None
    try:
        proc = run_in(cg, "import time; time.sleep(30)")
        dirs = list(cg.dirs.values())
        assert all(d.is_dir() for d in dirs)
        cg.remove()  # kills what is left, then removes
        proc.wait(timeout=5)
        assert not any(d.exists() for d in dirs)
        assert manager.get(sid) is None
        cg.remove()  # already gone is fine
    finally:
        cg.remove()
