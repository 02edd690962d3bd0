"""Snapshot tests (pytest-textual-snapshot) of the Processes view at 80x24 and 160x48: the tree with indented
children, a zombie, a command line with markup and an escape (shown as data), a long line cut, and two listening
ports; and the same filtered.

Deterministic by construction, through the screen's data seam: `ProcessesScreen(source=...)` is given the fixed
`FixedSource` below (a live process list is never the same twice: pids, ages, CPU) and `refresh_every=None`. The
live reading is tested in tests/tui/test_processes_app.py and tests/services/test_processes.py. The app is the real
`SandbenchApp` over a real (empty) LocalProvider. Update with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from services.config import Config
from services.local.provider import LocalProvider
from services.models import Isolation, Resources, SandboxInfo, SandboxState
from services.processes import PortInfo, ProcessInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import NOW, PLACEHOLDERS, fixed_clock
from tui.app import SandbenchApp
from tui.screens.processes import ProcessesScreen
from tui.screens.sandbox_list import SandboxListScreen

BOOT = NOW.timestamp() - 86400


def _p(pid: int, ppid: int, command: str, *, cpu: float | None = 0.0, rss: int = 2_000_000, state: str = "S",
       age: float = 300.0) -> ProcessInfo:  # fmt: skip
    return ProcessInfo(
        pid=pid,
        ppid=ppid,
        user="sandbox",
        cpu_percent=cpu,
        rss_bytes=rss,
        state=state,
        started_at=NOW.timestamp() - age,
        age=age,
        command=command,
        name=command.split()[0][:15] if command else "?",
        threads=1,
        started=int((86400 - age) * 100),
    )


PROCS = [
    _p(4100, 1, "bwrap bash -i", age=3725),
    _p(4101, 4100, "bwrap bash -i", age=3725),
    _p(4103, 4101, "bash -i", age=3724, rss=5_300_000),
    _p(4210, 4103, "python3 -m http.server 8000", cpu=2.5, rss=21_000_000, age=1800),
    _p(4388, 4103, "node server.js --port 3000 " + "--flag " * 30, cpu=61.3, rss=148_000_000, state="R", age=95),
    _p(4390, 4388, "[defunct]", cpu=None, rss=0, state="Z", age=12),
    _p(5000, 1, "bwrap sh -c make test", age=40),
    _p(5001, 5000, "bwrap sh -c make test", age=40),
    _p(5003, 5001, "sh -c make test", age=40),
    _p(5004, 5003, "make test", cpu=0.3, age=39),
    _p(5010, 5004, "[bold red]evil[/] \\x1b[2J sleep 100", age=20),
]
PORTS = [
    PortInfo(3000, "0.0.0.0", "tcp", 1, 4388, "node server.js --port 3000"),
    PortInfo(8000, "::", "tcp6", 1, 4210, "python3 -m http.server 8000"),
]
INFO = SandboxInfo(
    id="0123456789ab",
    name="web-app",
    state=SandboxState.STARTED,
    provider="local",
    owner="tester",
    labels={},
    resources=Resources(),
    auto_stop_minutes=15,
    created_at=NOW,
    last_activity=NOW,
    isolation=Isolation.FULL,
    network=True,
)


class FixedSource:
    async def processes(self, sandbox_id: str) -> list[ProcessInfo]:
        return list(PROCS)

    async def ports(self, sandbox_id: str) -> list[PortInfo]:
        return list(PORTS)


def _app(config: Config) -> SandbenchApp:
    service = SandboxService(LocalProvider(config.data_dir, owner_label=config.owner_label), config)
    return SandbenchApp(service, config, clock=fixed_clock, panes=PLACEHOLDERS, doctor=False)


def _shown(typed: str = "") -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        app: Any = pilot.app
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        screen = ProcessesScreen(app.service, INFO, source=FixedSource(), refresh_every=None)
        app.push_screen(screen)
        await wait_until(pilot, lambda: app.screen is screen and screen.loaded)
        if typed:
            await pilot.press("slash", *typed, "enter")
        await pilot.pause()

    return run_before


SIZES = [(80, 24), (160, 48)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_processes(snap_compare: Any, config: Config, size: tuple[int, int]) -> None:
    assert snap_compare(_app(config), terminal_size=size, run_before=_shown())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_processes_filtered(snap_compare: Any, config: Config, size: tuple[int, int]) -> None:
    assert snap_compare(_app(config), terminal_size=size, run_before=_shown("make"))
