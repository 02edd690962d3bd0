"""What one `sandbench` command-line process costs in CPU (user + sys of the child, from `wait4`), the unit the test
suite pays hundreds of times: `--help`, `ls` on the local provider, `--provider daytona ls` against a real
`sandbench serve` on 127.0.0.1, and the interpreter alone (`python -c pass`) as the reference, measured in turn
run by run so the machine's load hits every case alike.

    .venv/bin/python -m bench.cli_cpu [RUNS]

Prints `metric=value unit`: each case's median CPU and wall, and its CPU over the reference. To compare two trees,
run it from each tree's worktree in turn (its own interpreter and `-m`), not one tree with PYTHONPATH.
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

from bench.daytona import start_serve

REPO = Path(__file__).resolve().parents[1]


def run_cpu(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child, run to its end."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[2:]} exited {proc.returncode}: {err[-500:]}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-", dir="/tmp"))
    os.chmod(base, 0o711)
    serve_base = base / "serve"
    serve_base.mkdir()
    proc, port, token = start_serve(serve_base)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "SANDBENCH_"))}
    env.update(
        SANDBENCH_HOME=str(base / "home"),
        SANDBENCH_CONFIG=str(base / "config.toml"),
        DAYTONA_API_URL=f"http://127.0.0.1:{port}/api",
        DAYTONA_API_KEY=token,
        DAYTONA_TARGET="local",
        NO_PROXY="127.0.0.1,localhost",
    )
    cli = [sys.executable, "-m", "tui.cli"]
    cases = {
        "reference_python_pass": [sys.executable, "-c", "pass"],
        "cli_help": [*cli, "--help"],
        "cli_ls_local": [*cli, "ls"],
        "cli_ls_daytona": [*cli, "--provider", "daytona", "ls"],
    }
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    wall: dict[str, list[float]] = {k: [] for k in cases}
    try:
        for argv in cases.values():  # one warm-up each: bytecode written, page cache filled
            run_cpu(argv, env)
        for _ in range(runs):
            for name, argv in cases.items():
                c, w = run_cpu(argv, env)
                cpu[name].append(c)
                wall[name].append(w)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(base, ignore_errors=True)
    ref = statistics.median(cpu["reference_python_pass"])
    for name in cases:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        print(f"{name}_cpu_p50={c * 1000:.0f} ms")
        print(f"{name}_wall_p50={w * 1000:.0f} ms")
        if name != "reference_python_pass":
            print(f"{name}_cpu_over_reference_p50={(c - ref) * 1000:.0f} ms")
    print(f"load_average_1min={os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
