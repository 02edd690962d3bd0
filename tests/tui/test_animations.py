"""Animations are off unless the config turns them on: an editor tab's underline lands on the tab at once when the
tab changes, rather than sliding there over 0.3 s — ~20 frames of its whole row sent to the terminal, which over SSH
shows the screen catching up after the key. `animations = "full"` gives Textual's own behaviour back."""

from __future__ import annotations

import dataclasses

from textual.widgets import Tabs
from textual.widgets._tabs import Underline

from services.config import Config
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import open_workspace
from tui.app import SandbenchApp
from widgets.editor import EditorTabs


async def _underline_after_switch(service: SandboxService, app: SandbenchApp) -> list[tuple[float, float]]:
    """Where the underline is drawn, sampled every 20 ms for half a second after switching to the first tab, and
    last where that tab is."""
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_workspace(pilot, app)
        tabs = screen.query_one("#editor", EditorTabs)
        for path in ("a.py", "a_much_longer_name.py"):
            worker = tabs.open_file(path)
            assert worker is not None
            await worker.wait()
        row = tabs.query_one(Tabs)
        underline = row.query_one(Underline)
        await wait_until(pilot, lambda: tabs.active_path == "a_much_longer_name.py")
        await pilot.wait_for_animation()
        await pilot.pause()
        tabs.open_file("a.py")
        seen: list[tuple[float, float]] = []
        for _ in range(25):
            await pilot.pause(0.02)
            seen.append((underline.highlight_start, underline.highlight_end))
        await wait_until(pilot, lambda: tabs.active_path == "a.py")
        active = row.active_tab
        assert active is not None
        start, end = active.virtual_region.shrink(active.styles.gutter).column_span
        return [*seen, (start, end)]


async def test_a_tab_switch_moves_the_underline_at_once(service: SandboxService, config: Config) -> None:
    box = await service.create(SandboxSpec(name="box"))
    for path in ("a.py", "a_much_longer_name.py"):
        await service.write_file(box.id, path, b"x = 1\n")
    *seen, target = await _underline_after_switch(service, SandbenchApp(service, config))
    assert seen[-1] == target
    between = [s for s in seen if s not in (seen[0], target)]
    assert not between, f"the underline slid through {between}: a frame sent for each"


async def test_animations_can_be_turned_on(service: SandboxService, config: Config) -> None:
    app = SandbenchApp(service, dataclasses.replace(config, animations="full"))
    async with app.run_test(size=(100, 30)):
        assert app.animation_level == "full"
