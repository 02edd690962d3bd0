"""Snapshots of the real editor in the real workspace (issue 15), at 80x24 (the editor's tab) and 160x48 (tiled):
a highlighted Python file (dark and light: the syntax colours are the theme's), a dirty tab (the ● unsaved
marker), a binary file's read-only hex view, a too-large file's read-only head (the config's `read_limit` made
small), and the find bar open on a match. Deterministic as tests/tui/snap_real.py says. Update with
`pytest tests/tui/test_snapshots_editor.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from services.config import Config
from tests.conftest import wait_until
from tests.tui.snap_real import (
    COMMITTED,
    MAIN_PY,
    SIZE_IDS,
    SIZES,
    THEMES,
    cleanup,
    make_app,
    open_in_editor,
    ready,
    seed,
    workspace,
)
from widgets.editor import EditorTabs
from widgets.editor.find import FindBar

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]

READ_LIMIT = 2048
BLOB = bytes(range(256)) * 3  # NULs: binary
BIG = b"".join(b"line %04d: the same words over and over again\n" % i for i in range(200))  # 9,400 bytes
Steps = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture
def project(config: Config) -> Iterator[Config]:
    seed(config, COMMITTED, files={"main.py": MAIN_PY, "logo.bin": BLOB, "big.log": BIG})
    yield config
    cleanup(config)


def _snap(snap_compare: Any, config: Config, size: tuple[int, int], steps: Steps, theme: str = "textual-dark") -> bool:
    async def run_before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await steps(pilot)
        await pilot.pause()

    app = make_app(config, theme, read_limit=READ_LIMIT)
    return bool(snap_compare(app, terminal_size=size, run_before=run_before))


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("theme", THEMES)
def test_editor_highlighted_python(snap_compare: Any, project: Config, size: tuple[int, int], theme: str) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_in_editor(pilot, "main.py")

    assert _snap(snap_compare, project, size, steps, theme)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_editor_dirty_tab(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    """Two tabs, main.py edited (● main.py) and big.log's head beside it."""

    async def steps(pilot: Pilot[Any]) -> None:
        await open_in_editor(pilot, "big.log")
        await open_in_editor(pilot, "main.py")
        await pilot.press("end", "!")
        tabs = workspace(pilot).query_one(EditorTabs)
        await wait_until(pilot, lambda: tabs.has_unsaved() == ["main.py"])

    assert _snap(snap_compare, project, size, steps)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_editor_binary_read_only(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_in_editor(pilot, "logo.bin")

    assert _snap(snap_compare, project, size, steps)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_editor_too_large_head(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_in_editor(pilot, "big.log")

    assert _snap(snap_compare, project, size, steps)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_editor_find_bar(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    """`self` found: the bar open under the editor, the match selected, its status said."""

    async def steps(pilot: Pilot[Any]) -> None:
        await open_in_editor(pilot, "main.py")
        await pilot.press("ctrl+f")
        bar = workspace(pilot).query_one(FindBar)
        await wait_until(pilot, lambda: bar.has_class("-visible"))
        await pilot.press(*"self", "enter")
        status = bar.query_one("#find-status", Static)
        await wait_until(pilot, lambda: str(status.render()).strip() != "", "the find status")

    assert _snap(snap_compare, project, size, steps)
