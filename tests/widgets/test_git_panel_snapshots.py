"""Snapshots of the git panel in clean, dirty and conflicted states, at 80x24 and 160x48, over real repositories in
a real sandbox.

`snap_compare` runs the app in its own event loop, so these tests are synchronous: the sandbox is created and
the repository built inside that loop (`sandbox_snapshots.snap_in_sandbox`), then the panel is mounted. Authors
and dates are fixed through the environment, so commit ids (and the screen) are the same on every run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from textual.pilot import Pilot

from services.config import Config
from services.git import GitService
from services.sandbox_service import SandboxService
from tests.services.test_git import IDENT, INIT, MERGE
from tests.widgets.sandbox_snapshots import WIDE, snap_in_sandbox
from widgets.git.panel import GitPanel

pytestmark = pytest.mark.bwrap

Setup = Callable[[SandboxService, str], Awaitable[None]]


async def _sh(service: SandboxService, sid: str, script: str) -> None:
    r = await service.exec(sid, ["sh", "-c", script], cwd="repo", env=IDENT)
    assert r.exit_code == 0, r.stderr.decode()


async def clean(service: SandboxService, sid: str) -> None:
    await _sh(service, sid, INIT + " && printf 'a\\n' > a.txt && git add -A && git commit -qm base")


async def dirty(service: SandboxService, sid: str) -> None:
    await clean(service, sid)
    await _sh(
        service,
        sid,
        "printf 'b\\n' >> a.txt && printf 'x\\n' > 'staged file.py' && git add 'staged file.py' && "
        "printf 'u\\n' > 'untracked [bold]markup[red].txt' && mkdir -p dir && printf 'd\\n' > dir/n",
    )


async def conflicted(service: SandboxService, sid: str) -> None:
    await _sh(service, sid, INIT + " && " + MERGE.strip())


def _run(snap_compare: Any, config: Config, setup: Setup, size: tuple[int, int] = (80, 24)) -> bool:
    async def build(pilot: Pilot[None], service: SandboxService, sid: str) -> None:
        await service.mkdir(sid, "repo")
        await setup(service, sid)
        # recent commits show their age: against a fixed clock (three hours after IDENT's date), the frame is stable
        pilot.app.clock = lambda: datetime(2024, 1, 2, 6, 4, 5, tzinfo=UTC)  # type: ignore[attr-defined]
        panel = GitPanel(service, sid, git=GitService(service, sid, repo_dir="repo", env=IDENT))
        await pilot.app.mount(panel)
        for _ in range(200):
            if panel.refreshes and not pilot.app.workers:
                break
            await pilot.pause(0.05)
        panel.files.focus()
        await pilot.pause()

    return snap_in_sandbox(snap_compare, config, build, size)


def test_snapshot_clean(snap_compare: Any, config: Config) -> None:
    assert _run(snap_compare, config, clean)


def test_snapshot_dirty(snap_compare: Any, config: Config) -> None:
    assert _run(snap_compare, config, dirty)


def test_snapshot_conflicted(snap_compare: Any, config: Config) -> None:
    assert _run(snap_compare, config, conflicted)


def test_snapshot_clean_wide(snap_compare: Any, config: Config) -> None:
    assert _run(snap_compare, config, clean, WIDE)


def test_snapshot_dirty_wide(snap_compare: Any, config: Config) -> None:
    assert _run(snap_compare, config, dirty, WIDE)


def test_snapshot_conflicted_wide(snap_compare: Any, config: Config) -> None:
    assert _run(snap_compare, config, conflicted, WIDE)
