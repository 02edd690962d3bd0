"""Issue 6, must-show 4, at the app: the Daytona server dies under the running app; the app stays up and says so in
one line; when the server is back, the same app recovers without a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.config import Config, DaytonaConfig
from services.daytona import DaytonaProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.serve_helpers import IDENTITY, make_home, start_serve, stop_serve, unique
from tests.tui.conftest import fixed_clock, notifications
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen

pytestmark = [pytest.mark.timeout(120)]


async def test_server_dies_and_comes_back_under_the_running_app(sandbench_home: Path) -> None:
    home = make_home()
    proc, port = start_serve(home)
    token = (home / "serve-token").read_text().strip()
    sandbench_home.mkdir(parents=True, exist_ok=True)
    cfg = Config(
        provider="daytona",
        identity=IDENTITY,
        data_dir=sandbench_home,
        daytona=DaytonaConfig(api_key=token, api_url=f"http://127.0.0.1:{port}/api", target="local"),
    )
    service = SandboxService(DaytonaProvider(cfg), cfg)
    name = unique("fault")
    try:
        await service.create(SandboxSpec(name=name))
        app = SandbenchApp(service=service, config=cfg, clock=fixed_clock, auto_stop=False)
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded, timeout=30)
            screen = app.screen
            assert isinstance(screen, SandboxListScreen)
            assert [i.name for i in screen.table.infos] == [name]

            stop_serve(proc)  # the server goes away under the running app
            before = len(notifications(app))
            await pilot.press("r")
            await wait_until(pilot, lambda: len(notifications(app)) > before, timeout=60)
            said = notifications(app)[before:]
            assert all("\n" not in line and "Traceback" not in line and token not in line for line in said)
            assert any("cannot reach" in line for line in said), said
            assert app.is_running and isinstance(app.screen, SandboxListScreen)

            proc, _ = start_serve(home, "--port", str(port))  # back, same port, same data
            await pilot.press("r")
            await wait_until(pilot, lambda: [i.name for i in screen.table.infos] == [name], timeout=60)
            assert app.is_running
    finally:
        cleanup = SandboxService(DaytonaProvider(cfg), cfg)
        try:
            for info in await cleanup.list_sandboxes():
                await cleanup.delete(info.id)
        finally:
            await cleanup.close()
        stop_serve(proc)
        shutil.rmtree(home.parent, ignore_errors=True)
