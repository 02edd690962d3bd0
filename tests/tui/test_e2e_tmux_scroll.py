"""End to end (issue 14): after a scroll that adds only a row or two, every row moved is repainted, as a person
sees it through a real terminal (tmux, capture-pane). Found as seen: `find /usr; echo DONE` left the rows above
DONE one line behind when the flood's last repaint had gone out before DONE arrived; at a shell prompt at the
bottom of a full screen, `echo hi` did the same.

Its own tmux server and SANDBENCH_HOME (the `home` fixture of test_e2e_tmux.py); the session host the app starts
is stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.local.host_client import stop_host
from tests.conftest import require
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux, _env, footer, home, terminal_lines  # noqa: F401  (home: fixture)

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(240)]


@pytest.fixture
def app_tmux(home: Path) -> Iterator[Tmux]:  # noqa: F811
    """`sandbench open e2e-box` at 80x24 in a tmux of its own."""
    require("tmux")
    subprocess.run([str(SANDBENCH), "create", "e2e-box"], env=_env(home), check=True, capture_output=True, timeout=120)
    t = Tmux(f"sandbench-scroll-{os.getpid()}", "app")
    t.home = home
    command = ["env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color"]
    command += [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}"]
    command += [str(SANDBENCH), "open", "e2e-box"]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "80", "-y", "24", *command)
    try:
        yield t
    finally:
        t.run("kill-server", check=False)
        stop_host(home / "home")


def rows(screen: str) -> list[str]:
    return [line.strip(" │") for line in terminal_lines(screen)[1:]]  # under the tab bar


def test_rows_a_short_scroll_moves_are_repainted(app_tmux: Tmux) -> None:
    t = app_tmux
    t.wait_until(lambda s: "alt+3" in s, "the workspace")
    t.keys("M-3")  # at 80 columns the panes are tabs: the terminal's comes to the front
    t.wait_until(lambda s: any("$" in line for line in rows(s)), "a shell prompt")
    t.wait_until(lambda s: "Leave terminal" in footer(s), "the terminal's keys in the footer")
    t.type("PS1='$ '; seq 1 60")
    t.keys("Enter")
    t.wait_until(lambda s: rows(s)[-2:] == ["60", "$"], "seq's last line above the prompt")
    for word in ("one", "two", "three"):
        # a line typed, echoed and answered at the bottom: the screen scrolls by two rows, three rows change
        t.type(f"echo {word}")
        t.keys("Enter")
        t.wait_until(lambda s, w=word: rows(s)[-2:] == [w, "$"], f"{word} above the prompt")
    screen = t.screen()
    shown = [r for r in rows(screen) if r]
    numbers = [r for r in shown if r.isdigit()]
    # what tmux shows for the same: the last numbers in order, then each command and its answer
    assert shown == [*numbers, "$ echo one", "one", "$ echo two", "two", "$ echo three", "three", "$"], screen
    assert numbers == [str(n) for n in range(61 - len(numbers), 61)], screen
