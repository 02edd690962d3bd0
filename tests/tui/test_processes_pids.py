"""The Processes view (shift+F4) at 80x24 through the real app on a real local sandbox: pids read as the sandbox
says them (`$!` inside), the sandbox's own bwrap rows are not listed, so `k` on the first row offers to end the
user's command — not the plumbing whose end would end it — and names the host's pid beside the sandbox's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest
from textual.widgets import Static

from services.errors import SandbenchError
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import PLACEHOLDERS, open_workspace
from tui.app import SandbenchApp
from tui.screens.processes import ProcessesScreen
from widgets.dialogs import ConfirmDialog
from widgets.process_view import PortTable, ProcessTable

pytestmark = pytest.mark.bwrap


async def test_pids_are_the_sandboxs_and_the_plumbing_is_not_offered(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    run = asyncio.ensure_future(service.exec(box.id, ["sh", "-c", "sleep 777 & echo $! > bg.pid; wait"]))
    app = make_app(panes=PLACEHOLDERS)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await open_workspace(pilot, app)
            await pilot.press("shift+f4")
            await wait_until(pilot, lambda: isinstance(app.screen, ProcessesScreen))
            screen = app.screen
            table = screen.query_one(ProcessTable)

            def rows() -> list[tuple[str, str]]:
                return [(table.get_row_at(i)[0].plain, table.get_row_at(i)[-1].plain) for i in range(table.row_count)]

            await wait_until(pilot, lambda: any("sleep 777" in c for _p, c in rows()), show=lambda: repr(rows()))
            inside = int((await service.read_file(box.id, "bg.pid")).data)
            assert (str(inside), "└ sleep 777") in [(p, c.strip()) for p, c in rows()], rows()
            assert not [c for _p, c in rows() if c.strip().startswith("bwrap")], rows()
            await pilot.press("home", "k")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            message = str(app.screen.query(".dialog-message").first(Static).render())
            assert "bwrap" not in message and "(host pid " in message, message
            assert message.startswith("Send TERM to process 2 (host pid"), message  # the sh, as $$ says it
            await pilot.press("escape")
    finally:
        run.cancel()
        for p in await service.processes(box.id):
            if p.command == "sleep 777":
                with contextlib.suppress(SandbenchError):  # it may end with its cancelled command meanwhile
                    await service.kill_process(box.id, p.pid, "KILL")


async def test_the_ports_table_names_the_server_by_the_sandboxs_pid(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    """The ports table's PID is the one the process list shows for the server (the sandbox's), not the host's."""
    server = "python3 -m http.server 8126 --bind 127.0.0.1"
    run = asyncio.ensure_future(service.exec(box.id, ["sh", "-c", f"{server} & echo $! > srv.pid; wait"]))
    app = make_app(panes=PLACEHOLDERS)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await open_workspace(pilot, app)
            await pilot.press("shift+f4")
            await wait_until(pilot, lambda: isinstance(app.screen, ProcessesScreen))
            ports = app.screen.query_one(PortTable)
            await wait_until(pilot, lambda: ports.row_count == 1, "the server's port", timeout=30)
            inside = int((await service.read_file(box.id, "srv.pid")).data)
            (proc,) = [p for p in await service.processes(box.id) if p.command == server]
            assert proc.host_pid is not None and proc.host_pid != inside  # the two differ: the test can tell
            assert (ports.get_row_at(0)[0].plain, ports.get_row_at(0)[2].plain) == ("8126", str(inside))
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        for p in await service.processes(box.id):
            if p.command == server:
                with contextlib.suppress(SandbenchError):
                    await service.kill_process(box.id, p.pid, "KILL")
