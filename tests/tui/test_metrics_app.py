"""The Metrics view and the list's CPU% sparklines in the real app (issue 13 §3), over real local sandboxes: f10
(and the palette's "Metrics") opens the view over the workspace, m over the list; it draws live samples and the
limits; closing it stops the sampling; the list's sparkline column fills in at 80 columns without sideways
scrolling, and the list lets go of its watches while a workspace covers it."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_cgroups import IN_CI
from tests.tui.conftest import open_workspace, run_from_palette, workspace_up
from tests.tui.metrics_samples import fixed_sampler
from tui.app import SandbenchApp
from tui.screens.metrics import MetricsScreen
from tui.screens.sandbox_list import SandboxListScreen
from widgets.metrics_chart import LineChart

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]


@pytest.fixture
def cgroups(service: SandboxService) -> None:
    m = service.provider.launcher.cgroups  # type: ignore[attr-defined]
    if not m.available:
        if IN_CI and os.geteuid() == 0:
            pytest.fail(f"CI is expected to offer a writable cgroup hierarchy: {m.reason}")
        pytest.skip(f"no per-sandbox cgroups here: {m.reason}")


def chart(screen: MetricsScreen, key: str) -> LineChart:
    return screen.query_one(f"#chart-{key}", LineChart)


async def test_f10_opens_live_metrics_over_the_workspace_and_closing_stops_sampling(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp], cgroups: None
) -> None:
    await service.exec(box.id, ["true"])
    app = make_app()
    sampler = service.metrics_sampler
    async with app.run_test(size=(80, 24)) as pilot:
        workspace = await open_workspace(pilot, app)
        await wait_until(pilot, lambda: sampler.watched == set(), "the covered list to let go of its watches")
        await pilot.press("f10")
        await wait_until(pilot, lambda: isinstance(app.screen, MetricsScreen))
        metrics = app.screen
        assert isinstance(metrics, MetricsScreen) and sampler.watched == {box.id}
        await wait_until(pilot, lambda: len(chart(metrics, "cpu").points) >= 2, "two live samples drawn")
        memory = chart(metrics, "memory")
        assert memory.limit == 1024**3 and "of 1.0G" in memory.heading().plain
        assert chart(metrics, "pids").limit == 256
        assert "OOM kills 0" in str(metrics.query_one("#metrics-hits").render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is workspace)
        assert not sampler.running and sampler.watched == set()
        # the palette's "Metrics" opens it too, and the window kept meanwhile is there at once
        await run_from_palette(pilot, app, "metrics", "Metrics")
        await wait_until(pilot, lambda: isinstance(app.screen, MetricsScreen))
        assert isinstance(app.screen, MetricsScreen) and len(chart(app.screen, "cpu").points) >= 2
        await pilot.press("f10")
        await wait_until(pilot, lambda: workspace_up(app))


async def test_the_list_s_sparkline_fills_in_at_80_columns(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp], cgroups: None
) -> None:
    app = make_app()
    sampler = service.metrics_sampler
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, SandboxListScreen)
        table = screen.table
        assert "spark" in table.column_keys and sampler.watched == {box.id}
        await wait_until(pilot, lambda: table.row_text(box.id)["spark"].strip() != "", "the sparkline drawn")
        assert set(table.row_text(box.id)["spark"].strip()) <= set("▁▂▃▄▅▆▇█ ")
        assert table.virtual_size.width <= table.size.width  # no sideways scrolling at 80 columns
        # m opens the selected sandbox's Metrics over the list; esc comes back and the list watches again
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, MetricsScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen and sampler.watched == {box.id})


async def test_the_metrics_view_draws_the_kept_window_and_the_hits(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        app.push_screen(MetricsScreen(service, box, sampler=fixed_sampler(box.id)))
        await wait_until(pilot, lambda: isinstance(app.screen, MetricsScreen))
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        await pilot.pause()
        cpu = chart(screen, "cpu")
        assert len(cpu.points) == 900 and cpu.limit == 100.0
        drawn = str(cpu.render())
        assert "█" in drawn and "-15m" in drawn and "now" in drawn
        hits = str(screen.query_one("#metrics-hits").render())
        assert "OOM kills 1" in hits and "pids cap reached 3" in hits and "CPU throttled 42" in hits
        assert "of 256" in chart(screen, "pids").heading().plain


async def test_metrics_of_a_stopped_sandbox_say_why_and_do_not_start_it(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.stop(box.id)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, MetricsScreen))
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        hits = screen.query_one("#metrics-hits")
        await wait_until(pilot, lambda: "metrics are read from a running sandbox" in str(hits.render()))
        assert "Traceback" not in str(hits.render())
        assert (await service.get(box.id)).state.value == "stopped"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen))
        assert not service.metrics_sampler.running
