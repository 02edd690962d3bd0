"""`sandbench ps`, `kill` and `ports` as a user runs them: the real CLI on a real sandbox with a real process. The
poll that waits for the process to show goes through the CLI's `main()` in this process (`run_here`); every listing
that is checked is a real `sandbench` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.services.test_cli import REPO, run, run_here

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


def _background(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _ps(name: str, *, here: bool = False) -> dict[str, object]:
    out = (run_here if here else run)("ps", name, "--json")
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_ps_json_shows_the_tree_and_kill_ends_the_process(sandbench_home: Path) -> None:
    assert run("create", "pbox").returncode == 0
    runner = _background("exec", "pbox", "--", "sh", "-c", "sleep 4242 & wait")
    try:
        deadline = time.monotonic() + 30
        while True:
            polled = _ps("pbox", here=True)["processes"]
            assert isinstance(polled, list)
            if any(p["command"] == "sleep 4242" for p in polled) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        listing = _ps("pbox")
        procs = listing["processes"]
        assert isinstance(procs, list)
        sleeps = [p for p in procs if p["command"] == "sleep 4242"]
        assert listing["sandbox"] == "pbox" and listing["state"] == "started"
        (sleep,) = sleeps
        parent = next(p for p in procs if p["pid"] == sleep["ppid"])
        assert parent["command"] == "sh -c sleep 4242 & wait" and sleep["depth"] == parent["depth"] + 1
        assert set(sleep) >= {
            "pid", "ppid", "host_pid", "depth", "user", "cpu_percent", "rss_bytes", "state", "state_name", "threads",
            "started_at", "age_seconds", "start_ticks", "name", "command",
        }  # fmt: skip
        assert sleep["user"] == "sandbox" and isinstance(sleep["cpu_percent"], float)
        text = run("ps", "pbox").stdout.decode()
        assert text.splitlines()[0].split() == ["PID", "HOST", "USER", "CPU%", "MEM", "S", "AGE", "COMMAND"]
        assert "└ sleep 4242" in text
        refused = run("kill", "pbox", str(os.getpid()))
        assert refused.returncode == 3 and f"no process {os.getpid()} in 'pbox'".encode() in refused.stderr
        killed = run("kill", "pbox", str(sleep["pid"]), "--json")
        assert killed.returncode == 0, killed.stderr
        assert json.loads(killed.stdout) == {
            "pid": sleep["pid"], "host_pid": sleep["host_pid"], "signal": "TERM", "ended": True, "escalated": False,
        }  # fmt: skip
        assert runner.wait(30) == 0
        ports = json.loads(run("ports", "pbox", "--json").stdout)
        assert ports["sandbox"] == "pbox" and ports["ports"] == []
        run("stop", "pbox")
        assert _ps("pbox")["processes"] == [] and b"no processes" in run("ps", "pbox").stdout
    finally:
        runner.kill()
        runner.wait()


def test_ports_name_the_process_by_the_sandboxs_pid_as_ps_does(sandbench_home: Path) -> None:
    """A server's port names its process as `ps` does: `pid` the sandbox's (`$!` inside), `host_pid` the host's."""
    assert run("create", "portbox").returncode == 0
    server = "python3 -m http.server 8125 --bind 127.0.0.1"
    runner = _background("exec", "portbox", "--", "sh", "-c", f"{server} & echo $! > srv.pid; wait")
    try:
        deadline = time.monotonic() + 30
        while True:
            ports = json.loads(run("ports", "portbox", "--json").stdout)["ports"]
            if ports or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        (port,) = ports
        inside = int(run("exec", "portbox", "--", "cat", "srv.pid").stdout)
        (proc,) = [p for p in _ps("portbox")["processes"] if p["command"] == server]  # type: ignore[attr-defined]
        assert (port["port"], port["pid"], port["host_pid"]) == (8125, inside, proc["host_pid"]), (port, proc)
        assert port["pid"] == proc["pid"] and port["host_pid"] != inside
        lines = run("ports", "portbox").stdout.decode().splitlines()
        assert lines[0].split() == ["PORT", "ADDRESS", "PID", "HOST", "COMMAND"]
        assert lines[1].split()[:4] == ["8125", "127.0.0.1", str(inside), str(proc["host_pid"])], lines
    finally:
        runner.kill()
        runner.wait()
        run("stop", "portbox")
