"""End to end: the sandbox list's keys at 80x24 as a person types them into a real terminal. The real `sandbench`
runs in a detached outer tmux; `send-keys -l '/dev'` delivers the four keys at once, as a fast typist or a paste
does. The letters behind `/` go into the filter (they once reached the table first: `d` opened Delete and the
enter confirmed it), and a delete dialog is not confirmed by a stray enter: Cancel has the focus, `y` deletes.
Enter on a row says "opening NAME…" at once: building a first workspace takes a second or two.

Reuses the `Tmux` driver and the `home` fixture of tests/tui/test_e2e_tmux.py; its own tmux server (`-L`).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux, _env, footer, home

__all__ = ["home"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]

NAMES = ("dev-box", "e2e-box")  # sorted: dev-box is the first row, selected when the list opens


def cli(base: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SANDBENCH), *args], env=_env(base), capture_output=True, text=True, timeout=120)


def names(base: Path) -> set[str]:
    out = cli(base, "ls", "--json")
    assert out.returncode == 0, out.stderr
    return {s["name"] for s in json.loads(out.stdout)}


@pytest.fixture
def listing(home: Path) -> Iterator[Tmux]:
    require("tmux")
    for name in NAMES:
        made = cli(home, "create", name)
        assert made.returncode == 0, made.stderr
    t = Tmux(f"sandbench-e2e-listkeys-{os.getpid()}", "app")
    t.home = home
    env_args = [f"SANDBENCH_HOME={home / 'home'}", f"SANDBENCH_CONFIG={home / 'config.toml'}", "TERM=xterm-256color"]
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH)]
    t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "80", "-y", "24", *command)
    yield t
    t.run("kill-server", check=False)
    cli(home, "rm", "--force", "dev-box")


def rows(screen: str) -> list[str]:
    """The table's rows that name one of the sandboxes."""
    return [line for line in screen.splitlines() if any(n in line for n in NAMES) and "sandboxes of" not in line]


def test_typing_a_filter_fast_filters_and_never_deletes(listing: Tmux) -> None:
    t = listing
    assert t.home is not None
    t.wait_until(lambda s: all(any(n in r for r in rows(s)) for n in NAMES), "both sandboxes listed", timeout=60)
    t.wait_until(lambda s: "Delete" in footer(s), "the list's keys in the footer")
    t.type("/dev")  # one send-keys: the four keys arrive together
    t.keys("Enter")
    screen = t.wait_until(
        lambda s: [r for r in rows(s) if "e2e-box" in r] == [] and any("dev-box" in r for r in rows(s)),
        "only dev-box listed (filtered by dev)",
    )
    assert "Delete sandbox" not in screen, screen
    assert any(line.strip().startswith("dev") and "dev-box" not in line for line in screen.splitlines()), screen
    assert names(t.home) == set(NAMES)  # nothing deleted

    # a delete dialog: Cancel has the focus (enter cancels), the footer says y confirms, and y deletes
    t.keys("Escape")
    t.wait_until(lambda s: any("e2e-box" in r for r in rows(s)), "the filter cleared")
    t.keys("d")
    t.wait_until(lambda s: "Delete sandbox" in s and "y Yes" in footer(s), "the dialog, its footer saying y confirms")
    t.keys("Enter")
    t.wait_until(lambda s: "Delete sandbox" not in s, "the dialog closed by enter on Cancel")
    assert names(t.home) == set(NAMES)
    t.keys("d")
    t.wait_for("Delete sandbox")
    t.keys("y")
    t.wait_until(lambda s: not any("dev-box" in r for r in rows(s)), "dev-box gone from the list", timeout=60)
    assert names(t.home) == {"e2e-box"}


def test_enter_says_opening_at_once(listing: Tmux) -> None:
    t = listing
    t.wait_until(lambda s: all(any(n in r for r in rows(s)) for n in NAMES), "both sandboxes listed", timeout=60)
    t.wait_until(lambda s: "Open" in footer(s), "the list's keys in the footer")
    t.keys("Enter")
    # the list stays on screen while the workspace is built (its imports, its panes): its status line says so
    t.wait_until(lambda s: "opening dev-box…" in s and "sandboxes of" in s, "opening dev-box… under the list")
    t.wait_for("Explorer", timeout=60)


def test_a_name_typed_fast_after_n_goes_into_the_create_dialog(listing: Tmux) -> None:
    """`ndx1` in one send-keys: the Create dialog opens with dx1 in its Name (the d once opened Delete under it)."""
    t = listing
    assert t.home is not None
    t.wait_until(lambda s: all(any(n in r for r in rows(s)) for n in NAMES), "both sandboxes listed", timeout=60)
    t.wait_until(lambda s: "Delete" in footer(s), "the list's keys in the footer")
    t.type("ndx1")
    screen = t.wait_until(
        lambda s: "Create a sandbox" in s and any("Name" in line and "dx1" in line for line in s.splitlines()),
        "the Create dialog with dx1 in its Name",
    )
    assert "Delete sandbox" not in screen, screen
    t.keys("Escape")
    screen = t.wait_until(lambda s: "Create a sandbox" not in s, "the dialog closed")
    assert "Delete sandbox" not in screen, screen  # nothing was under it
    assert names(t.home) == set(NAMES)
