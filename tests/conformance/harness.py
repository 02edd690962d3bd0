"""The pytest side of the conformance suite: one case per (check, SDK version, client), run in this process for
the project venv's SDK and through a worker subprocess for the oldest one; and where the outcomes are recorded
(the JSON `scripts/serve_surface.py` turns into the table in docs/serve.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import sdk_venv
from tests.conformance.client import CLIENTS, Check, load_all

REPO = sdk_venv.REPO
RESULTS = Path(os.environ.get("SANDBENCH_CONFORMANCE_JSON", REPO / "build" / "conformance.json"))
CASE_TIMEOUT = 90.0


@dataclass(frozen=True)
class Case:
    check: Check
    version: str
    kind: str

    @property
    def id(self) -> str:
        return f"{self.check.name}-{self.version}-{self.kind}"


def cases(area: str) -> list[Any]:
    """Every case of an area as pytest params; a check still expected to fail on a version is a strict xfail."""
    out = []
    for chk in load_all().values():
        if chk.area != area:
            continue
        for ver in sdk_venv.versions():
            for kind in CLIENTS:
                if kind not in chk.clients:
                    continue
                case = Case(chk, ver, kind)
                marks = []
                why = chk.pending_for(ver)
                if why:
                    marks.append(pytest.mark.xfail(strict=True, reason=why))
                out.append(pytest.param(case, id=case.id, marks=marks))
    return out


class Worker:
    """The client side in the oldest SDK's venv: a subprocess answering one JSON line per request."""

    def __init__(self, python: Path) -> None:
        self.python = python
        self.proc: subprocess.Popen[str] | None = None
        self.opened: tuple[str, str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "PYTEST_", "PYTHON"))}
            env["NO_PROXY"] = "127.0.0.1,localhost"
            self.proc = subprocess.Popen(
                [str(self.python), "-m", "tests.conformance.client.worker"],
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self.opened = None
        return self.proc

    def ask(self, req: dict[str, Any], timeout: float = CASE_TIMEOUT) -> dict[str, Any]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(req) + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line:
            self.stop()  # a hung or dead worker is replaced for the next case
            pytest.fail(f"the SDK worker gave no answer to {req['op']} within {timeout:.0f} s", pytrace=False)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, case: Case, api_url: str, token: str) -> str:
        if self.opened != (api_url, token) or self.proc is None or self.proc.poll() is not None:
            got = self.ask({"op": "open", "api_url": api_url, "token": token})
            assert got["ok"], got["error"]
            assert got["version"] == case.version, got
            self.opened = (api_url, token)
        got = self.ask({"op": "run", "check": case.check.id, "kind": case.kind})
        if not got["ok"]:
            pytest.fail(f"{case.check.id} with SDK {case.version} ({case.kind}):\n{got['error']}", pytrace=False)
        return str(got["outcome"])

    def surface(self) -> dict[str, Any]:
        got = self.ask({"op": "surface"})
        assert got["ok"], got["error"]
        return got

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None


# -- outcomes, for the generated table --------------------------------------------------------------------------
_outcomes: dict[str, dict[str, Any]] = {}
_surfaces: dict[str, dict[str, list[str]]] = {}


def record(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    if "conformance_surface" in props and report.when == "call" and report.passed:
        got = json.loads(props["conformance_surface"])
        _surfaces[got["version"]] = {k: got[k] for k in CLIENTS}
    if "conformance_case" not in props:
        return
    if report.when != "call" and not report.failed:
        return
    case = json.loads(props["conformance_case"])
    if props.get("conformance_outcome") == "absent":
        outcome = "absent"
    elif hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    elif report.failed:
        outcome = "failed"
    else:
        outcome = props.get("conformance_outcome", "passed")
    _outcomes[f"{case['check']}|{case['version']}|{case['kind']}"] = {**case, "outcome": outcome}


def write_results() -> None:
    """Merge this run's outcomes into the results file (a run of one module updates only its own cases)."""
    if not _outcomes and not _surfaces:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers each merge their share
        old: dict[str, Any] = {}
        if RESULTS.exists():
            try:
                old = json.loads(RESULTS.read_text())
            except ValueError:
                old = {}
        cases_ = {**old.get("cases", {}), **_outcomes}
        surfaces = {**old.get("surfaces", {}), **_surfaces}
        tmp = RESULTS.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"written": time.time(), "cases": cases_, "surfaces": surfaces}, indent=1) + "\n")
        tmp.replace(RESULTS)
