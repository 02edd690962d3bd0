"""Snapshot tests of the Changes view (F9) and the checkpoint tree (shift+F9) at 80x24 and 160x48, over a real
local sandbox whose files were changed by a real exec after a checkpoint.

Deterministic by construction: fixed file names and contents; checkpoint ids from a counter (the store's `new_id`,
replaced while seeding); ages relative to the app's fixed clock, which is before any checkpoint (so "just now");
the panes behind are placeholders. Update with `pytest tests/tui/test_snapshots_changes.py --snapshot-update`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from textual.pilot import Pilot

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import PLACEHOLDERS, fixed_clock
from tests.tui.test_snapshots import PinnedProvider, _cleanup
from tui.app import SandbenchApp
from tui.screens.changes import ChangesScreen
from tui.screens.checkpoints import CheckpointsScreen
from tui.screens.workspace import WorkspaceScreen
from widgets.changes_tree import ChangesTree

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]

APP_PY = b'''"""A tiny service."""


def greet(name: str) -> str:
    return f"hello, {name}"


def main() -> None:
    print(greet("sandbox"))
'''


@pytest.fixture
def changed(config: Config) -> Iterator[Config]:
    """`box`: checkpoints "project set up", "a first try" (then restored away: a line of its own in the tree,
    with its before-restore checkpoint) and "before the agent"; then a real exec changed, added, deleted files and
    a mode."""

    async def seed() -> None:
        provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
        service = SandboxService(provider, config)
        counter = itertools.count(1)
        service.checkpoints.store.new_id = lambda: f"{next(counter):04x}c0ffee00"  # type: ignore[method-assign]
        info = await service.create(SandboxSpec(name="box"))
        await service.mkdir(info.id, "src", parents=True)
        await service.write_file(info.id, "src/app.py", APP_PY)
        await service.write_file(info.id, "README.md", b"# box\n")
        first = await service.checkpoints.create(info.id, "project set up")
        await service.write_file(info.id, "old.log", b"first try\n")
        await service.checkpoints.create(info.id, "a first try")
        await service.checkpoints.restore(info.id, first.id)  # the first try becomes a line of its own
        await service.write_file(info.id, "old.log", b"stale\n")
        await service.checkpoints.create(info.id, "before the agent")
        script = (
            'sed -i \'s/hello, /hi there, /; s/"sandbox"/"world"/\' src/app.py; rm old.log; '
            "printf 'agent notes\\n' > NOTES.txt; mkdir -p src/util; printf 'X = 1\\n' > src/util/x.py; "
            "chmod +x README.md"
        )
        result = await service.exec(info.id, ["sh", "-c", script])
        assert result.exit_code == 0, result.stderr
        service.audit.close()
        await provider.close()

    asyncio.run(seed())
    yield config
    asyncio.run(_cleanup(config))


def _app(config: Config) -> SandbenchApp:
    cfg = dataclasses.replace(config, theme="textual-dark")
    provider = PinnedProvider(LocalProvider(cfg.data_dir, owner_label=cfg.owner_label))
    service = SandboxService(provider, cfg)  # type: ignore[arg-type]
    return SandbenchApp(service, cfg, clock=fixed_clock, open_name="box", panes=PLACEHOLDERS, doctor=False)


async def _workspace(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, WorkspaceScreen) and app.screen.focused_pane == "editor")


async def _changes(pilot: Pilot[Any]) -> None:
    await _workspace(pilot)
    app = pilot.app
    await pilot.press("f9")
    await wait_until(pilot, lambda: isinstance(app.screen, ChangesScreen) and app.screen.loaded)
    screen = app.screen
    assert isinstance(screen, ChangesScreen)
    tree = screen.query_one(ChangesTree)
    tree.select_key("src/app.py")
    await wait_until(pilot, lambda: screen.diff is not None and screen.diff.change.path == "src/app.py")
    await pilot.pause()


async def _checkpoints(pilot: Pilot[Any]) -> None:
    await _workspace(pilot)
    app = pilot.app
    await pilot.press("shift+f9")
    await wait_until(pilot, lambda: isinstance(app.screen, CheckpointsScreen) and app.screen.loaded)
    await pilot.pause()


def test_changes_80x24(snap_compare: Any, changed: Config) -> None:
    assert snap_compare(_app(changed), terminal_size=(80, 24), run_before=_changes)


def test_changes_160x48(snap_compare: Any, changed: Config) -> None:
    assert snap_compare(_app(changed), terminal_size=(160, 48), run_before=_changes)


def test_checkpoints_80x24(snap_compare: Any, changed: Config) -> None:
    assert snap_compare(_app(changed), terminal_size=(80, 24), run_before=_checkpoints)


def test_checkpoints_160x48(snap_compare: Any, changed: Config) -> None:
    assert snap_compare(_app(changed), terminal_size=(160, 48), run_before=_checkpoints)


@pytest.fixture
def bare(config: Config) -> Iterator[Config]:
    """`box` with a file and no checkpoint."""

    async def seed() -> None:
        provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
        service = SandboxService(provider, config)
        info = await service.create(SandboxSpec(name="box"))
        await service.write_file(info.id, "README.md", b"# box\n")
        service.audit.close()
        await provider.close()

    asyncio.run(seed())
    yield config
    asyncio.run(_cleanup(config))


def test_changes_without_a_checkpoint_80x24(snap_compare: Any, bare: Config) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _workspace(pilot)
        await pilot.press("f9")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ChangesScreen) and pilot.app.screen.loaded)
        await pilot.pause()

    assert snap_compare(_app(bare), terminal_size=(80, 24), run_before=run_before)
