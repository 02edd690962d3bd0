"""The status bar at 80 columns keeps the branch and the work in flight readable: the least useful parts go first."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tests.conftest import wait_until
from widgets.status_bar import StatusBar


class _Bar(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar(id="bar")


def _fill(bar: StatusBar, branch: str) -> None:
    bar.provider = "local"
    bar.sandbox = "payments-service-dev"
    bar.state = "started"
    bar.isolation = "full"
    bar.isolation_via = "bwrap 0.11.0 (bundled)"
    bar.branch = branch


async def test_a_detached_head_stays_readable_at_80_columns() -> None:
    app = _Bar()
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.query_one(StatusBar)
        _fill(bar, "(3f2a9c1e)")
        bar.begin("git", "refreshing git status")
        await wait_until(pilot, lambda: bar.render().plain.strip() != "", "the bar drew")
        line = bar.render().plain
        assert len(line) <= bar.content_size.width
        assert "⎇ (3f2a9c1e)" in line, line  # the whole commit, not a bare ⎇
        assert "refreshing git status" in line, line
        assert "payments-service-dev" in line and "full" in line, line


async def test_a_wide_bar_shows_everything() -> None:
    app = _Bar()
    async with app.run_test(size=(160, 24)) as pilot:
        bar = app.query_one(StatusBar)
        _fill(bar, "main")
        await wait_until(pilot, lambda: bar.render().plain.strip() != "", "the bar drew")
        line = bar.render().plain
        assert "local" in line and "isolation: full · bwrap 0.11.0 (bundled)" in line and "⎇ main" in line, line
