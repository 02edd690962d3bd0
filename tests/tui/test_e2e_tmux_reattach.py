"""End to end (issue 11 §1): local shells survive the app. In a tmux session running a host shell, start the real
`sandbench`, create and open a sandbox, set a shell variable and start `sleep 1000 &` in its terminal, quit the
app, then `sandbench open NAME` in the same tmux session: the same shell is back (`echo $VAR` prints it, `jobs`
shows the sleep), its earlier scrollback is on screen and its tab is marked ↺.

Its own tmux server (`-L`, unique per process) and SANDBENCH_HOME, as test_e2e_tmux.py; the session host the app
starts there is stopped at the end (with every shell it holds), so nothing outlives the test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.local.host_client import stop_host
from tests.conftest import require
from tests.tui.test_e2e_tmux import (  # noqa: F401  (home: fixture)
    SANDBENCH,
    Tmux,
    footer,
    home,
    leave_terminal,
    terminal_lines,
)

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(240)]

PROMPT = "host-shell$"  # capture-pane drops the trailing space of PS1


@pytest.fixture
def shell_tmux(home: Path) -> Iterator[Tmux]:  # noqa: F811
    """A tmux session running a plain host shell (not the app), so the app can be quit and started again in it."""
    require("tmux")
    if not SANDBENCH.exists():
        pytest.fail(f"{SANDBENCH} is missing: make .venv/.installed-test (the editable install)", pytrace=False)
    t = Tmux(f"sandbench-reattach-{os.getpid()}", "host")
    t.home = home
    command = [
        "env",
        "-u",
        "COLUMNS",
        "-u",
        "LINES",
        f"SANDBENCH_HOME={home / 'home'}",
        f"SANDBENCH_CONFIG={home / 'config.toml'}",
        "TERM=xterm-256color",
        f"PS1={PROMPT} ",
        "/bin/sh",
    ]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "120", "-y", "40", *command)
    try:
        yield t
    finally:
        t.run("kill-server", check=False)
        stop_host(home / "home")  # the host (and any shell it still holds) ends with the test


def shell_lines(screen: str) -> list[str]:
    return [line.strip(" │") for line in terminal_lines(screen)]


def test_quit_and_sandbench_open_bring_back_the_same_shell(shell_tmux: Tmux) -> None:
    t = shell_tmux
    t.wait_for(PROMPT)
    t.type(str(SANDBENCH))
    t.keys("Enter")
    t.wait_for("sandboxes of", "No sandboxes yet")
    t.keys("n")
    t.wait_for("Create a sandbox")
    t.type("e2e-box")
    t.keys("Enter")
    t.wait_for("e2e-box", "started", "created e2e-box")
    t.keys("Enter")
    t.wait_until(lambda s: any("$" in line for line in terminal_lines(s)), "a shell prompt")
    t.keys("M-3")
    t.wait_until(lambda s: "Leave terminal" in footer(s), "the terminal's keys in the footer")
    t.type("VAR=kept$((6*7)); sleep 1000 & echo SCROLL-$((1+1))-MARK")
    t.keys("Enter")
    t.wait_until(lambda s: "SCROLL-2-MARK" in shell_lines(s), "the marker printed in the terminal")
    t.wait_until(lambda s: any("[1]" in line for line in terminal_lines(s)), "the background job's number")

    leave_terminal(t)  # the shell gets ctrl+q: quit from the terminal's tab bar
    t.keys("C-q")  # nothing unsaved: quits at once, and says the shell keeps running
    screen = t.wait_for(PROMPT, "keeps running", timeout=30)
    assert "sandbench open e2e-box" in screen and "Traceback" not in screen

    t.type(f"{SANDBENCH} open e2e-box")
    t.keys("Enter")
    # straight into the workspace, the shell reattached: its tab marked ↺ and its earlier output on screen
    screen = t.wait_until(
        lambda s: "↺" in s and "SCROLL-2-MARK" in shell_lines(s), "the reattached tab with its scrollback", 40
    )
    assert "Traceback" not in screen
    t.keys("M-3")
    t.wait_until(lambda s: "Leave terminal" in footer(s), "the terminal's keys in the footer")
    t.type("echo got-$VAR; jobs")
    t.keys("Enter")
    t.wait_until(
        lambda s: (
            "got-kept42" in shell_lines(s)
            and any("sleep 1000" in line and "Running" in line for line in terminal_lines(s))
        ),
        "the variable and the running sleep of the same shell",
    )

    leave_terminal(t)
    t.keys("C-q")
    t.wait_for(PROMPT, "keeps running", timeout=30)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not t.alive():
        time.sleep(0.1)
    assert t.alive()  # the host shell in tmux is still there: only the app quit
