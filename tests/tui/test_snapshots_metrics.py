"""Snapshot tests of the Metrics view at 80x24 and 160x48 (issue 13 §3), over the seeded list of
tests/tui/test_snapshots.py, with 15 minutes of fixed samples (tests/tui/metrics_samples.py: `fixed_sampler`)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from services.config import Config
from tests.conftest import wait_until
from tests.tui.metrics_samples import fixed_sampler
from tests.tui.test_snapshots import SIZES, _app, _list_loaded, seeded
from tui.screens.metrics import MetricsScreen
from tui.screens.sandbox_list import SandboxListScreen

__all__ = ["seeded"]  # the fixture, used by name


async def _metrics(pilot: Pilot[Any]) -> None:
    await _list_loaded(pilot)
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, SandboxListScreen)
    (api,) = [i for i in screen.table.infos if i.name == "api-server"]
    app.push_screen(MetricsScreen(screen.service, api, sampler=fixed_sampler(api.id)))
    await wait_until(pilot, lambda: isinstance(app.screen, MetricsScreen))
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_metrics(snap_compare: Any, seeded: Config, size: tuple[int, int]) -> None:
    assert snap_compare(_app(seeded, "textual-dark"), terminal_size=size, run_before=_metrics)
