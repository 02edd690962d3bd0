"""End to end (issue 11 §2): the terminal owns its keys, as a person at a real terminal sees it. The real
`sandbench open` runs in a detached outer tmux; keys go in with `send-keys` by name (tmux encodes them as xterm
does: its `xterm-keys` is on), through Textual's parser and the app, into the sandbox's shell running `cat -v`.
F1-F12, shift+F-keys, alt+digits, alt+letters and ctrl/alt+arrows arrive as xterm encodes them; none of them moves
focus, zooms or opens help; ctrl+q (quit) and ctrl+o (find file) reach cat too; only ctrl+] (leave the terminal)
is the app's. And the stale
scrollback repaint: after `seq 1 500` and shift+PgUp, typing returns to the bottom with the live rows repainted.

Reuses the `Tmux` driver and the `home` fixture of tests/tui/test_e2e_tmux.py; its own tmux server (`-L`) and
SANDBENCH_HOME. Every wait polls the screen with a deadline.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux, _env, footer, home, terminal_lines

__all__ = ["home"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]

NAME = "e2e-box"
TERMINAL_KEYS = "^] Leave terminal"  # the footer's first entry while a shell has the keyboard

# tmux's key name → what `cat -v` prints for the bytes xterm (TERM=xterm-256color, metaSendsEscape) sends. Written
# out, not taken from widgets/terminal/keys.py, so the app is checked against xterm, not against itself.
XTERM = [
    ("F1", "^[OP"),
    ("F2", "^[OQ"),
    ("F3", "^[OR"),
    ("F4", "^[OS"),
    ("F5", "^[[15~"),
    ("F6", "^[[17~"),
    ("F7", "^[[18~"),
    ("F8", "^[[19~"),
    ("F9", "^[[20~"),
    ("F10", "^[[21~"),
    ("F11", "^[[23~"),
    ("F12", "^[[24~"),
    ("S-F1", "^[[1;2P"),
    ("S-F2", "^[[1;2Q"),
    ("S-F4", "^[[1;2S"),
    ("S-F5", "^[[15;2~"),
    ("S-F6", "^[[17;2~"),
    ("S-F8", "^[[19;2~"),
    ("S-F11", "^[[23;2~"),
    ("S-F12", "^[[24;2~"),
    ("M-0", "^[0"),
    ("M-1", "^[1"),
    ("M-2", "^[2"),
    ("M-3", "^[3"),
    ("M-4", "^[4"),
    ("M-9", "^[9"),
    ("M-m", "^[m"),
    ("M-e", "^[e"),
    ("M-t", "^[t"),
    ("M-g", "^[g"),
    ("M-z", "^[z"),
    ("M-s", "^[s"),
    ("M-w", "^[w"),
    ("M-b", "^[b"),
    ("M-f", "^[f"),
    ("C-Left", "^[[1;5D"),
    ("C-Right", "^[[1;5C"),
    ("C-Up", "^[[1;5A"),
    ("C-Down", "^[[1;5B"),
    ("M-Left", "^[[1;3D"),
    ("M-Right", "^[[1;3C"),
    # ctrl+p and ctrl+o are the app's palette and finder elsewhere; ctrl+s, ctrl+\\ and the like are left out:
    # the tty itself takes them (XOFF, SIGQUIT) before cat could print them
    ("C-p", "^P"),
    ("C-o", "^O"),
    ("C-q", "^Q"),  # the app's quit key elsewhere: a focused terminal's program gets it (`stty -ixon` below)
]


def cli(base: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(SANDBENCH), *args], env=_env(base), capture_output=True, timeout=120)


@pytest.fixture
def opened(home: Path) -> Iterator[Tmux]:
    require("tmux")
    if not SANDBENCH.exists():
        pytest.fail(f"{SANDBENCH} is missing: make .venv/.installed-test (the editable install)", pytrace=False)
    made = cli(home, "create", NAME)
    assert made.returncode == 0, made.stderr.decode()
    t = Tmux(f"sandbench-e2e-keys-{os.getpid()}", "app")
    t.home = home
    env_args = [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}", "TERM=xterm-256color"]
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH), "open", NAME]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "120", "-y", "40", *command)
    # the outer tmux encodes modified keys (S-F5, C-Left) the xterm way only with xterm-keys on: say so if a
    # future tmux default or a user's setting turns it off, rather than fail on an encoding far below; extended-keys
    # stays off, so what reaches the app is the plain xterm form a terminal without the CSI-u protocol sends
    assert t.run("show-options", "-g", "-v", "xterm-keys").strip() == "on"
    assert t.run("show-options", "-s", "-v", "extended-keys").strip() == "off"
    yield t
    t.run("kill-server", check=False)


def shell_in_terminal(t: Tmux) -> None:
    """Focus the terminal pane once its shell is up: the footer shows the terminal's keys."""
    t.wait_for("─ Explorer ─", "─ Terminal ─", timeout=60)
    t.wait_until(lambda s: any("$" in line for line in terminal_lines(s)), "a shell prompt")
    t.keys("M-3")
    t.wait_until(lambda s: footer(s).lstrip().startswith(TERMINAL_KEYS), "the terminal's keys in the footer")


def inner(line: str) -> str:
    """A terminal pane's line without its frame."""
    return line.strip().strip("│").rstrip()


def test_every_key_reaches_cat_as_xterm_sends_it(opened: Tmux) -> None:
    t = opened
    assert t.home is not None
    shell_in_terminal(t)
    # keys sent before cat runs would reach bash's readline: wait until cat holds the (line-buffered) tty
    # -ixon: the tty would take ^Q as XON (flow control) before cat could read it
    t.type("stty -ixon; printf 'CAT-%s\\n' READY; cat -v > keys.txt")
    t.keys("Enter")
    t.wait_until(lambda s: any(inner(line) == "CAT-READY" for line in terminal_lines(s)), "cat -v running")
    for key, _ in XTERM:
        t.keys(key, "Enter")
    # the tty echoes each line as typed (echoctl): the last ones are on screen, in the terminal's frame, while
    # the app stayed where it was: not zoomed, not in help or the palette, the terminal still focused
    screen = t.wait_until(
        lambda s: any(inner(line) == XTERM[-1][1] for line in terminal_lines(s)), "the last key's echo in the terminal"
    )
    assert "─ Explorer ─" in screen and "─ Git ─" in screen, screen  # F11 did not zoom, alt+1..4 did not move
    assert footer(screen).lstrip().startswith(TERMINAL_KEYS), screen
    assert "Search for commands" not in screen and "(focused)" not in screen, screen  # no palette, no help
    t.keys("C-d")
    t.type("echo CAT-$((6*7))")
    t.keys("Enter")
    t.wait_until(lambda s: any(inner(line) == "CAT-42" for line in terminal_lines(s)), "the shell back after cat")

    # what cat read, as another process sees the file: every key, in order, as xterm encodes it
    out = cli(t.home, "cp", f"{NAME}:keys.txt", "-")
    assert out.returncode == 0, out.stderr.decode()
    got = out.stdout.decode().splitlines()
    wrong = [(key, want, saw) for (key, want), saw in zip(XTERM, got, strict=False) if saw != want]
    assert not wrong and len(got) == len(XTERM), f"key, xterm sends, cat got: {wrong}; all: {got}"

    # the two keys the app keeps: ctrl+] leaves the terminal for its tab bar (where F6 moves on again)...
    t.keys("C-]")
    t.wait_until(lambda s: "Back to terminal" in footer(s), "the tab bar's keys after ctrl+]")
    t.keys("F6")
    t.wait_until(lambda s: footer(s).lstrip().startswith("i Init repo"), "the git pane after F6 from the tab bar")
    # ...and ctrl+q, which cat got above, quits from there (ctrl+] first)
    t.keys("M-3")
    t.wait_until(lambda s: footer(s).lstrip().startswith(TERMINAL_KEYS), "back in the terminal")
    t.keys("C-]")
    t.wait_until(lambda s: "Back to terminal" in footer(s), "the tab bar's keys after ctrl+]")
    t.keys("C-q")
    deadline = time.monotonic() + 15
    while t.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not t.alive(), t.screen()


MARKER = re.compile(r"↑ scrolled back (\d+) lines")


def marker(screen: str) -> int | None:
    """How far back the terminal is scrolled, by its marker; None on the live screen."""
    found = [m for m in (MARKER.search(line) for line in terminal_lines(screen)) if m]
    return int(found[0][1]) if found else None


def shown(screen: str) -> list[str]:
    """The terminal pane's non-empty lines, without the frame."""
    return [inner(line) for line in terminal_lines(screen) if inner(line)]


def numbers(screen: str) -> list[int]:
    return [int(inner(line)) for line in terminal_lines(screen) if inner(line).isdigit()]


def test_typing_while_scrolled_back_repaints_the_live_screen(opened: Tmux) -> None:
    t = opened
    shell_in_terminal(t)
    t.type("seq 1 500")
    t.keys("Enter")
    live = t.wait_until(lambda s: 500 in numbers(s) and shown(s)[-1].endswith("$"), "seq's last rows, the prompt")
    rows = numbers(live)
    assert rows == list(range(rows[0], 501)), live

    # one page back, then two more: the marker counts the rows, a page at a time
    t.keys("S-PPage")
    page = marker(t.wait_until(lambda s: (marker(s) or 0) > 0, "scrolled back with its marker")) or 0
    t.keys("S-PPage", "S-PPage")
    back = t.wait_until(lambda s: marker(s) == 3 * page, f"scrolled back three pages ({3 * page} lines)")
    older = numbers(back)
    assert older and max(older) < rows[0], back  # older rows than the live screen had, 500 gone

    # typing returns to the bottom and repaints it whole: the live rows in order, the prompt with `y` under them,
    # no marker and none of the older rows left on screen
    t.type("y")

    def repainted(s: str) -> bool:
        lines = shown(s)
        return marker(s) is None and bool(lines) and lines[-1].endswith("$ y")

    screen = t.wait_until(repainted, "the live prompt with y, the marker gone")
    lines = shown(screen)[1:]  # under the tab bar
    assert [int(x) for x in lines[:-1]] == list(range(int(lines[0]), 501)), screen
    assert not set(older) & set(numbers(screen)), screen
    assert "Traceback" not in screen

    # shift+PgUp and shift+PgDn both work after it: back twice, forward once is one page less, forward again live
    t.keys("S-PPage", "S-PPage")
    t.wait_until(lambda s: marker(s) == 2 * page, f"two pages ({2 * page} lines) back")
    t.keys("S-NPage")
    t.wait_until(lambda s: marker(s) == page, f"one page ({page} lines) back after shift+PgDn")
    t.keys("S-NPage")
    screen = t.wait_until(lambda s: marker(s) is None, "back on the live screen")
    assert shown(screen)[-1].endswith("$ y"), screen
