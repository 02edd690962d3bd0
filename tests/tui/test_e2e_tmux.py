"""End to end: the real `sandbench` console script in a detached tmux session, driven with send-keys and read with
capture-pane. Creates a sandbox through the UI, opens it, checks the workspace, creates a file from the explorer,
writes it in the editor and saves it (checked with `sandbench cp` in another process and on screen), lists it with
`ls` in the terminal pane, quits. A second run: Esc from every pane stays in the workspace, and back to the list and
open again keeps the same shell (issue 11 §1).

Its own tmux server (`-L`) so it never touches a user's sessions; its own SANDBENCH_HOME (0711, as in conftest).
Every wait polls the screen with a deadline (`Tmux.wait_for`), never a bare sleep, except the short pause after a
lone ESC that keeps the next key from reading as alt+key.
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

REPO = Path(__file__).resolve().parents[2]
SANDBENCH = Path(sys.executable).parent / "sandbench"


class Tmux:
    def __init__(self, socket: str, session: str) -> None:
        self.socket = socket
        self.session = session
        self.home: Path | None = None  # the app's SANDBENCH_HOME base, for `sandbench` commands beside it

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check)
        return out.stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", self.session, "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session, check=False)

    def wait_for(self, *needles: str, timeout: float = 20.0) -> str:
        return self.wait_until(lambda text: all(n in text for n in needles), f"{needles!r}", timeout)

    def wait_until(self, cond: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if cond(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"never saw {what} on screen; last screen:\n{text}")

    def alive(self) -> bool:
        return (
            subprocess.run(
                ["tmux", "-L", self.socket, "has-session", "-t", self.session], capture_output=True
            ).returncode
            == 0
        )


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "SANDBENCH_HOME": str(home / "home"), "SANDBENCH_CONFIG": str(home / "config.toml")}


def terminal_lines(screen: str) -> list[str]:
    """The lines inside the terminal pane's frame: from its `─ Terminal ─` top border down to the frame's bottom
    (the explorer and editor show the same file names, so a name on screen alone proves nothing)."""
    lines = screen.splitlines()
    top = next((i for i, line in enumerate(lines) if "─ Terminal ─" in line), None)
    if top is None:
        return []
    column = lines[top].index("─ Terminal ─") - 1  # the frame's left corner
    out: list[str] = []
    for line in lines[top + 1 :]:
        inner = line[column:]
        if inner.startswith("╰"):
            break
        out.append(inner)
    return out


@pytest.fixture
def home() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="sandbench-e2e-", dir="/tmp"))
    os.chmod(base, 0o711)
    yield base
    subprocess.run([str(SANDBENCH), "rm", "--force", "e2e-box"], env=_env(base), capture_output=True, timeout=60)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def tmux(home: Path) -> Iterator[Tmux]:
    require("tmux")
    if not SANDBENCH.exists():
        pytest.fail(f"{SANDBENCH} is missing: make .venv/.installed-test (the editable install)", pytrace=False)
    t = Tmux(f"sandbench-e2e-{os.getpid()}", "app")
    t.home = home
    env_args = [
        f"SANDBENCH_HOME={home / 'home'}",
        f"SANDBENCH_CONFIG={home / 'config.toml'}",
        "TERM=xterm-256color",
    ]
    # COLUMNS/LINES can leak in from the environment pytest runs in (80x24), and Textual trusts them over the pty
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH)]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "120", "-y", "40", *command)
    yield t
    t.run("kill-server", check=False)


FILE = "notes.txt"
TEXT = "hello from tmux 42"
DIALOG = "makes folders on the way"  # the new-file dialog's message (the footer says "New file" too)
EXPLORER_KEYS = "n New file"  # in the footer while the explorer has focus
TERMINAL_KEYS = "Leave terminal"  # in the footer while a shell has the keyboard


def footer(screen: str) -> str:
    lines = screen.rstrip("\n").splitlines()
    return lines[-1] if lines else ""


def write_file_in_editor(t: Tmux) -> None:
    """Create a file from the explorer (it opens in the editor), type, ctrl+s; read it back through `sandbench cp`
    (another process, through the service) and on screen; then `ls` in the terminal pane lists it (issue 3
    must-show 3, issue 4's e2e extension; issue 11: auto-indent, final newline, M-z types nothing)."""
    assert t.home is not None
    # alt+1 (sent as ESC 1; decoded as alt+digit) focuses the explorer. Focus moves a frame later, so wait for the
    # footer to show the explorer's keys before pressing one, or `n` would reach the pane that had focus
    t.keys("M-1")
    t.wait_until(lambda s: EXPLORER_KEYS in footer(s), "the explorer's keys in the footer")
    t.keys("n")
    t.wait_for(DIALOG)
    t.type(FILE)
    t.keys("Enter")
    # the new file opens in the editor by itself, which takes focus (no Enter: it would type a newline)
    t.wait_until(lambda s: FILE in s and DIALOG not in s, f"{FILE} in the explorer")
    # typed before the buffer is loaded and focused, keys would go elsewhere: wait for the tab, the gutter's first
    # line number and the editor's keys in the footer
    t.wait_until(
        lambda s: s.count(FILE) >= 2 and "^s Save" in s and any(line.startswith("│1 ", 30) for line in s.splitlines()),
        f"{FILE} open in an editor tab",
    )
    # Enter keeps the indent; M-z (ESC z: alt+z with the character "z") toggles wrap and types nothing; saving
    # adds the final newline (checked in the file's bytes below)
    t.type("    " + TEXT)
    t.keys("Enter")
    t.type("ok")
    t.wait_for(TEXT, f"● {FILE}")  # typed, and the tab says unsaved
    t.keys("M-z")
    t.keys("C-s")
    t.wait_until(lambda s: TEXT in s and f"● {FILE}" not in s, "the tab's unsaved marker gone after ctrl+s")

    # saved: another process reads it through the service (the dirty marker alone would be the editor's word)
    deadline = time.monotonic() + 20
    content = ""
    while time.monotonic() < deadline:
        out = subprocess.run(
            [str(SANDBENCH), "cp", f"e2e-box:{FILE}", "-"], env=_env(t.home), capture_output=True, timeout=30
        )
        content = out.stdout.decode("utf-8", "replace")
        if out.returncode == 0 and TEXT in content:
            break
        time.sleep(0.2)
    assert content == f"    {TEXT}\n    ok\n", (content, t.screen())
    screen = t.wait_for(TEXT)
    assert "Traceback" not in screen

    # the terminal pane: `ls` in the sandbox's shell lists the file, inside the terminal's frame
    t.keys("M-3")
    t.wait_until(lambda s: TERMINAL_KEYS in footer(s), "the terminal's keys in the footer")
    t.wait_until(lambda s: any("$" in line or "#" in line for line in terminal_lines(s)), "a shell prompt")
    t.type("ls -1")
    t.keys("Enter")
    t.wait_until(
        lambda s: any(line.strip(" │") == FILE for line in terminal_lines(s)), f"{FILE} listed by ls in the terminal"
    )


def test_create_open_and_quit_through_the_ui(tmux: Tmux) -> None:
    t = tmux
    t.wait_for("sandboxes of", "No sandboxes yet")
    t.keys("n")
    t.wait_for("Create a sandbox")
    t.type("e2e-box")
    t.keys("Enter")
    screen = t.wait_for("e2e-box", "started", "created e2e-box")
    assert "Traceback" not in screen

    t.keys("Enter")  # open it
    screen = t.wait_for("Explorer", "Terminal", "isolation:", "e2e-box")
    assert "─ Editor ─" in screen and "─ Git ─" in screen  # 120 columns: git has its own column, not a tab

    # alt+3 (sent as ESC 3, as most terminals do) focuses the terminal pane, once its shell is up: the footer shows
    # the terminal's keys
    t.wait_until(lambda s: any("$" in line or "#" in line for line in terminal_lines(s)), "a shell prompt")
    t.keys("M-3")
    t.wait_until(lambda s: TERMINAL_KEYS in footer(s), "the terminal's keys in the footer")
    # the terminal owns its keys: F6, F11 and alt+1 reach `cat -v` as xterm sends them (through tmux and Textual's
    # parser), and none of them moves focus or zooms
    # (keys sent before cat runs would reach bash's readline: wait for cat's tty to be the line-buffered one)
    t.type("printf 'CAT-%s\\n' READY; cat -v")
    t.keys("Enter")
    t.wait_until(lambda s: any(line.strip(" │") == "CAT-READY" for line in terminal_lines(s)), "cat -v running")
    t.keys("F6", "F11", "M-1", "Enter")
    cat = "^[[17~^[[23~^[1"
    screen = t.wait_until(lambda s: sum(cat in line for line in terminal_lines(s)) >= 2, "F6 F11 alt+1 from cat -v")
    assert "─ Explorer ─" in screen and TERMINAL_KEYS in footer(screen)  # not zoomed, still in the terminal
    t.keys("C-d")
    # ctrl+] leaves the terminal for its tab bar, where the app's keys work: the help screen names the pane
    t.keys("C-]")
    t.wait_until(lambda s: TERMINAL_KEYS not in footer(s), "the terminal left for its tab bar")
    t.keys("F1")
    assert "Terminal (focused)" in t.wait_for("(focused)")
    t.keys("Escape")
    # closed: the ESC was read as a lone ESC, so the next key's sequence cannot read as alt+key
    t.wait_until(lambda s: "(focused)" not in s, "the help screen closed")

    t.keys("F11")  # maximise the terminal: the explorer's frame disappears
    t.wait_until(lambda s: "Explorer" not in s and "─ Terminal ─" in s, "the terminal maximised")
    t.keys("F11")
    t.wait_for("Explorer", "Terminal")

    write_file_in_editor(t)

    leave_terminal(t)  # it ends in the terminal, whose program gets ctrl+q: quit from its tab bar
    t.keys("C-q")
    deadline = time.monotonic() + 15
    while t.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not t.alive(), t.screen()


# what the footer starts with once a pane has focus (the editor has no file open: only the workspace's keys show)
PANE_FOOTERS = {"M-1": "⏎ Open", "M-2": "alt+0 Sandbox list", "M-4": "i Init repo", "M-3": "^] Leave terminal"}


def focus_pane(t: Tmux, key: str) -> None:
    t.keys(key)
    want = PANE_FOOTERS[key]
    t.wait_until(lambda s: footer(s).lstrip().startswith(want), f"{want!r} in the footer after {key}")


def leave_terminal(t: Tmux) -> None:
    t.keys("C-]")
    t.wait_until(lambda s: any("⏎ back" in line for line in terminal_lines(s)), "the tab bar's keys after ctrl+]")


def test_esc_never_leaves_and_the_list_keeps_the_same_shell(tmux: Tmux) -> None:
    """Issue 11 §1: Esc from every pane stays in the workspace; back to the list (ctrl+] alt+0 from the terminal)
    and opening the sandbox again shows the same shell: a variable set before is still set, its `sleep` still runs.
    """
    t = tmux
    t.wait_for("sandboxes of", "No sandboxes yet")
    t.keys("n")
    t.wait_for("Create a sandbox")
    t.type("e2e-box")
    t.keys("Enter")
    t.wait_for("e2e-box", "started", "created e2e-box")
    t.keys("Enter")
    t.wait_until(lambda s: any("$" in line or "#" in line for line in terminal_lines(s)), "a shell prompt")
    focus_pane(t, "M-3")
    t.type("X=42; sleep 1000 &")
    t.keys("Enter")
    t.wait_until(lambda s: any("[1]" in line for line in terminal_lines(s)), "the background job's number")

    for key in ("M-1", "M-2", "M-4"):
        leave_terminal(t)  # every key but ctrl+] is the shell's
        focus_pane(t, key)
        t.keys("Escape")
        time.sleep(0.3)  # a lone ESC: the next key's ESC prefix must not join it
        # the next pane jump answers only in the workspace: on the list its footer never shows a pane's keys
        focus_pane(t, "M-3")
        assert "sandboxes of" not in t.screen()

    leave_terminal(t)
    t.keys("M-0")
    screen = t.wait_for("sandboxes of", "◆ e2e-box")  # the list marks the live workspace
    assert "Traceback" not in screen
    t.keys("Enter")
    t.wait_for("─ Terminal ─")
    focus_pane(t, "M-3")
    t.type("echo X=$X; jobs")
    t.keys("Enter")
    t.wait_until(
        lambda s: (
            any("X=42" in line for line in terminal_lines(s))
            and any("sleep 1000" in line and "Running" in line for line in terminal_lines(s))
        ),
        "X=42 and the running sleep in the same shell",
    )
