"""End to end: ctrl+] and the tab bar's key typed at once, as a tmux user types `C-b [`. The real `sandbench open`
in a detached outer tmux, both keys in one `send-keys` (one write to the app's terminal, so they arrive in one
read): the key after ctrl+] is the tab bar's (`c` copy mode, `n` a new tab), never typed into the shell, which it
was while the focus was still moving.

Reuses the `Tmux` driver and the `home` fixture of tests/tui/test_e2e_tmux.py; its own tmux server (`-L`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux, footer, home, terminal_lines
from tests.tui.test_e2e_tmux_keys import NAME, TERMINAL_KEYS, cli, inner

__all__ = ["home"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]


@pytest.fixture
def opened(home: Path) -> Iterator[Tmux]:
    require("tmux")
    made = cli(home, "create", NAME)
    assert made.returncode == 0, made.stderr.decode()
    t = Tmux(f"sandbench-e2e-leave-{os.getpid()}", "app")
    env_args = [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}", "TERM=xterm-256color"]
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH), "open", NAME]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "100", "-y", "30", *command)
    yield t
    t.run("kill-server", check=False)


def _prompt_line(screen: str) -> str:
    """The terminal's last non-empty line: the shell's prompt and whatever was typed after it."""
    lines = [inner(line) for line in terminal_lines(screen) if inner(line)]
    return lines[-1] if lines else ""


def test_the_key_right_after_ctrl_bracket_is_the_tab_bars(opened: Tmux) -> None:
    t = opened
    t.wait_for("─ Terminal ─", timeout=60)
    t.wait_until(lambda s: _prompt_line(s).endswith("$"), "a shell prompt", timeout=60)
    t.keys("M-3")
    t.wait_until(lambda s: footer(s).lstrip().startswith(TERMINAL_KEYS), "the terminal's keys in the footer")
    t.keys("C-]", "c")  # one write: copy mode, from the tab bar
    screen = t.wait_until(lambda s: any("COPY" in line for line in terminal_lines(s)), "copy mode's marker")
    assert _prompt_line(screen).endswith("$"), screen  # nothing typed into the shell
    t.keys("q")  # out of copy mode, back in the terminal
    t.wait_until(lambda s: not any("COPY" in line for line in terminal_lines(s)), "copy mode left")
    t.wait_until(lambda s: footer(s).lstrip().startswith(TERMINAL_KEYS), "the terminal's keys again")
    t.keys("C-]", "n")  # one write: a new tab
    screen = t.wait_until(lambda s: any("2:shell" in line for line in terminal_lines(s)), "the second tab")
    t.wait_until(lambda s: _prompt_line(s).endswith("$"), "the new tab's prompt")
    t.keys("C-]", "Left")  # the first tab again: its shell has no stray `n` or `c` either
    screen = t.wait_until(lambda s: "1:shell" in s and footer(s).find("Back to terminal") >= 0, "the tab bar")
    assert _prompt_line(screen).endswith("$"), screen
