"""End to end (issue 11 §3): an editor people keep, in the real `sandbench open` in a detached tmux. A file created
from the explorer opens in the editor; Enter after `def f():` indents the next line by 4 and after `if x:` by 8 (no
space typed by hand); in a JavaScript file `}` typed at the start of a line goes back to its opener's indent; ctrl+s
saves. The saved bytes are read by `sandbench cp NAME:path -`, a separate process on the same SANDBENCH_HOME: the
indentation auto-indent made, and exactly one final newline.

Reuses the `Tmux` driver and the `home` fixture of tests/tui/test_e2e_tmux.py; its own tmux server (`-L`). Every
wait polls the screen with a deadline.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux, _env, footer, home

__all__ = ["home"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]

NAME = "e2e-box"
DIALOG = "makes folders on the way"  # the new-file dialog's message
EXPLORER_KEYS = "n New file"  # in the footer while the explorer has focus


@pytest.fixture
def opened(home: Path) -> Iterator[Tmux]:
    require("tmux")
    if not SANDBENCH.exists():
        pytest.fail(f"{SANDBENCH} is missing: make .venv/.installed-test (the editable install)", pytrace=False)
    made = subprocess.run([str(SANDBENCH), "create", NAME], env=_env(home), capture_output=True, timeout=120)
    assert made.returncode == 0, made.stderr.decode()
    t = Tmux(f"sandbench-e2e-editor-{os.getpid()}", "app")
    t.home = home
    env_args = [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}", "TERM=xterm-256color"]
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH), "open", NAME]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "120", "-y", "40", *command)
    yield t
    t.run("kill-server", check=False)


def new_file_in_editor(t: Tmux, name: str) -> None:
    """Create `name` from the explorer: it opens in an editor tab that has the keyboard."""
    t.keys("M-1")
    t.wait_until(lambda s: EXPLORER_KEYS in footer(s), "the explorer's keys in the footer")
    t.keys("n")
    t.wait_for(DIALOG)
    t.type(name)
    t.keys("Enter")
    # keys typed before the buffer is loaded and focused would go elsewhere: wait for the dialog gone, the
    # editor's keys in the footer and the gutter's first line number in the editor's frame (column 30 at 120x40)
    t.wait_until(
        lambda s: (
            DIALOG not in s
            and s.count(name) >= 2
            and "^s Save" in footer(s)
            and any(line.startswith("│1 ", 30) for line in s.splitlines())
        ),
        f"{name} open in an editor tab",
    )


def row(number: int, text: str) -> str:
    """An editor row as the screen shows it: the frame, the gutter's line number, two blanks, the line."""
    return f"│{number}  {text}"


def type_lines(t: Tmux, *lines: str) -> None:
    """Type each line as a person does, Enter between them (not after the last: that would leave an indented
    blank line), every indent left to the editor."""
    for i, line in enumerate(lines):
        if i:
            t.keys("Enter")
        t.type(line)


def save(t: Tmux, name: str) -> None:
    t.wait_for(f"● {name}")  # typed: the tab says unsaved
    t.keys("C-s")
    t.wait_until(lambda s: f"● {name}" not in s, f"the unsaved marker of {name} gone after ctrl+s")


def saved_bytes(t: Tmux, path: str, want: bytes) -> bytes:
    """The file as another process reads it through the service (`sandbench cp NAME:path -`), once it holds what
    the editor saved or the deadline passes."""
    assert t.home is not None
    deadline = time.monotonic() + 20
    got = b""
    while time.monotonic() < deadline:
        out = subprocess.run(
            [str(SANDBENCH), "cp", f"{NAME}:{path}", "-"], env=_env(t.home), capture_output=True, timeout=30
        )
        got = out.stdout
        if out.returncode == 0 and got == want:
            break
        time.sleep(0.2)
    return got


def test_auto_indent_and_one_final_newline_reach_the_saved_file(opened: Tmux) -> None:
    t = opened
    t.wait_for("─ Explorer ─", "─ Editor ─", timeout=60)

    new_file_in_editor(t, "calc.py")
    type_lines(t, "def f():", "if True:", "return 1")
    # on screen: each line one level deeper, in the editor's gutter rows 2 and 3
    screen = t.wait_for(row(2, "    if True:"), row(3, "        return 1"))
    # alt+z twice in one burst (ESC z ESC z, as a held key or a fast hand sends it): wrap on and off, no letter
    # and no '^' typed (Textual's parser used to type the first ESC as '^' when the second followed within 100 ms)
    t.keys("M-z", "M-z")
    save(t, "calc.py")
    python = b"def f():\n    if True:\n        return 1\n"
    assert saved_bytes(t, "calc.py", python) == python, t.screen()
    assert "Traceback" not in screen

    # a brace language: `{` indents the next line, `}` typed first on a line goes back to its opener's indent
    new_file_in_editor(t, "app.js")
    # (no line ends in ';': tmux reads an argument's trailing ';' as its own command separator)
    type_lines(t, "function g(x) {", "if (x) {", "x()", "}", "}")
    t.wait_for(row(3, "        x()"), row(4, "    }"), row(5, "}"))
    save(t, "app.js")
    js = b"function g(x) {\n    if (x) {\n        x()\n    }\n}\n"
    assert saved_bytes(t, "app.js", js) == js, t.screen()
    # the first file is untouched by the second
    assert saved_bytes(t, "calc.py", python) == python
    assert "Traceback" not in t.screen()
