"""`sandbench cp` into folders that do not exist yet (issue 11 §6): `-p` creates them, as the explorer does; without
it the error names the folder and says to use -p. Both directions, the real CLI over a real local sandbox."""

from __future__ import annotations

from pathlib import Path

from tests.services.test_cli import run, run_here


def test_cp_into_a_missing_folder_needs_p_and_p_makes_it(sandbench_home: Path, tmp_path: Path) -> None:
    assert run("create", "cpbox").returncode == 0
    src = tmp_path / "in.txt"
    src.write_bytes(b"payload\n")

    refused = run("cp", str(src), "cpbox:deep/er/in.txt")
    assert refused.returncode == 3
    assert b"deep/er: no such folder" in refused.stderr and b"use -p" in refused.stderr
    assert run("cp", "cpbox:deep/er/in.txt", "-").returncode == 3  # nothing was written

    assert run("cp", "-p", str(src), "cpbox:deep/er/in.txt").returncode == 0
    assert run("cp", "cpbox:deep/er/in.txt", "-").stdout == b"payload\n"
    assert run("cp", "--parents", "-", "cpbox:a/b/c.txt", stdin=b"x").returncode == 0
    assert run("cp", "cpbox:a/b/c.txt", "-").stdout == b"x"

    out = tmp_path / "not" / "yet" / "out.txt"
    refused = run("cp", "cpbox:deep/er/in.txt", str(out))
    assert refused.returncode == 3 and b"use -p" in refused.stderr and not out.parent.exists()
    assert run("cp", "-p", "cpbox:deep/er/in.txt", str(out)).returncode == 0
    assert out.read_bytes() == b"payload\n"


def test_help_reads_right() -> None:
    top = run("--help").stdout.decode()
    assert "stop a sandbox and pack its workspace" in top
    assert "the workspace a sandbox" not in top
    assert "-p, --parents" in run("cp", "--help").stdout.decode()


def test_every_verbs_help_prints(sandbench_home: Path) -> None:
    """A help line holding a bare `%` (argparse formats help with %) crashed `sandbench --help` with a traceback."""
    import re

    top = run("--help")
    assert top.returncode == 0, top.stderr
    verbs = re.search(r"\{(ls,[a-z,-]+)\}", top.stdout.decode())
    assert verbs is not None
    for verb in verbs.group(1).split(","):  # each through main() in this process: the top one was a real process
        shown = run_here(verb, "--help")
        assert shown.returncode == 0 and b"Traceback" not in shown.stderr, (verb, shown.stderr[-300:])


def test_an_unexpected_error_before_logging_is_set_up_stays_off_the_terminal(sandbench_home: Path) -> None:
    import subprocess
    import sys

    from tests.services.test_cli import REPO

    boom = (
        "import sys, tui.cli as c\n"
        "def broken(*_):\n    raise RuntimeError('parser exploded')\n"
        "c._parse = broken\n"
        "sys.exit(c.main(['ls']))\n"
    )
    done = subprocess.run([sys.executable, "-c", boom], capture_output=True, timeout=60, cwd=REPO)
    assert done.returncode == 1
    assert done.stderr == b"sandbench: unexpected error (details in the log file)\n"
    assert "parser exploded" in (sandbench_home / "sandbench.log").read_text()
