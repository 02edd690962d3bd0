"""End to end at 80x24: the real `sandbench open` in tmux over a repository with git-ignored entries. What the
terminal receives (`capture-pane -e`: the colours tmux holds for each cell) draws an ignored folder, an ignored
file, and the package inside the ignored folder once it is opened, in one muted colour — and a tracked file and a
folder holding an ignored file in others.

The repository is made by `sandbench exec` (git runs inside the sandbox). Reuses the `Tmux` driver and helpers of
tests/tui/test_e2e_tmux.py, with its own tmux server (`-L`) and its own SANDBENCH_HOME. Every wait polls the
screen with a deadline.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.tui.test_e2e_tmux import PANE_FOOTERS, SANDBENCH, Tmux, _env, focus_pane, footer, home

__all__ = ["home"]  # the fixture, imported for its name

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(240)]

SETUP = (
    "git init -q -b main && printf 'node_modules/\\n*.log\\n' > .gitignore && printf 'x\\n' > README.md && "
    "printf 'n\\n' > notes.md && "
    "mkdir -p src node_modules/left-pad && printf 'y\\n' > src/app.py && git add -A && git commit -qm base && "
    "printf 'l\\n' > debug.log && printf 'l\\n' > src/trace.log && printf 'j\\n' > node_modules/left-pad/index.js"
)
IDENT = ["GIT_AUTHOR_NAME=E2E", "GIT_AUTHOR_EMAIL=e2e@example.com", "GIT_COMMITTER_NAME=E2E"]
IDENT += ["GIT_COMMITTER_EMAIL=e2e@example.com"]
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colours_at(line: str, name: str) -> tuple[str | None, str | None]:
    """The (foreground, background) colours (SGR parameter strings, e.g. '38;5;247'; None = the default) in force
    where `name` starts on a `capture-pane -e` line."""
    fg: str | None = None
    bg: str | None = None
    pos = 0
    while True:
        m = SGR.search(line, pos)
        text = line[pos : m.start()] if m else line[pos:]
        if name in text:
            return fg, bg
        if m is None:
            raise AssertionError(f"{name!r} not on {line!r}")
        params = m.group(1).split(";") if m.group(1) else ["0"]
        i = 0
        while i < len(params):
            p = params[i]
            if p == "0":
                fg = bg = None
            elif p == "39":
                fg = None
            elif p == "49":
                bg = None
            elif p in ("38", "48") and i + 1 < len(params):
                n = 3 if params[i + 1] == "5" else 5
                if p == "38":
                    fg = ";".join(params[i : i + n])
                else:
                    bg = ";".join(params[i : i + n])
                i += n - 1
            elif len(p) == 2 and p[0] in "39" and p[1] in "01234567":
                fg = p
            elif len(p) == 2 and p[0] == "4" and p[1] in "01234567":
                bg = p
            i += 1
        pos = m.end()


class Colours:
    """The explorer's rows as tmux holds them."""

    def __init__(self, t: Tmux) -> None:
        self.t = t

    def screen(self) -> list[str]:
        return self.t.run("capture-pane", "-e", "-p", "-t", self.t.session, check=False).splitlines()

    def at(self, name: str) -> tuple[str | None, str | None]:
        """(foreground, background) of the explorer row whose name is exactly `name` (after indent and icon)."""
        plain = re.compile(r"^│\s*[▸▾]?\s*" + re.escape(name) + r"(\s|$)")
        for line in self.screen():
            if plain.match(SGR.sub("", line)):
                return colours_at(line, name)
        raise AssertionError(f"no row {name!r} in:\n" + "\n".join(SGR.sub("", x) for x in self.screen()))

    def of(self, name: str) -> str | None:
        return self.at(name)[0]

    def cursor_on(self, name: str, other: str) -> bool:
        """The cursor's background on `name`'s row, not on `other`'s."""
        return self.at(name)[1] != self.at(other)[1]


@pytest.fixture
def tmux_ignored(home: Path) -> Iterator[Tmux]:
    require("tmux")
    if not SANDBENCH.exists():
        pytest.fail(f"{SANDBENCH} is missing: make .venv/.installed-test (the editable install)", pytrace=False)
    env = _env(home)
    made = subprocess.run([str(SANDBENCH), "create", "e2e-box"], env=env, capture_output=True, timeout=120)
    assert made.returncode == 0, made.stderr.decode()
    idents = [arg for kv in IDENT for arg in ("--env", kv)]
    seeded = subprocess.run(
        [str(SANDBENCH), "exec", *idents, "e2e-box", "--", "sh", "-c", SETUP],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr.decode()
    t = Tmux(f"sandbench-e2e-ignored-{os.getpid()}", "app")
    t.home = home
    env_args = [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}", "TERM=xterm-256color"]
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH), "open", "e2e-box"]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "80", "-y", "24", *command)
    yield t
    t.run("kill-server", check=False)


def test_ignored_entries_reach_the_terminal_muted(tmux_ignored: Tmux) -> None:
    t = tmux_ignored
    # the workspace gives the editor focus once it is up (its keys in the footer); only then to the explorer
    t.wait_until(lambda s: footer(s).lstrip().startswith(PANE_FOOTERS["M-2"]), "the workspace up", timeout=60)
    focus_pane(t, "M-1")
    # rows: node_modules, src, debug.log, notes.md, README.md
    t.wait_for("node_modules", "debug.log", "notes.md", "README.md")
    colours = Colours(t)
    t.keys("End")  # the cursor (its own colours) onto README.md, off the rows compared
    t.wait_until(lambda _: colours.cursor_on("README.md", "notes.md"), "the cursor on README.md")
    # the git status arrives after the listing: until then the ignored rows are drawn like the others
    t.wait_until(
        lambda _: (
            colours.of("debug.log") != colours.of("notes.md") and colours.of("node_modules") == colours.of("debug.log")
        ),
        "debug.log and node_modules drawn alike, apart from notes.md",
        timeout=30,
    )
    muted = colours.of("debug.log")
    assert colours.of("src") != muted  # holds an ignored file, is not ignored
    assert colours.of("notes.md") != muted  # tracked

    # open node_modules: the package in it (git named only `node_modules/`) is muted too
    t.keys("Home")
    t.wait_until(lambda _: colours.cursor_on("node_modules", "notes.md"), "the cursor on node_modules")
    t.keys("Enter")
    t.wait_for("left-pad")
    t.keys("End")
    t.wait_until(lambda _: colours.cursor_on("README.md", "notes.md"), "the cursor on README.md")
    t.wait_until(lambda _: colours.of("left-pad") == muted and colours.of("node_modules") == muted, "left-pad muted")
    assert colours.of("notes.md") != muted
