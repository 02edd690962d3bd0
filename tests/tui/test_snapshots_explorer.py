"""Snapshots of the real explorer in the real workspace (issue 15): git markers (modified, staged, untracked,
ignored) and hostile names shown literally — markup, an escape sequence, a very long name, RTL/bidi text and a
bidi override, emoji — at 80x24 (the explorer's tab) and 160x48 (tiled), dark and light (the markers' colours
change with the theme). See tests/tui/snap_real.py for what makes the frames deterministic. Update with
`pytest tests/tui/test_snapshots_explorer.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.pilot import Pilot

from services.config import Config
from tests.tui.snap_real import COMMITTED, MAIN_PY, SIZE_IDS, SIZES, THEMES, cleanup, make_app, ready, seed

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]

LONG = "a-very-long-file-name-that-goes-on-and-on-well-past-any-pane-width-" + "x" * 60 + ".txt"
HOSTILE = [
    "[bold]x[red]y",
    "[@click=app.quit]quit",
    "esc\x1b[31mred\x1b[0m",
    LONG,
    "\u05e9\u05dc\u05d5\u05dd.txt",
    "bidi\u202etxt.exe",
    "🐍 snake.py",
]
# committed: .gitignore, README.md, main.py, src/; then main.py modified, new.py staged, notes.txt untracked,
# build/ ignored, and the hostile names untracked
SCRIPT = (
    "mkdir -p src build && printf 'x\\n' > src/util.py && printf '# demo\\n' > README.md && "
    "printf 'build/\\n' > .gitignore && printf 'out\\n' > build/out.o && "
    + COMMITTED
    + " && printf '# changed\\n' >> main.py && printf 'new\\n' > new.py && git add new.py && "
    "printf 'n\\n' > notes.txt && for n in \"$@\"; do printf 'h\\n' > \"$n\"; done"
)


@pytest.fixture
def tree(config: Config) -> Iterator[Config]:
    seed(config, SCRIPT, *HOSTILE, files={"main.py": MAIN_PY})
    yield config
    cleanup(config)


async def _explorer(pilot: Pilot[Any]) -> None:
    await ready(pilot, marker=("main.py", "M"))
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("theme", THEMES)
def test_explorer_markers_and_hostile_names(snap_compare: Any, tree: Config, size: tuple[int, int], theme: str) -> None:
    assert snap_compare(make_app(tree, theme), terminal_size=size, run_before=_explorer)
