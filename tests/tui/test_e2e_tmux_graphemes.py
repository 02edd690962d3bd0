"""End to end (issue 14): grapheme clusters printed in the terminal pane of the real `sandbench open`, in a tmux
window of 120x40 (the four-pane layout: the explorer beside the terminal, the editor and git panel above it).

After rows of ZWJ sequences, flags, VS16 emoji, keycaps, skin-tone modifiers and combining marks, every row of the
outer screen is still 120 columns with the terminal's right border in the last one, the explorer's border where it
was, and the panes above exactly as before — a row Rich measures differently from the cells tmux draws used to
push the border off (`widgets/terminal/fit.py`). Columns are counted as tmux lays text out (`screen.clusters`,
which the differential tests hold to tmux).

Reuses the `Tmux` driver and helpers of tests/tui/test_e2e_tmux.py with its own tmux server and SANDBENCH_HOME;
every wait polls the screen with a deadline.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux, _env, home, terminal_lines
from widgets.terminal.rows import clusters

__all__ = ["home"]  # the fixture, imported for its name

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(240)]

COLS, ROWS = 120, 40
SIZE = re.compile(r"\d+x\d+ ─╯")
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
ROWS_PRINTED = {
    "zwj": FAMILY * 3 + " \U0001f9d1\u200d\U0001f4bb \u2764\u200d\U0001f525 \U0001f3f3\ufe0f\u200d\U0001f308",
    "flags": "\U0001f1eb\U0001f1f7 \U0001f1e9\U0001f1ea \U0001f1ef\U0001f1f5 lone \U0001f1eb",
    "vs16": "\u2764\ufe0f \u2714\ufe0f \u2600\ufe0f keycaps 1\ufe0f\u20e3 #\ufe0f\u20e3",
    "skin": "\U0001f44d\U0001f3fd \U0001f44b\U0001f3ff ok",
    "marks": "e\u0301 n\u0303 a\u0304\u0300 \u1100\u1161",
    "full": FAMILY * 50,  # wider than the pane: it wraps, cluster by cluster
}


def width(text: str) -> int:
    return sum(w for _, w in clusters(text))


def column_of(line: str, index: int) -> int:
    """The screen column where line[index] is drawn."""
    return width(line[:index])


@pytest.fixture
def tmux_wide(home: Path) -> Iterator[Tmux]:
    require("tmux")
    if not SANDBENCH.exists():
        pytest.fail(f"{SANDBENCH} is missing: make .venv/.installed-test (the editable install)", pytrace=False)
    made = subprocess.run([str(SANDBENCH), "create", "e2e-box"], env=_env(home), capture_output=True, timeout=120)
    assert made.returncode == 0, made.stderr.decode()
    t = Tmux(f"sandbench-e2e-graphemes-{os.getpid()}", "app")
    t.home = home
    env_args = [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}", "TERM=xterm-256color"]
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH), "open", "e2e-box"]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", str(COLS), "-y", str(ROWS), *command)
    yield t
    t.run("kill-server", check=False)


def test_cluster_rows_leave_the_frame_and_the_neighbours_intact(tmux_wide: Tmux) -> None:
    t = tmux_wide
    t.wait_for("─ Terminal ─", "─ Explorer ─", "─ Git ─", timeout=60)
    # the rows go in a file in the sandbox, so that the command typed is short (and its echo plain ASCII)
    rows = t.home / "rows.txt"
    rows.write_text("".join(f"{name}:{text}|\n" for name, text in ROWS_PRINTED.items()))
    copied = subprocess.run(
        [str(SANDBENCH), "cp", str(rows), "e2e-box:rows.txt"], env=_env(t.home), capture_output=True, timeout=60
    )
    assert copied.returncode == 0, copied.stderr.decode()
    t.wait_for("rows.txt")  # in the explorer: from now on the panes above and beside stay as they are
    t.keys("M-3")
    t.wait_until(lambda s: any("$" in line for line in terminal_lines(s)), "a shell prompt")
    # focus has settled when only the terminal's frame names its size (the editor's did while it had focus)
    before = t.wait_until(
        lambda s: len(SIZE.findall(s)) == 1 and bool(SIZE.search(s.splitlines()[-3])), "only the terminal's size"
    ).splitlines()
    top = next(i for i, line in enumerate(before) if "─ Terminal ─" in line)

    t.type("clear; cat rows.txt; echo DONE")
    t.keys("Enter")
    screen = t.wait_until(
        lambda s: any(line.strip("│ ") == "DONE" for line in terminal_lines(s)), "the rows and DONE", timeout=30
    )
    lines = screen.splitlines()

    # every row is whole: COLS columns, the terminal's (or git's) right border in the last one
    for y, line in enumerate(lines[:-2]):  # (the status and footer rows carry no border)
        assert width(line) == COLS, f"row {y} is {width(line)} columns:\n{screen}"
        assert line.endswith(("│", "╮", "╯")), f"row {y} lost its right border: {line!r}\n{screen}"
    # the panes above the terminal: as they were
    assert lines[:top] == before[:top], screen
    # the explorer beside it: its right border in the same column on every row of the terminal's frame
    explorer_edge = column_of(before[top + 1], before[top + 1].index("│", 1))
    for y in range(top, len(lines) - 2):
        line = lines[y]
        assert any(column_of(line, i) == explorer_edge for i, c in enumerate(line) if c in "│╯"), (
            f"row {y}: the explorer's border moved: {line!r}"
        )

    # and the clusters are there, whole
    inside = "\n".join(terminal_lines(screen))
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert f"zwj:{family * 3} " in inside, inside
    assert "flags:\U0001f1eb\U0001f1f7 \U0001f1e9\U0001f1ea" in inside, inside
    assert "skin:\U0001f44d" in inside and "marks:e\u0301 n\u0303" in inside, inside
    assert "Traceback" not in screen
