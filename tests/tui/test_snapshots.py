"""Snapshot tests (pytest-textual-snapshot) of the sandbox list and the workspace at 80x24 and 160x48, dark and
light; the list with others' sandboxes shown (read-only, issue 6) at both sizes; plus the create dialog and the help
screen.

Deterministic by construction: sandboxes are seeded through a real LocalProvider with fixed last-activity times
and rendered against a fixed clock; what depends on the host (the isolation level, measured disk usage) is pinned
by a thin provider wrapper; the workspace uses the pane placeholders (the real panes have their own snapshots and
would bring a shell prompt and timing into these frames). Update with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Footer

from services.config import Config
from services.local.provider import LocalProvider
from services.models import BwrapChoice, Isolation, Resources, SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import NOW, PLACEHOLDERS, fixed_clock
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.workspace import WorkspaceScreen

PINNED_BWRAP = BwrapChoice(path="/pinned/bwrap", source="bundled", version="0.11.0")
USED = {"api-server": 1_572_864, "data-lab": 48_234_496, "scratch": None, "shared-ci": 209_396}


class PinnedProvider:
    """A real LocalProvider whose answers have the host-dependent fields pinned."""

    def __init__(self, inner: LocalProvider) -> None:
        self._inner = inner
        self.name = inner.name

    def _pin(self, info: SandboxInfo) -> SandboxInfo:
        return dataclasses.replace(
            info, isolation=Isolation.FULL, bwrap=PINNED_BWRAP, disk_used_bytes=USED.get(info.name)
        )

    async def list(self) -> list[SandboxInfo]:
        return [self._pin(i) for i in await self._inner.list()]

    async def get(self, sandbox_id: str) -> SandboxInfo:
        return self._pin(await self._inner.get(sandbox_id))

    async def metrics_reading(self, sandbox_id: str) -> Any:
        # CPU use is the host's: the frames show the sparkline column empty (tests/tui/test_metrics_app.py draws it)
        from services.metrics import MetricsUnavailable

        raise MetricsUnavailable("pinned: no metrics in these frames")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def seeded(config: Config) -> Iterator[Config]:
    async def seed() -> None:
        provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
        service = SandboxService(provider, config)
        api = await service.create(SandboxSpec(name="api-server", labels={"team": "web", "tier": "[b]prod[/b]"}))
        lab = await service.create(
            SandboxSpec(name="data-lab", resources=Resources(cpu=4, memory_gib=8, disk_gib=20), auto_stop_minutes=0)
        )
        scratch = await service.create(SandboxSpec(name="scratch", network=True))
        await service.stop(lab.id)
        await service.archive(scratch.id)
        for info, ago in ((api, timedelta(minutes=5)), (lab, timedelta(hours=3)), (scratch, timedelta(days=2))):
            provider.store.touch(info.id, (NOW - ago).timestamp())
        service.audit.close()
        await provider.close()

    asyncio.run(seed())
    yield config
    asyncio.run(_cleanup(config))


@pytest.fixture
def seeded_others(seeded: Config) -> Config:
    """`seeded`, plus a sandbox of alice's, and a config that may show it."""

    async def seed() -> None:
        provider = LocalProvider(seeded.data_dir, owner_label=seeded.owner_label)
        alice = SandboxService(provider, dataclasses.replace(seeded, identity="alice"))
        ci = await alice.create(SandboxSpec(name="shared-ci", labels={"team": "platform"}))
        provider.store.touch(ci.id, (NOW - timedelta(minutes=40)).timestamp())
        alice.audit.close()
        await provider.close()

    asyncio.run(seed())
    return dataclasses.replace(seeded, show_others=True)


async def _cleanup(config: Config) -> None:
    provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
    for row in provider.store.all():
        await provider.delete(row.id)
    await provider.close()


def _app(config: Config, theme: str) -> SandbenchApp:
    cfg = dataclasses.replace(config, theme=theme)
    provider = PinnedProvider(LocalProvider(cfg.data_dir, owner_label=cfg.owner_label))
    service = SandboxService(provider, cfg)  # type: ignore[arg-type]
    return SandbenchApp(service, cfg, clock=fixed_clock, panes=PLACEHOLDERS, doctor=False)


async def _list_loaded(pilot: Pilot[Any]) -> None:
    app = pilot.app
    # the footer is mounted just after the first listing is painted (start-up cost): wait for both
    await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
    await wait_until(pilot, lambda: bool(app.screen.query(Footer)) and bool(app.screen.query_one(Footer).children))
    await pilot.pause()


async def _workspace(pilot: Pilot[Any]) -> None:
    await _list_loaded(pilot)
    await pilot.press("enter")  # api-server: the first row, running
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, WorkspaceScreen) and app.screen.focused_pane == "editor")
    await pilot.pause()


SIZES = [(80, 24), (160, 48)]
THEMES = ["textual-dark", "textual-light"]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_list(snap_compare: Any, seeded: Config, size: tuple[int, int], theme: str) -> None:
    assert snap_compare(_app(seeded, theme), terminal_size=size, run_before=_list_loaded)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_workspace(snap_compare: Any, seeded: Config, size: tuple[int, int], theme: str) -> None:
    assert snap_compare(_app(seeded, theme), terminal_size=size, run_before=_workspace)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_list_with_others(snap_compare: Any, seeded_others: Config, size: tuple[int, int]) -> None:
    async def show_others(pilot: Pilot[Any]) -> None:
        await _list_loaded(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, SandboxListScreen)
        await pilot.press("o")
        await wait_until(pilot, lambda: "shared-ci" in screen.table.visible_names)
        await pilot.press("down", "down", "down")  # the cursor on alice's row: the detail line says whose it is
        await pilot.pause()

    assert snap_compare(_app(seeded_others, "textual-dark"), terminal_size=size, run_before=show_others)


def test_create_dialog(snap_compare: Any, seeded: Config) -> None:
    async def open_dialog(pilot: Pilot[Any]) -> None:
        await _list_loaded(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "CreateDialog")
        await pilot.pause()

    assert snap_compare(_app(seeded, "textual-dark"), terminal_size=(80, 24), run_before=open_dialog)


def test_path_is_repo_relative() -> None:
    from tui.app import stylesheet_path

    assert stylesheet_path() == Path(__file__).resolve().parents[2] / "styles.tcss"
