"""End to end at 80x24 (issue 11 §2): the real `sandbench open` in a tmux window of 80x24. The focused terminal gets
a real share (`stty size` in it says at least 16 rows; it said 4), its frame says that size, and the footer in
every pane shows whole entries — in the terminal exactly what works there (ctrl+], the scrollback keys).

Reuses the `Tmux` driver and helpers of tests/tui/test_e2e_tmux.py, with its own tmux server (`-L`) and its own
SANDBENCH_HOME. Every wait polls the screen with a deadline.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux, _env, footer, home, terminal_lines
from tui.keymap import ALL_KEYS
from widgets.editor import EditorTabs
from widgets.editor.text_area import CodeEditor
from widgets.explorer import Explorer
from widgets.git.panel import GitPanel
from widgets.terminal import TerminalPane, TerminalView

__all__ = ["home"]  # the fixture, imported for its name

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(240)]

STTY = re.compile(r"^│?(\d+) (\d+)\s*│?$")


def _descriptions() -> set[str]:
    """Every footer description the app's bindings have: a footer entry whose text is not one of them was cut."""
    out = {k.description for k in ALL_KEYS}
    for cls in (Explorer, EditorTabs, CodeEditor, GitPanel, TerminalPane, TerminalView):
        for binding in cls.BINDINGS:
            description = getattr(binding, "description", "")
            if description:
                out.add(description)
    return out


DESCRIPTIONS = _descriptions()


def footer_entries(screen: str) -> list[str]:
    """The footer's entries as `key description`, failing on any entry whose description is not whole."""
    line = footer(screen)
    left, _, palette = line.partition("▏")
    if palette:
        assert palette.strip() == "^p Commands", line
    entries = [e for e in re.split(r"\s{2,}", left.strip()) if e]
    for entry in entries:
        key, _, description = entry.partition(" ")
        assert key and description in DESCRIPTIONS, f"cut or unknown footer entry {entry!r} in {line!r}"
    return entries


@pytest.fixture
def tmux80(home: Path) -> Iterator[Tmux]:
    require("tmux")
    if not SANDBENCH.exists():
        pytest.fail(f"{SANDBENCH} is missing: make .venv/.installed-test (the editable install)", pytrace=False)
    made = subprocess.run([str(SANDBENCH), "create", "e2e-box"], env=_env(home), capture_output=True, timeout=120)
    assert made.returncode == 0, made.stderr.decode()
    t = Tmux(f"sandbench-e2e-layout-{os.getpid()}", "app")
    t.home = home
    env_args = [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}", "TERM=xterm-256color"]
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH), "open", "e2e-box"]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "80", "-y", "24", *command)
    yield t
    t.run("kill-server", check=False)


def test_at_80x24_the_terminal_gets_16_rows_and_no_footer_is_cut(tmux80: Tmux) -> None:
    t = tmux80
    # the tabbed layout: a row naming the panes and their keys, the editor's tab first
    t.wait_for("alt+1 Explorer", "alt+3 Terminal", "─ Editor ─", timeout=60)
    t.wait_until(lambda s: footer(s).lstrip().startswith("alt+0 Sandbox list"), "the workspace's keys in the footer")
    for key, first in (("M-1", "⏎ Open"), ("M-4", "i Init repo"), ("M-2", "alt+0 Sandbox list")):
        t.keys(key)
        screen = t.wait_until(lambda s, first=first: footer(s).lstrip().startswith(first), f"{first!r} after {key}")
        entries = footer_entries(screen)
        assert len(entries) >= 3, footer(screen)

    t.keys("M-3")
    t.wait_until(lambda s: footer(s).lstrip().startswith("^] Leave terminal"), "the terminal's keys in the footer")
    t.wait_until(lambda s: any("$" in line or "#" in line for line in terminal_lines(s)), "a shell prompt")
    screen = t.screen()
    assert footer_entries(screen) == [
        "^] Leave terminal",
        "shift+pgup Scroll back",
        "shift+pgdn Scroll forward",
    ], footer(screen)
    # the terminal takes the whole body: no editor frame beside or above it
    assert "─ Editor ─" not in screen and "─ Explorer ─" not in screen, screen

    t.type("stty size")
    t.keys("Enter")

    def size(s: str) -> tuple[int, int] | None:
        found = [m for m in (STTY.match(line.strip()) for line in terminal_lines(s)) if m]
        return (int(found[-1][1]), int(found[-1][2])) if found else None

    screen = t.wait_until(lambda s: size(s) is not None, "the output of stty size")
    found = size(screen)
    assert found is not None
    rows, cols = found
    assert rows >= 16, f"stty size at 80x24: {rows} rows\n{screen}"
    assert cols >= 76, screen
    assert f"{cols}x{rows}" in screen, screen  # the focused frame says the size the program has
    assert "Traceback" not in screen

    t.keys("C-]")  # the tab bar: its keys, whole
    screen = t.wait_until(lambda s: "Back to terminal" in footer(s), "the tab bar's keys in the footer")
    assert "New terminal" in " ".join(footer_entries(screen)), footer(screen)
    t.keys("C-q")
    t.wait_until(lambda s: not t.alive() or "sandbench" not in s, "the app gone", timeout=20)
