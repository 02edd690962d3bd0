"""Git-ignored entries in the explorer, in the real workspace (real app, real LocalProvider, real git inside a
real bubblewrap sandbox): an ignored file and folder are drawn muted — and so is everything inside an ignored
folder once it is opened, though git names the folder only once — while tracked ones are not; the git panel's
lists stay free of them and the repository still reads clean.
"""

from __future__ import annotations

from typing import Any

import pytest
from rich.color import Color

from services.config import Config
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_git import INIT, sh
from tests.tui.conftest import fixed_clock
from tui.app import SandbenchApp
from tui.screens.workspace import WorkspaceScreen
from widgets.explorer import Explorer
from widgets.git.panel import GitPanel

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]

# tracked: .gitignore, README.md, src/app.py; ignored: node_modules/ (a package inside), build/, debug.log,
# src/trace.log, .venv/
PROJECT = (
    INIT + r" && printf 'node_modules/\nbuild/\n*.log\n.venv/\n' > .gitignore && mkdir -p src && "
    r"printf '# app\n' > README.md && printf 'print(1)\n' > src/app.py && git add -A && git commit -qm base && "
    r"mkdir -p node_modules/left-pad/lib build .venv && printf 'x\n' > node_modules/left-pad/lib/index.js && "
    r"printf 'o\n' > build/out.o && printf 'log\n' > debug.log && printf 'l\n' > src/trace.log && "
    r"printf 'v\n' > .venv/pyvenv.cfg"
)


def name_color(explorer: Explorer, path: str) -> Color | None:
    """The colour the row of `path` draws its name in (the cursor must be elsewhere: it has its own colour)."""
    index = [r.entry.path for r in explorer.rows].index(path)
    assert index != explorer.cursor, "move the cursor off the row first"
    name = explorer.rows[index].entry.name
    strip = explorer.render_line(index - int(explorer.scroll_y))
    (segment,) = [s for s in strip if s.text == name]
    assert segment.style is not None
    return segment.style.color


async def test_ignored_file_and_folder_are_muted_and_tracked_ones_are_not(
    service: SandboxService, config: Config, sandbox: SandboxInfo
) -> None:
    await sh(service, sandbox.id, PROJECT)
    app = SandbenchApp(service, config, clock=fixed_clock, open_name=sandbox.name)
    async with app.run_test(size=(160, 48)) as pilot:
        p: Any = pilot
        await wait_until(p, lambda: isinstance(app.screen, WorkspaceScreen) and bool(app.screen.query(GitPanel)))
        screen = app.screen
        explorer = screen.query_one(Explorer)
        panel = screen.query_one(GitPanel)
        shown = {"build", "node_modules", "src", "README.md", "debug.log"}
        await wait_until(
            p,
            lambda: shown <= {r.entry.path for r in explorer.rows} and explorer.is_ignored("node_modules"),
            "the listing and the ignored entries",
            timeout=30,
        )
        muted = explorer.get_component_rich_style("explorer--git-ignored").color
        assert muted is not None
        explorer.move_cursor([r.entry.path for r in explorer.rows].index("README.md"))
        await pilot.pause()
        for path in ("node_modules", "build", "debug.log"):
            assert name_color(explorer, path) == muted, path
        assert name_color(explorer, "src") != muted  # a folder that holds an ignored one is not itself ignored
        explorer.move_cursor(0)
        await pilot.pause()
        assert name_color(explorer, "README.md") != muted
        # no change marker on an ignored row: ignored is not a change
        row = [r.entry.path for r in explorer.rows].index("debug.log")
        assert explorer.render_line(row).text.rstrip().endswith("debug.log")

        # open node_modules, then the package in it: git named only `node_modules/`, yet all of it is muted
        explorer.focus()
        explorer.move_cursor([r.entry.path for r in explorer.rows].index("node_modules"))
        await pilot.press("enter")
        await wait_until(p, lambda: "node_modules/left-pad" in [r.entry.path for r in explorer.rows])
        explorer.move_cursor([r.entry.path for r in explorer.rows].index("node_modules/left-pad"))
        await pilot.press("enter")
        await wait_until(p, lambda: "node_modules/left-pad/lib" in [r.entry.path for r in explorer.rows])
        explorer.move_cursor(0)
        await pilot.pause()
        assert name_color(explorer, "node_modules/left-pad") == muted
        assert name_color(explorer, "node_modules/left-pad/lib") == muted

        # inside a tracked folder: the ignored file muted, the tracked one not
        explorer.move_cursor([r.entry.path for r in explorer.rows].index("src"))
        await pilot.press("enter")
        await wait_until(p, lambda: "src/trace.log" in [r.entry.path for r in explorer.rows])
        explorer.move_cursor(0)
        await pilot.pause()
        assert name_color(explorer, "src/trace.log") == muted
        assert name_color(explorer, "src/app.py") != muted

        # dot-files shown: .venv is ignored, .gitignore (tracked) is not
        await pilot.press("h")
        await wait_until(p, lambda: ".venv" in [r.entry.path for r in explorer.rows])
        assert name_color(explorer, ".venv") == muted
        assert name_color(explorer, ".gitignore") != muted

        # the git panel: ignored entries are not changes
        status = panel.status
        assert status is not None and status.clean and not status.entries
        assert "node_modules/" in status.ignored
        assert all(row.entry is None for row in panel.files.rows)  # section headers only


async def test_an_untracked_folder_and_what_is_in_it_are_marked_untracked(
    service: SandboxService, config: Config, sandbox: SandboxInfo
) -> None:
    """git names an untracked folder once (`? newdir/`): the folder gets the untracked colour and dot, and so does
    every entry inside it once opened (they had no mark at all)."""
    await sh(
        service,
        sandbox.id,
        INIT + " && git commit -q --allow-empty -m base && mkdir -p newdir/sub && "
        "printf 'a\\n' > newdir/a.txt && printf 'b\\n' > newdir/sub/b.txt && printf 'c\\n' > tracked.txt && "
        "git add tracked.txt && git commit -qm t",
    )
    app = SandbenchApp(service, config, clock=fixed_clock, open_name=sandbox.name)
    async with app.run_test(size=(160, 48)) as pilot:
        p: Any = pilot
        await wait_until(p, lambda: isinstance(app.screen, WorkspaceScreen) and bool(app.screen.query(GitPanel)))
        explorer = app.screen.query_one(Explorer)
        await wait_until(
            p,
            lambda: {"newdir", "tracked.txt"} <= {r.entry.path for r in explorer.rows} and explorer._git,
            "the listing and git's markers",
            timeout=30,
        )
        untracked = explorer.get_component_rich_style("explorer--git-untracked").color
        assert untracked is not None
        explorer.focus()
        explorer.move_cursor([r.entry.path for r in explorer.rows].index("newdir"))
        await pilot.press("enter")
        await wait_until(p, lambda: "newdir/sub" in [r.entry.path for r in explorer.rows], "newdir opened")
        explorer.move_cursor([r.entry.path for r in explorer.rows].index("tracked.txt"))
        await pilot.pause()
        for path in ("newdir", "newdir/a.txt", "newdir/sub"):
            assert name_color(explorer, path) == untracked, path
        row = [r.entry.path for r in explorer.rows].index("newdir/a.txt")
        assert explorer.render_line(row - int(explorer.scroll_y)).text.rstrip().endswith("?")
        explorer.move_cursor(row)
        await pilot.pause()
        assert name_color(explorer, "tracked.txt") != untracked
