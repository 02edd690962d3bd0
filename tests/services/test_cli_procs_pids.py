"""`sandbench ps` / `kill` speak the sandbox's own pids (what `$!` and `echo $$` say inside), keep the host's as
`host_pid`, hide the sandbox's bwrap plumbing and refuse to signal it, and refuse a pid that several commands share
(each command of a local sandbox numbers its processes from 1) — the real CLI over a real sandbox. The two commands
and every refusal and kill are real `sandbench` processes; making the sandbox and the polls that wait for the
commands' processes and files go through the CLI's `main()` in this process (`run_here`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.services.test_cli import REPO, run, run_here

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


def _background(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _procs(name: str) -> list[dict[str, Any]]:
    out = run_here("ps", name, "--json")
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout)["processes"])


def _wait_for(name: str, command: str, count: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        procs = _procs(name)
        if len([p for p in procs if p["command"] == command]) >= count or time.monotonic() > deadline:
            return procs
        time.sleep(0.1)


def _read(name: str, path: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        r = run_here("exec", name, "--", "cat", path)
        if (r.returncode == 0 and r.stdout.strip()) or time.monotonic() > deadline:
            return r.stdout.decode().strip()
        time.sleep(0.1)


def test_pids_are_the_sandboxs_own_and_plumbing_is_neither_listed_nor_signalled(sandbench_home: Path) -> None:
    assert run_here("create", "nbox").returncode == 0
    one = _background("exec", "nbox", "--", "sh", "-c", "sleep 4141 & echo $! > one.pid; echo $$ > one.sh; wait")
    two = _background("exec", "nbox", "--", "sh", "-c", "sleep 4242 & echo $$ > two.sh; wait")
    try:
        procs = _wait_for("nbox", "sleep 4141")
        procs = _wait_for("nbox", "sleep 4242")
        inside = int(_read("nbox", "one.pid"))
        (sleep,) = [p for p in procs if p["command"] == "sleep 4141"]
        assert sleep["pid"] == inside  # what $! said inside the sandbox
        assert isinstance(sleep["host_pid"], int) and sleep["host_pid"] != inside
        assert not [p for p in procs if p["command"].startswith("bwrap")], procs  # the plumbing is not listed
        shell = int(_read("nbox", "one.sh"))
        sh_row = next(p for p in procs if p["command"].startswith("sh -c sleep 4141"))
        assert sh_row["pid"] == shell and sleep["ppid"] == shell
        text = run("ps", "nbox").stdout.decode()
        assert f"{inside:>5} {sleep['host_pid']:>7} " in text
        # both commands' shells are pid `shell`: which one is meant is not guessed
        assert int(_read("nbox", "two.sh")) == shell
        shared = run("kill", "nbox", str(shell))
        assert shared.returncode == 2 and b"--host-pid" in shared.stderr, shared.stderr
        # pid 1 of a command's namespace is its bwrap: ending it would end the command; refused
        plumbing = run("kill", "nbox", "1")
        assert plumbing.returncode == 4 and b"bwrap" in plumbing.stderr, plumbing.stderr
        assert one.poll() is None and two.poll() is None
        # the sandbox's pid of the sleep is unique here only if the other command's is another number: by host pid
        killed = run("kill", "nbox", str(sleep["host_pid"]), "--host-pid", "--json")
        assert killed.returncode == 0, killed.stderr
        assert json.loads(killed.stdout)["pid"] == inside and json.loads(killed.stdout)["ended"] is True
        assert one.wait(30) == 0
        # one command left: its pids are unique again, and kill takes them as the sandbox says them
        (other,) = [p for p in _procs("nbox") if p["command"] == "sleep 4242"]
        ended = run("kill", "nbox", str(other["pid"]), "--json")
        assert ended.returncode == 0, ended.stderr
        assert json.loads(ended.stdout)["host_pid"] == other["host_pid"]
        assert two.wait(30) == 0
    finally:
        for p in (one, two):
            p.kill()
            p.wait()
