"""End to end (issue 13 §2): the real `sandbench open` in tmux, at 80x24. A command run with `sandbench exec` (another
process) changes the sandbox's files after a checkpoint; F9 shows them in the Changes view with the selected file's
diff, `r` restores the file, and `sandbench changes --since` (another process) agrees it is back; shift+F9 shows the
checkpoint tree with the restore's own checkpoint in it.

Reuses the `Tmux` driver and the `home` fixture of tests/tui/test_e2e_tmux.py; its own tmux server (`-L`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux, home
from tests.tui.test_e2e_tmux_palette import cli

__all__ = ["home"]  # the fixture, imported for pytest

NAME = "e2e-changes"


@pytest.fixture
def opened(home: Path) -> Iterator[tuple[Tmux, str]]:
    require("tmux")
    cli(home, "create", NAME)
    cli(home, "cp", "-", f"{NAME}:notes.txt", stdin="alpha\nbeta\ngamma\n")
    base = json.loads(cli(home, "checkpoint", NAME, "-m", "before the command", "--json"))["id"]
    cli(home, "exec", NAME, "--", "sh", "-c", "printf 'alpha\\nBETA\\ngamma\\n' > notes.txt; printf 'x\\n' > added.txt")
    t = Tmux(f"sandbench-e2e-changes-{os.getpid()}", "app")
    t.home = home
    env_args = [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}", "TERM=xterm-256color"]
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH), "open", NAME]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "80", "-y", "24", *command)
    yield t, base
    t.run("kill-server", check=False)


def test_f9_shows_what_a_command_changed_and_r_restores_it(opened: tuple[Tmux, str]) -> None:
    t, base = opened
    assert t.home is not None
    t.wait_for("Editor")  # the workspace (tabbed at 80x24)
    t.keys("F9")
    # at 80 columns the title names the checkpoint by id (its message does not fit whole, and is not cut)
    t.wait_for("Changes · e2e-changes", f"since {base}", "A added.txt", "M notes.txt")
    # the cursor to notes.txt (the second row: added.txt sorts first), its diff below
    t.keys("Down")
    t.wait_for("-beta", "+BETA")
    t.keys("r")
    t.wait_for("notes.txt restored from")
    t.wait_until(lambda s: "M notes.txt" not in s, "notes.txt gone from the tree")
    changes = json.loads(cli(t.home, "changes", NAME, "--since", base, "--json"))
    assert [c["path"] for c in changes["changes"]] == ["added.txt"]
    assert cli(t.home, "cp", f"{NAME}:notes.txt", "-") == "alpha\nbeta\ngamma\n"
    # the checkpoint tree: the restore's own checkpoint of the state before it, on top
    t.keys("Escape")
    t.wait_until(lambda s: "Changes · " not in s, "back in the workspace")
    t.keys("S-F9")
    t.wait_for("Checkpoints · e2e-changes", "before-restore", "before the command")
