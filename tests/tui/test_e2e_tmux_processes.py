"""End to end (issue 13 §3): the real `sandbench open` in tmux at 80x24. A sleep started by `sandbench exec` (another
process) shows in the Processes view (shift+f4), the filter finds it by typing, `k` and enter end it, and
`sandbench ps --json` (a third process) agrees it is gone.

Reuses the `Tmux` driver and the `home` fixture of tests/tui/test_e2e_tmux.py; its own tmux server (`-L`).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux, _env, home

__all__ = ["home"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.timeout(180), pytest.mark.bwrap]

NAME = "e2e-ps"


def cli(base: Path, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [str(SANDBENCH), *args], env=_env(base), input=stdin, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def opened(home: Path) -> Iterator[tuple[Tmux, subprocess.Popen[bytes]]]:
    require("tmux")
    cli(home, "create", NAME)
    cli(home, "cp", "-", f"{NAME}:run.sh", stdin="sleep 3131 & wait\n")  # the shell's line is `sh run.sh`
    runner = subprocess.Popen(
        [str(SANDBENCH), "exec", NAME, "--", "sh", "run.sh"],
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    t = Tmux(f"sandbench-e2e-ps-{os.getpid()}", "app")
    t.home = home
    env_args = [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}", "TERM=xterm-256color"]
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH), "open", NAME]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "80", "-y", "24", *command)
    yield t, runner
    t.run("kill-server", check=False)
    runner.kill()
    runner.wait()


def test_processes_view_shows_filters_and_ends_a_sleep(opened: tuple[Tmux, subprocess.Popen[bytes]]) -> None:
    t, runner = opened
    assert t.home is not None
    t.wait_for("Explorer", timeout=30)
    t.keys("S-F4")
    t.wait_for(f"Processes · {NAME}", "└ sleep 3131", timeout=30)
    t.type("/3131")  # at once: the keys behind the / land in the filter, none lost
    t.wait_for("· 1 of ", "sleep 3131")
    t.keys("Enter", "k")  # at once: enter gives the table the keyboard before the k is read
    t.wait_for("Send TERM to process")
    t.keys("y")  # a dangerous dialog: Cancel has the focus, y confirms
    t.wait_for("ended (TERM)")
    assert runner.wait(30) == 0  # the exec's `wait` returned: its sleep ended
    listing = json.loads(cli(t.home, "ps", NAME, "--json"))
    assert all(p["command"] != "sleep 3131" for p in listing["processes"])
    t.keys("Escape")
    t.wait_for("Explorer")
