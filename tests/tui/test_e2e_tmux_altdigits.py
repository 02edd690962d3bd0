"""End to end: alt+digits made app keys in the terminal by the `[keymap]` never reach the shell. The real
`sandbench open` in a detached tmux at 80x24; `"terminal:workspace.back" = "alt+0"` makes alt+0 go back to the list
from inside a shell. Bash reads ESC 0 as a readline argument (`(arg: 0)`), which then eats the next key typed: the
test types a command after coming back and checks it ran whole.

Reuses the `Tmux` driver and the `home` fixture of tests/tui/test_e2e_tmux.py; its own tmux server (`-L`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux, _env, footer, home, terminal_lines

__all__ = ["home"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]

NAME = "e2e-box"


def cli(base: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(SANDBENCH), *args], env=_env(base), capture_output=True, timeout=120)


@pytest.fixture
def opened(home: Path) -> Iterator[Tmux]:
    require("tmux")
    if not SANDBENCH.exists():
        pytest.fail(f"{SANDBENCH} is missing: make .venv/.installed-test (the editable install)", pytrace=False)
    (home / "config.toml").write_text('[keymap]\n"terminal:workspace.back" = "alt+0"\n')
    made = cli(home, "create", NAME)
    assert made.returncode == 0, made.stderr.decode()
    t = Tmux(f"sandbench-e2e-altdigits-{os.getpid()}", "app")
    t.home = home
    env_args = [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}", "TERM=xterm-256color"]
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH), "open", NAME]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "80", "-y", "24", *command)
    yield t
    t.run("kill-server", check=False)


def inner(line: str) -> str:
    return line.strip().strip("│").rstrip()


def shell_ready(t: Tmux) -> None:
    # the workspace is up and taking keys (shown again, it is back in the pane it was left in)
    t.wait_until(lambda s: "started" in s and ("─ Editor ─" in s or "─ Terminal ─" in s), "the workspace", 60)
    t.keys("M-3")
    t.wait_until(lambda s: "Leave terminal" in footer(s), "the terminal's keys in the footer", timeout=60)
    t.wait_until(lambda s: any(inner(line).endswith("$") for line in terminal_lines(s)), "a shell prompt")


def test_alt_0_marked_for_the_terminal_goes_to_the_list_and_never_reaches_bash(opened: Tmux) -> None:
    t = opened
    shell_ready(t)
    t.keys("M-0")
    t.wait_for(NAME, "sandboxes of")  # the list
    t.keys("Enter")
    # shown again, the workspace is back in the shell it was left in (no alt+3: that one is bash's here)
    t.wait_until(lambda s: "Leave terminal" in footer(s), "the workspace back in its terminal", timeout=60)
    t.type("echo ALT-$((6*7))")
    t.keys("Enter")
    screen = t.wait_until(
        lambda s: any(inner(line) == "ALT-42" for line in terminal_lines(s)) or "command not found" in s,
        "the command's output",
    )
    assert "(arg:" not in screen and "command not found" not in screen, screen
    assert any(inner(line) == "ALT-42" for line in terminal_lines(screen)), screen
