"""`sandbench ps`, `kill` and `ports` as a user runs them: the real CLI on a real sandbox with a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.services.test_cli import REPO, run

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


def _background(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _ps(name: str) -> dict[str, object]:
    out = run("ps", name, "--json")
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_ps_json_shows_the_tree_and_kill_ends_the_process(sandbench_home: Path) -> None:
    assert run("create", "pbox").returncode == 0
    runner = _background("exec", "pbox", "--", "sh", "-c", "sleep 4242 & wait")
    try:
        deadline = time.monotonic() + 30
        while True:
            listing = _ps("pbox")
            procs = listing["processes"]
            assert isinstance(procs, list)
            sleeps = [p for p in procs if p["command"] == "sleep 4242"]
            if sleeps or time.monotonic() > deadline:
                break
            time.sleep(0.1)
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
