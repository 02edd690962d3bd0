"""What `sandbench open NAME` pays before the app starts to refuse a missing name (exit 3, like the other verbs):
building the local service and one listing, in a fresh interpreter, against importing the CLI alone.

    .venv/bin/python -m bench.open_check

A fresh SANDBENCH_HOME holding one sandbox; the two children alternate run by run. Prints `metric=value unit`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 9
REPO = Path(__file__).resolve().parents[1]
CHECK = "import asyncio; from services import config; from tui.cli import _must_exist; "
CHECK += "asyncio.run(_must_exist(config.load(None), 'bench-box'))"
REFERENCE = "from services import config; import tui.cli; config.load(None)"


def timed(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True)
    return time.perf_counter() - start


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-", dir="/tmp"))
    os.chmod(base, 0o711)
    env = {**os.environ, "SANDBENCH_HOME": str(base / "home"), "SANDBENCH_CONFIG": str(base / "config.toml")}
    try:
        made = subprocess.run([sys.executable, "-m", "tui.cli", "create", "bench-box"], env=env, cwd=REPO)
        assert made.returncode == 0
        check: list[float] = []
        reference: list[float] = []
        for _ in range(RUNS):
            check.append(timed(CHECK, env))
            reference.append(timed(REFERENCE, env))
        c, r = statistics.median(check), statistics.median(reference)
        print(f"open_name_check_p50={c * 1000:.0f} ms")
        print(f"reference_cli_import_p50={r * 1000:.0f} ms")
        print(f"open_name_check_added_p50={(c - r) * 1000:.0f} ms")
    finally:
        subprocess.run([sys.executable, "-m", "tui.cli", "rm", "--force", "bench-box"], env=env, cwd=REPO)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
