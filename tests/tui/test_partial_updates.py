"""The workspace's compositor (tui/compositor.py) sends the outer terminal exactly what Textual's own pass would, for
any partial update, while rendering only the widgets that show in it: an echoed row of the terminal renders the
terminal and its frame, not the footer, the status bar, the tab strips and every container under them.

Both passes run on the real workspace (the real explorer, editor, terminal and git panel) and their updates are
compared as the bytes written to the terminal (`ChopsUpdate.render_segments`)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.widget import Widget

from services.models import SandboxInfo
from tests.tui.conftest import open_workspace
from tests.tui.test_workspace_layout import into_terminal
from tui.compositor import RowCroppedCompositor

pytestmark = pytest.mark.bwrap


def update_bytes(compositor: Compositor, pass_: Callable[..., Any], regions: list[Region], console: Any) -> str:
    """What a partial update of `regions` writes to the terminal, its chops made by `pass_`."""
    crop = Region.from_union(regions).intersection(compositor.size.region)
    spans = list(compositor._regions_to_spans(regions))
    rendered = {y for y, _, _ in spans}.__contains__
    chops = pass_(compositor, crop, rendered)
    return ChopsUpdate(chops, spans, [cut_set[1:] for cut_set in compositor.cuts]).render_segments(console)


@contextmanager
def counting_renders() -> Iterator[list[str]]:
    """The widgets whose lines are rendered, by class name, while the block runs."""
    seen: list[str] = []
    original = Widget.render_lines

    def render_lines(self: Widget, crop: Region) -> Any:
        seen.append(type(self).__name__)
        return original(self, crop)

    Widget.render_lines = render_lines  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Widget.render_lines = original  # type: ignore[method-assign]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_partial_updates_write_what_textual_would(make_app: Any, box: SandboxInfo, size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_workspace(pilot, app)
        view = await into_terminal(pilot, screen)
        compositor = screen._compositor
        assert isinstance(compositor, RowCroppedCompositor)
        width, height = size
        vx, vy = view.region.x, view.region.y
        cases = [
            [Region(vx, vy, view.region.width, 1)],  # an echoed row
            [view.region],  # the terminal repainted whole (a flood's frame)
            [Region(0, height - 1, width, 1)],  # the footer row
            [Region(0, 0, width, 2)],  # the tab strips
            [Region(vx + 3, vy + 2, 5, 1), Region(0, height - 2, width, 1)],  # two pieces, rows apart
            [Region(width // 2 - 3, vy, 6, height - vy - 1)],  # a column crossing pane borders
        ]
        rnd = random.Random(7)
        for _ in range(30):
            x, y = rnd.randrange(width), rnd.randrange(height)
            cases.append(
                [Region(x, y, rnd.randint(1, width - x), rnd.randint(1, height - y)) for _ in range(rnd.randint(1, 3))]
            )
        for regions in cases:
            ours = update_bytes(compositor, RowCroppedCompositor._render_chops, regions, app.console)
            textual = update_bytes(compositor, Compositor._render_chops, regions, app.console)
            assert ours == textual, regions


async def test_an_echoed_row_renders_the_terminal_and_its_frame_only(make_app: Any, box: SandboxInfo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_workspace(pilot, app)
        view = await into_terminal(pilot, screen)
        row = [Region(view.region.x, view.region.y, view.region.width, 1)]
        with counting_renders() as ours:
            update_bytes(screen._compositor, RowCroppedCompositor._render_chops, row, app.console)
        with counting_renders() as textual:
            update_bytes(screen._compositor, Compositor._render_chops, row, app.console)
        assert sorted(ours) == ["PaneFrame", "TerminalView"], ours
        assert len(textual) >= 10, textual  # what the echo cost before: the footer and status bar among them
