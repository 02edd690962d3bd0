"""Snapshots of the real explorer over a project with git-ignored entries: `node_modules/` (opened, its packages
muted too), `.venv/`, `build/`, `debug.log` and a log inside a tracked folder drawn muted, beside a modified
and a tracked file that are not — at 80x24 (the explorer's tab) and 160x48 (tiled). See tests/tui/snap_real.py
for what makes the frames deterministic. Update with
`pytest tests/tui/test_snapshots_explorer_ignored.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.pilot import Pilot

from services.config import Config
from tests.conftest import wait_until
from tests.tui.snap_real import COMMITTED, MAIN_PY, SIZE_IDS, SIZES, cleanup, make_app, ready, seed
from widgets.explorer import Explorer

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]

SCRIPT = (
    "mkdir -p src && printf 'x\\n' > src/util.py && printf '# demo\\n' > README.md && "
    "printf 'node_modules/\\n.venv/\\nbuild/\\n*.log\\n' > .gitignore && "
    + COMMITTED
    + " && printf '# changed\\n' >> main.py && mkdir -p build .venv/bin && printf 'o\\n' > build/out.o && "
    "printf 'v\\n' > .venv/pyvenv.cfg && printf 'log\\n' > debug.log && printf 'l\\n' > src/trace.log && "
    "for p in left-pad lodash react; do mkdir -p node_modules/$p && printf '{}\\n' > node_modules/$p/package.json; "
    "done"
)


@pytest.fixture
def tree(config: Config) -> Iterator[Config]:
    seed(config, SCRIPT, files={"main.py": MAIN_PY})
    yield config
    cleanup(config)


def _paths(explorer: Explorer) -> list[str]:
    return [r.entry.path for r in explorer.rows]


async def _open(pilot: Pilot[Any], explorer: Explorer, folder: str) -> None:
    await wait_until(pilot, lambda: folder in _paths(explorer))
    explorer.move_cursor(_paths(explorer).index(folder))
    await pilot.press("enter")
    inside = folder + "/"
    await wait_until(pilot, lambda: any(p.startswith(inside) for p in _paths(explorer)) and not explorer.is_loading)


async def _explorer(pilot: Pilot[Any]) -> None:
    screen = await ready(pilot, marker=("main.py", "M"))
    explorer = screen.query_one(Explorer)
    await wait_until(pilot, lambda: explorer.is_ignored("node_modules"), "the ignored entries", timeout=20)
    explorer.show_hidden = True  # .venv and .gitignore on show
    for folder in ("node_modules", "src"):
        await _open(pilot, explorer, folder)
    explorer.move_cursor(_paths(explorer).index("README.md"))  # the cursor on a tracked file: every muted row shows
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_explorer_ignored_entries_muted(snap_compare: Any, tree: Config, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(tree), terminal_size=size, run_before=_explorer)
