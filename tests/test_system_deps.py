"""The rule that a missing program fails a test instead of skipping it (`require()` in tests/conftest.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
