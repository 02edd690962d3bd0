"""End to end (issue 11 §4): the real `sandbench open` in tmux. The command palette opened from the editor finds
"snapshot" and running it snapshots the sandbox (checked with `sandbench snapshots`, another process); F5 runs the
python file open in the editor in the terminal's ▶ tab, showing its output and its exit code.

Reuses the `Tmux` driver and the `home` fixture of tests/tui/test_e2e_tmux.py; its own tmux server (`-L`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux, _env, home, terminal_lines

__all__ = ["home"]  # the fixture, imported for pytest

NAME = "e2e-box"
PROGRAM = "import sys\nprint('hello', 'from', sys.argv[0])\nsys.exit(3)\n"


def cli(base: Path, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [str(SANDBENCH), *args], env=_env(base), input=stdin, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def opened(home: Path) -> Iterator[Tmux]:
    require("tmux")
    cli(home, "create", NAME)
    cli(home, "cp", "-", f"{NAME}:main.py", stdin=PROGRAM)
    t = Tmux(f"sandbench-e2e-palette-{os.getpid()}", "app")
    t.home = home
    env_args = [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}", "TERM=xterm-256color"]
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH), "open", NAME]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "120", "-y", "40", *command)
    yield t
    t.run("kill-server", check=False)


def test_palette_from_the_editor_snapshots_and_f5_runs_the_file(opened: Tmux) -> None:
    t = opened
    assert t.home is not None
    t.wait_for("─ Explorer ─", "─ Terminal ─", "main.py")
    t.wait_until(lambda s: any("$" in line for line in terminal_lines(s)), "a shell prompt")
    # open main.py with the fuzzy finder (ctrl+o, from the editor): the editor has focus and the file
    t.keys("C-o")
    t.wait_for("Find a file")
    t.type("main")
    t.wait_for("1 of 1 files")
    t.keys("Enter")
    t.wait_for("sys.exit(3)")

    # the palette from the editor finds the workspace's snapshot command, and running it snapshots the sandbox
    t.keys("C-p")
    t.wait_for("Search for commands")
    t.type("snapshot")
    t.wait_until(lambda s: "Snapshot" in s and "shift+F5" in s, "Snapshot and its key in the palette")
    t.keys("Enter")
    t.wait_for("Name for a snapshot")
    t.keys("Enter")
    t.wait_for(f"snapshot {NAME}-snap of {NAME} saved")
    assert f"{NAME}-snap" in cli(t.home, "snapshots")

    # F5 runs the editor's file in the ▶ tab: its output, then its exit code on the tab and in the pane
    t.keys("F5")
    # the pane's banner and the tab's label are drawn by two widgets: a capture can fall between the two frames
    screen = t.wait_until(
        lambda s: (
            any("hello from ./main.py" in line for line in terminal_lines(s))
            and "exited with code 3" in s
            and "▶ main.py [exit 3]" in s
        ),
        "the program's output, its exit code in the pane and on the ▶ tab",
    )
    assert "Traceback" not in screen
