"""The SDK versions the conformance suite runs against, and the venv that holds the oldest one.

The range is the `daytona` pin in pyproject.toml: its lower bound (`>=X`) is the oldest version the project
claims, installed once into `.venv-sdk/X/` (cached by version, shared by pytest-xdist workers under a file lock);
the newest is the one the project venv resolved the pin to. The suite's client side for the oldest runs in that
venv's interpreter (`tests/conformance/client/worker.py`); the server under test always runs from the project venv.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENVS = REPO / ".venv-sdk"


def pinned_range() -> tuple[str, str]:
    """The `daytona` requirement's lower and upper bounds from pyproject.toml (`>=0.190.1,<0.227`)."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    req = next(d for d in deps if re.match(r"daytona\s*[<>=]", d))
    low = re.search(r">=\s*([0-9][0-9.]*)", req)
    high = re.search(r"<\s*([0-9][0-9.]*)", req)
    assert low and high, f"pyproject.toml pins daytona without both bounds: {req!r}"
    return low.group(1), high.group(1)


def lowest() -> str:
    return pinned_range()[0]


def highest() -> str:
    """The newest SDK the suite runs: the one installed in the project venv."""
    return version("daytona")


def versions() -> tuple[str, str]:
    return lowest(), highest()


def venv_python(ver: str) -> Path:
    """The interpreter of a venv holding `daytona==ver` and nothing of the project; made on first use. Fails with
    the command to run when it cannot be installed (no network to PyPI)."""
    root = VENVS / ver
    py = root / "bin" / "python"
    stamp = root / ".installed.json"
    VENVS.mkdir(exist_ok=True)
    with open(VENVS / f".{ver}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer; xdist workers wait for it
        if stamp.exists() and py.exists():
            return py
        log = VENVS / f"{ver}.install.log"
        with open(log, "w") as out:
            # no pip of its own (ensurepip is most of a venv's making): the project venv's pip installs into it
            steps = [
                [sys.executable, "-m", "venv", "--clear", "--without-pip", str(root)],
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "--python",
                    str(py),
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    f"daytona=={ver}",
                ],
            ]
            for argv in steps:
                res = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=600, check=False)
                if res.returncode != 0:
                    tail = "\n".join(log.read_text().splitlines()[-8:])
                    raise RuntimeError(
                        f"could not install the oldest SDK the project claims (daytona=={ver}) into {root}: "
                        f"`{' '.join(argv)}` exited {res.returncode}. The conformance suite needs PyPI once for it "
                        f"(cached after); offline, run once where PyPI is reachable. Last lines of {log}:\n{tail}"
                    )
        got = subprocess.run(
            [str(py), "-c", "from importlib.metadata import version; print(version('daytona'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if got != ver:
            raise RuntimeError(f"{root} holds daytona {got}, not {ver}")
        stamp.write_text(json.dumps({"daytona": ver}) + "\n")
        os.utime(stamp)
    return py
