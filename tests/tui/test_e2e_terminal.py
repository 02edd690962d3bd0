"""End to end, as a person uses it: the real `sandbench` in tmux, with vim, htop and ls run inside the terminal pane.

The outer tmux is the user's terminal; the sandbox's shell runs under bubblewrap inside the app's terminal pane.
We type with `send-keys` and read the screen with `capture-pane -p`, polling instead of sleeping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import require

pytestmark = [pytest.mark.bwrap, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SANDBENCH = Path(sys.executable).with_name("sandbench")


class Tmux:
    def __init__(self, name: str, env: dict[str, str]):
        self.name = name
        self.socket = f"sandbench-e2e-{os.getpid()}"
        self.env = env

    def run(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        return out.stdout

    def start(self, command: list[str]) -> None:
        self.run("new-session", "-d", "-s", self.name, "-x", "100", "-y", "32", "--", *command)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def text(self, text: str) -> None:
        self.run("send-keys", "-t", self.name, "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name)

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; screen was:\n{screen}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=20)


@pytest.fixture
def home() -> Iterator[Path]:
    require("tmux")
    base = Path(tempfile.mkdtemp(prefix="sandbench-e2e-", dir="/tmp"))
    os.chmod(base, 0o711)
    yield base / "home"
    from tests.conftest import _reap

    _reap(base / "home")
    shutil.rmtree(base, ignore_errors=True)


def test_vim_htop_and_ls_in_the_terminal_pane(home: Path) -> None:
    require("vim")
    require("htop")
    env = {**os.environ, "SANDBENCH_HOME": str(home), "SANDBENCH_CONFIG": str(home.parent / "config.toml")}
    env.pop("CI", None)  # the app's own behaviour, not the test runner's
    made = subprocess.run([str(SANDBENCH), "create", "term"], env=env, capture_output=True, timeout=60)
    assert made.returncode == 0, made.stderr
    tmux = Tmux("e2e", env)
    env_args = [f"{k}={v}" for k, v in env.items() if k.startswith("SANDBENCH_")]
    tmux.start(["env", *env_args, "TERM=xterm-256color", str(SANDBENCH), "open", "term"])
    try:
        tmux.wait_for(lambda s: "Terminal" in s, "the workspace", 40)
        # focus the terminal pane (at this size, its tab): typing before focus has moved would go to another pane
        tmux.keys("M-3")
        tmux.wait_for(lambda s: "Leave terminal" in s, "the terminal pane to take focus (its footer)", 20)
        tmux.wait_for(lambda s: "sandbox@sandbox:~$" in s, "the shell prompt in the terminal pane", 40)

        # vim: open, insert, write and quit; the shell's screen comes back (alternate screen)
        tmux.text("vim notes.txt")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: '"notes.txt"' in s or "[New]" in s, "vim to open", 20)
        tmux.text("ihello from vim")
        tmux.keys("Escape")
        time.sleep(0.3)  # a person's pause: ESC followed at once by ':' is, by definition, alt+':'
        tmux.text(":wq")
        tmux.keys("Enter")
        screen = tmux.wait_for(
            lambda s: "vim notes.txt" in s and "~" not in s.split("vim notes.txt")[-1][:2],
            "the shell screen to return after vim",
            20,
        )
        assert "hello from vim" not in screen.split("vim notes.txt")[-1], "vim's screen must not stay behind"
        saved = subprocess.run([str(SANDBENCH), "cp", "term:notes.txt", "-"], env=env, capture_output=True, timeout=60)
        assert saved.stdout == b"hello from vim\n"

        # htop: a full-screen program drawing live, then q restores the shell
        tmux.text("htop")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "Load average" in s or "Tasks:" in s, "htop to draw", 20)
        tmux.keys("q")
        tmux.wait_for(
            lambda s: "Load average" not in s and "Tasks:" not in s and "sandbox@sandbox:~$" in s,
            "the shell after htop",
            20,
        )

        # ls sees the file vim wrote
        tmux.text("ls -1; echo DONE-$((40+2))")
        tmux.keys("Enter")
        screen = tmux.wait_for(lambda s: "DONE-42" in s, "ls output", 20)
        assert "notes.txt" in screen
    finally:
        tmux.keys("C-q")
        time.sleep(0.5)
        tmux.kill()
