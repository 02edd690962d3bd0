"""`sandbench metrics NAME [--json]` as a user runs it (the real CLI over a real local sandbox): the stable --json
of docs/cli.md, the text, the hits a memory hog leaves, and a stopped sandbox refused without being started."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from services.local.cgroups import CgroupManager
from tests.services.test_cgroups import IN_CI
from tests.services.test_cli import run

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]
MiB = 1024 * 1024


def ok(*args: str) -> str:
    r = run(*args)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


@pytest.fixture
def cgroups() -> None:
    m = CgroupManager()
    if not m.available:
        if IN_CI and os.geteuid() == 0:
            pytest.fail(f"CI is expected to offer a writable cgroup hierarchy: {m.reason}")
        pytest.skip(f"no per-sandbox cgroups here: {m.reason}")


def test_metrics_json_text_and_hits(sandbench_home: Path, cgroups: None) -> None:
    ok("create", "mbox", "--memory", "0.125")
    hog = "b = bytearray(400 * 2**20)\nfor j in range(0, len(b), 4096): b[j] = 1"
    assert run("exec", "mbox", "--", "python3", "-c", hog).returncode != 0  # killed by the kernel at 128 MiB
    got: Any = json.loads(ok("metrics", "mbox", "--json"))
    assert set(got) == {"name", "sandbox", "time", "source", "cpu", "memory", "pids", "disk", "hits", "unavailable"}
    assert got["name"] == "mbox" and got["source"].startswith("cgroup v")
    assert got["cpu"]["cpus"] == 1 and 0 <= got["cpu"]["percent"] <= 100
    assert got["memory"]["limit_bytes"] == 128 * MiB and got["memory"]["used_bytes"] <= 128 * MiB
    assert got["pids"]["limit"] == 256 and got["pids"]["current"] >= 0
    assert got["disk"]["limit_bytes"] > 0 and got["disk"]["used_bytes"] >= 0
    assert got["hits"]["oom_kills"] >= 1 and got["hits"]["pids_refused"] == 0
    assert set(got["hits"]) == {"oom_kills", "pids_refused", "cpu_throttled_periods", "cpu_throttled_seconds"}
    text = ok("metrics", "mbox")
    assert "memory" in text and "of 128.0 MiB" in text and "of 256" in text
    assert "oom kills" in text and "pids cap reached    0" in text


def test_metrics_of_a_stopped_sandbox_say_so(sandbench_home: Path) -> None:
    ok("create", "nap")
    ok("stop", "nap")
    r = run("metrics", "nap", "--json")
    assert r.returncode == 1 and r.stdout == b""
    assert b"metrics are read from a running sandbox" in r.stderr and b"Traceback" not in r.stderr
    assert json.loads(ok("ls", "--json"))[0]["state"] == "stopped"
    assert run("metrics", "nobody-has-this").returncode == 3
