"""Snapshot tests of the Timeline (issue 13 must-show) at 80x24 and 160x48: the rows of a fixed audit log (you, an
agent, a failed command, a git command, a checkpoint and a restore, yesterday's entry with its date), and at 80x24
with the filter typed.

Deterministic by construction: a real sandbox (`api-server`) is created, then the audit log is replaced by fixed
lines about it (the create's own line carries the real time); the clock is the app's fixed one, and times are
shown in UTC (TZ pinned). Update with `pytest tests/tui/test_snapshots_timeline.py --snapshot-update`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Footer, Static

from services.checkpoints.store import CheckpointStore
from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import NOW, fixed_clock
from tests.tui.test_snapshots import PLACEHOLDERS, PinnedProvider, _cleanup
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.timeline import TimelineScreen
from widgets.diff_view import DiffView

pytestmark = pytest.mark.bwrap


def _entries(sandbox: str) -> list[dict[str, Any]]:
    t = NOW.timestamp()

    def at(ago: float, op: str, who: str = "tester", **fields: Any) -> dict[str, Any]:
        return {"ts": t - ago, "who": who, "provider": "local", "op": op, "outcome": "ok", "sandbox": sandbox, **fields}

    return [
        at(86_400 + 600, "create", name="api-server"),  # yesterday: the date shows, not the time
        at(900, "write", path="src/app.py"),
        at(840, "exec", "agent-7", program="pytest", argv=["pytest", "-q", "tests/"], ms=4210.0, exit=1),
        at(780, "write", "agent-7", path="src/[bold]app[/].py"),
        at(720, "exec", "agent-7", program="git", argv=["git", "commit", "-m", "fix the parser"], ms=95.0, exit=0),
        at(660, "list", path="src"),  # a read: hidden unless asked for
        at(600, "exec", program="cat", argv=["cat", "README"], internal=True, ms=3.0, exit=0),  # the app's probe
        at(540, "checkpoint", name="3f2a9c01d4e7"),
        at(480, "move", "agent-7", path="notes.txt", dest="docs/notes.txt"),
        at(420, "delete", "agent-7", path="build/out.o"),
        at(360, "exec", "agent-7", program="sh", argv=["sh", "-c", "rm -rf /tmp/x && make"], ms=72_000.0, exit=0),
        at(300, "restore", name="3f2a9c01d4e7"),
        at(240, "terminal"),
        at(180, "exec", "agent-7", program="npm", argv=["npm", "install"], outcome="error:OperationTimeout"),
        at(60, "stop"),
    ]


@contextlib.contextmanager
def utc() -> Iterator[None]:
    """Times shown in UTC for the frame (the rows show local time), the process's zone put back after."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.fixture
def timeline_home(config: Config) -> Iterator[Config]:
    async def seed() -> None:
        provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
        service = SandboxService(provider, config)
        info = await service.create(SandboxSpec(name="api-server"))
        service.audit.close()
        await provider.close()
        lines = "".join(json.dumps(e) + "\n" for e in _entries(info.id))
        config.audit_log.write_text(lines)

    asyncio.run(seed())
    with utc():
        yield config
    asyncio.run(_cleanup(config))


@pytest.fixture
def command_home(config: Config, monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    """A sandbox with automatic checkpoints and one real command through the service (its output kept, its changes
    between two real checkpoints); the checkpoint ids are made deterministic and the log's times fixed."""
    ids = iter(f"c0ffee{n:06d}" for n in range(1, 1000))
    monkeypatch.setattr(CheckpointStore, "new_id", lambda self: next(ids))

    async def seed() -> None:
        provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
        service = SandboxService(provider, config)
        info = await service.create(SandboxSpec(name="api-server", labels={"sandbench.auto-checkpoint": "on"}))
        await service.mkdir(info.id, "src")
        await service.write_file(info.id, "src/app.py", b"def main():\n    return 1\n")
        await service.write_file(info.id, "notes.txt", b"keep me\n")
        script = "sed -i 's/return 1/return 2/' src/app.py && rm notes.txt && echo built > out.txt && echo '[b]ok[/b]'"
        await service.exec(info.id, ["sh", "-c", script])
        service.audit.close()
        await provider.close()
        lines = [json.loads(line) for line in config.audit_log.read_text().splitlines()]
        t = NOW.timestamp() - 300
        fixed = []
        for n, entry in enumerate(e for e in lines if e.get("sandbox") == info.id):
            entry["ts"] = t + 10 * n
            if "ms" in entry:
                entry["ms"] = 48
            fixed.append(json.dumps(entry) + "\n")
        config.audit_log.write_text("".join(fixed))

    asyncio.run(seed())
    with utc():
        yield config
    asyncio.run(_cleanup(config))


def _app(config: Config) -> SandbenchApp:
    cfg = dataclasses.replace(config, theme="textual-dark")
    provider = PinnedProvider(LocalProvider(cfg.data_dir, owner_label=cfg.owner_label))
    service = SandboxService(provider, cfg)  # type: ignore[arg-type]
    return SandbenchApp(service, cfg, clock=fixed_clock, panes=PLACEHOLDERS, doctor=False)


async def _timeline(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(app.screen, TimelineScreen) and app.screen.page is not None)
    await wait_until(pilot, lambda: bool(app.screen.query_one(Footer).children))
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_timeline(snap_compare: Any, timeline_home: Config, size: tuple[int, int]) -> None:
    assert snap_compare(_app(timeline_home), terminal_size=size, run_before=_timeline)


def test_timeline_filtered(snap_compare: Any, timeline_home: Config) -> None:
    async def filtered(pilot: Pilot[Any]) -> None:
        await _timeline(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, TimelineScreen)
        await pilot.press("slash", *"who:agent-7 kind:exec")
        await wait_until(pilot, lambda: len(screen.timeline.rows) == 3)
        await pilot.pause()

    assert snap_compare(_app(timeline_home), terminal_size=(80, 24), run_before=filtered)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_timeline_command_details(snap_compare: Any, command_home: Config, size: tuple[int, int]) -> None:
    async def expanded(pilot: Pilot[Any]) -> None:
        await _timeline(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, TimelineScreen)
        await pilot.press("enter")  # the newest entry: the command
        diff = screen.query_one(DiffView)
        await wait_until(pilot, lambda: len(diff.files) == 3)
        output = screen.query_one("#detail-output", Static)
        await wait_until(pilot, lambda: "[b]ok[/b]" in str(output.render()))
        await pilot.pause()

    assert snap_compare(_app(command_home), terminal_size=size, run_before=expanded)
