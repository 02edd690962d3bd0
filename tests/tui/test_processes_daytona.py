"""The Processes view of a Daytona sandbox in the real app (Pilot), over the real DaytonaProvider against a real
`sandbench serve`: the ports table offers `f` (no network setting needed: the port's preview link carries it), says
so, and `f` opens a real forward through the link to a real server inside the sandbox; `x` closes it.

The port listing alone comes through the screen's `source` seam: through serve each exec has its own namespaces, so
the exec-based reader cannot see a server another command started (tests/services/test_processes.py says so);
against Daytona itself the reader lists it. Everything after the listing — the key, the forward, the link, the
server — is real.
"""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

import pytest
from textual.geometry import Region

from services.models import SandboxInfo
from services.processes import PortInfo, ProcessInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services import test_server_harness as harness
from tests.services.test_forward_preview import PORT
from tests.services.test_forward_preview import echo_box as echo_box  # the fixture: a sandbox serving PORT
from tests.tui.conftest import PLACEHOLDERS, fixed_clock
from tests.tui.test_workspace_layout import footer_entries
from tui.app import SandbenchApp
from tui.screens.processes import ProcessesScreen
from tui.screens.sandbox_list import SandboxListScreen
from widgets.process_view import PortTable

serve = harness.serve  # the shared fixtures
sdk = harness.sdk
dservice = harness.dservice

pytestmark = [pytest.mark.timeout(180), pytest.mark.bwrap]


class EchoPort:
    """The sandbox's processes from the service; its one port, the echo server's, as Daytona's reader lists it."""

    def __init__(self, svc: SandboxService) -> None:
        self.svc = svc

    async def processes(self, sandbox_id: str) -> list[ProcessInfo]:
        return await self.svc.processes(sandbox_id)

    async def ports(self, sandbox_id: str) -> list[PortInfo]:
        return [PortInfo(PORT, "0.0.0.0", "tcp", 1, None, "python3 echo.py")]


async def test_f_forwards_a_daytona_port_through_its_preview_link(dservice: SandboxService, echo_box: Any) -> None:
    info: SandboxInfo = await dservice.get(echo_box.id)
    assert not info.network  # offline: a local sandbox's ports would not be forwarded
    app = SandbenchApp(service=dservice, config=dservice.config, clock=fixed_clock, panes=PLACEHOLDERS)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded, timeout=20)
        screen = ProcessesScreen(dservice, info, source=EchoPort(dservice))
        app.push_screen(screen)
        await wait_until(pilot, lambda: app.screen is screen and screen.loaded, timeout=20)
        hint = screen.query_one("#ps-forward")
        await wait_until(pilot, lambda: "by its preview link" in str(hint.render()))
        # whole at 80 columns: it was cut at "(HTTP and"
        assert "(HTTP, WebSockets)" in " ".join(s.text for s in hint.render_lines(Region(0, 0, *hint.size)))
        ports = screen.query_one(PortTable)
        await wait_until(pilot, lambda: ports.row_count == 1, timeout=20)
        ports.focus()

        def described() -> list[str]:
            try:
                return [d for _k, d in footer_entries(app)]
            except AssertionError:  # the footer is between two layouts: look again
                return []

        await wait_until(pilot, lambda: "Forward" in described())
        await pilot.press("f")
        await wait_until(pilot, lambda: bool(dservice.port_forwards(info.id)), timeout=20)
        fwd = dservice.port_forwards(info.id)[0]
        assert fwd.via == "preview"
        await wait_until(pilot, lambda: fwd.url in str(hint.render()))
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(fwd.url + "from-the-app", timeout=20).read())
        assert b'"path": "/from-the-app"' in body
        await pilot.press("x")
        await wait_until(pilot, lambda: dservice.port_forwards(info.id) == [])
