"""The Processes view in the real app (issue 13 §3), under Pilot on the real service: a real sleep started by an
exec shows in the tree, the filter narrows it as you type, `k` asks and TERM ends it; opened with shift+f4 from
the workspace, `p` from the list and "Processes" from the palette; the ports table forwards a real http.server."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable

import pytest
from textual.widgets import Input

from services.local import network
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import PLACEHOLDERS, notifications, open_workspace, run_from_palette
from tests.tui.test_workspace_layout import footer_entries
from tui.app import SandbenchApp
from tui.screens.processes import ProcessesScreen
from tui.screens.sandbox_list import SandboxListScreen
from widgets.dialogs import ChoiceDialog, ConfirmDialog
from widgets.process_view import PortTable, ProcessTable

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


def _commands(screen: ProcessesScreen) -> list[str]:
    table = screen.query_one(ProcessTable)
    return [table.get_row_at(i)[-1].plain for i in range(table.row_count)]


def _has(screen: ProcessesScreen, text: str) -> Callable[[], bool]:
    return lambda: any(text in c for c in _commands(screen))


async def test_shift_f12_shows_a_sleep_the_filter_finds_it_and_k_ends_it(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.write_file(box.id, "run.sh", b"sleep 2468 & sleep 1357 & wait\n")  # the shell's line: "sh run.sh"
    run = asyncio.ensure_future(service.exec(box.id, ["sh", "run.sh"]))
    app = make_app(panes=PLACEHOLDERS)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            workspace = await open_workspace(pilot, app)
            await pilot.press("shift+f4")
            await wait_until(pilot, lambda: isinstance(app.screen, ProcessesScreen))
            screen = app.screen
            assert isinstance(screen, ProcessesScreen)
            await wait_until(pilot, _has(screen, "sleep 2468"), show=lambda: "\n".join(_commands(screen)))
            # the tree: the sleeps are indented under their shell
            assert any(c.endswith("└ sleep 2468") for c in _commands(screen))
            # home/end: the first and the last row (they scrolled sideways, which moved nothing)
            table = screen.query_one(ProcessTable)
            assert table.row_count >= 3 and table.cursor_row == 0
            await pilot.press("end")
            await wait_until(pilot, lambda: table.cursor_row == table.row_count - 1, show=lambda: str(table.cursor_row))
            await pilot.press("home")
            await wait_until(pilot, lambda: table.cursor_row == 0, show=lambda: str(table.cursor_row))
            await pilot.press("slash", *"2468")
            assert isinstance(app.focused, Input)
            await wait_until(pilot, lambda: _commands(screen) == ["sleep 2468"], show=lambda: repr(_commands(screen)))
            await pilot.press("enter")  # back to the table, filter kept
            assert isinstance(app.focused, ProcessTable)
            title = str(screen.query_one("#ps-title").render())
            assert "by CPU" in title
            await pilot.press("f6")
            assert "by memory" in str(screen.query_one("#ps-title").render())
            await pilot.press("k")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("y")
            await wait_until(pilot, lambda: any("ended (TERM)" in n for n in notifications(app)))
            await wait_until(pilot, lambda: not _has(screen, "sleep 2468")())
            await pilot.press("escape")  # clears nothing: back to the workspace
            await wait_until(pilot, lambda: app.screen is workspace)
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


async def test_kill_offers_kill_when_term_is_ignored(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    code = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('r', flush=True); time.sleep(99)"
    ready = asyncio.Event()
    run = asyncio.ensure_future(service.exec(box.id, ["python3", "-c", code], on_output=lambda *_a: ready.set()))
    app = make_app(panes=PLACEHOLDERS)
    try:
        await asyncio.wait_for(ready.wait(), 20)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
            await pilot.press("p")  # from the list
            await wait_until(pilot, lambda: isinstance(app.screen, ProcessesScreen))
            screen = app.screen
            assert isinstance(screen, ProcessesScreen)
            await wait_until(pilot, _has(screen, "time.sleep(99)"))
            pid = next(p.shown_pid for p in await service.processes(box.id) if p.command == f"python3 -c {code}")
            await pilot.press("slash", *str(pid), "enter")  # the filter matches pids too
            await wait_until(pilot, lambda: screen.query_one(ProcessTable).row_count == 1)
            await pilot.press("k")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("y")
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog), timeout=20)
            await pilot.press("enter")  # "Send KILL" has the focus
            await wait_until(pilot, lambda: any("ended (KILL)" in n for n in notifications(app)), timeout=20)
        assert (await asyncio.wait_for(run, 20)).exit_code == 137
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


async def test_the_palette_offers_processes_and_a_hostile_command_shows_literally(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    argv0 = "[bold red]evil[/] \x1b[2J"
    code = f"import os; os.execv('/bin/sleep', [{argv0!r}, '556'])"
    run = asyncio.ensure_future(service.exec(box.id, ["python3", "-c", code]))
    app = make_app(panes=PLACEHOLDERS)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await open_workspace(pilot, app)
            await run_from_palette(pilot, app, "Processes", "Processes")
            await wait_until(pilot, lambda: isinstance(app.screen, ProcessesScreen))
            screen = app.screen
            assert isinstance(screen, ProcessesScreen)
            literal = "[bold red]evil[/] \\x1b[2J 556"
            await wait_until(pilot, _has(screen, literal), show=lambda: repr(_commands(screen)))
            # every pid shown is one of this sandbox's
            own = {p.shown_pid for p in await service.processes(box.id)}
            table = screen.query_one(ProcessTable)
            shown = {int(table.get_row_at(i)[0].plain) for i in range(table.row_count)}
            assert shown and shown <= own
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


async def test_the_ports_table_forwards_a_server_to_localhost(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    why = network.unavailable_reason()
    if why is not None:
        pytest.skip(f"this machine cannot give a sandbox a network: {why}")
    web = await service.create(SandboxSpec(name="box", network=True))
    await service.write_file(web.id, "index.html", b"<p>hello</p>\n")
    run = asyncio.ensure_future(service.exec(web.id, ["python3", "-m", "http.server", "8123"]))
    app = make_app(panes=PLACEHOLDERS)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await open_workspace(pilot, app)
            await pilot.press("shift+f4")
            await wait_until(pilot, lambda: isinstance(app.screen, ProcessesScreen))
            screen = app.screen
            assert isinstance(screen, ProcessesScreen)
            ports = screen.query_one(PortTable)
            await wait_until(pilot, lambda: ports.row_count == 1, timeout=30)
            assert ports.get_row_at(0)[0].plain == "8123"
            ports.focus()

            def described() -> list[str]:
                try:
                    return [d for _k, d in footer_entries(app)]
                except AssertionError:  # the footer is between two layouts: look again
                    return []

            await wait_until(pilot, lambda: "Forward" in described() and "Copy URL" not in described())
            await pilot.press("f")
            await wait_until(pilot, lambda: bool(service.port_forwards(web.id)))
            url = service.port_forwards(web.id)[0].url
            await wait_until(pilot, lambda: url in str(screen.query_one("#ps-forward").render()))
            await wait_until(pilot, lambda: ports.get_row_at(0)[3].plain.startswith("127.0.0.1:"))
            # the footer now offers what works on a forwarded port, and not forwarding it again
            await wait_until(pilot, lambda: "Copy URL" in described() and "Forward" not in described())
            body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
            assert body == b"<p>hello</p>\n"
            await pilot.press("x")  # closed on request
            await wait_until(pilot, lambda: service.port_forwards(web.id) == [])
            await wait_until(pilot, lambda: ports.get_row_at(0)[3].plain == "")
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
