"""A Daytona terminal whose server restarts (its PTY sessions gone with it) says so, through the real SDK and a
real `sandbench serve` stopped and started again on the same port: the pane says the connection was lost and the
session is gone, and how much of what was typed meanwhile never arrived; the tab says `[lost]`. Before it said
"shell exited with code -1" and `[exit -1]`, and the typed line vanished without a word."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.config import Config, DaytonaConfig
from services.daytona import DaytonaProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.serve_helpers import IDENTITY, make_home, start_serve, stop_serve
from tests.widgets.test_terminal_reattach import PaneApp
from widgets.terminal import TerminalPane

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]


async def test_a_session_lost_with_its_server_is_said_so_with_what_was_typed(tmp_path: Path) -> None:
    home = make_home()
    proc, port = start_serve(home)
    token = (home / "serve-token").read_text().strip()
    cfg = Config(
        identity=IDENTITY,
        data_dir=tmp_path,
        daytona=DaytonaConfig(api_key=token, api_url=f"http://127.0.0.1:{port}/api", target="local"),
    )
    svc = SandboxService(DaytonaProvider(cfg), cfg)
    try:
        box = await svc.create(SandboxSpec(name="lost"))
        app = PaneApp(svc, box.id)
        async with app.run_test(size=(100, 24)) as pilot:
            pane = app.query_one(TerminalPane)

            def shown() -> str:
                v = pane.active_view
                return "\n".join(v.screen_model.display()) if v is not None else ""

            await wait_until(pilot, lambda: "$" in shown(), "the shell prompt", timeout=30, show=shown)
            view = pane.active_view
            assert view is not None and view.session is not None
            session = view.session
            stop_serve(proc)  # the server and every PTY session it held are gone
            await wait_until(pilot, lambda: getattr(session, "status", "") == "reconnecting", "the drop", timeout=20)
            await pilot.press(*"echo typed")  # typed while it is down: waits for a reconnect that will not come
            proc, _ = start_serve(home, "--port", str(port))  # same port and data: the session is not there
            await wait_until(pilot, lambda: view.exited, "the session to end", timeout=40, show=shown)
            text = " ".join("".join(shown().split("\n")).split())  # the banner wraps: rows are full width
            assert "lost the connection and this shell's session is gone" in text, text
            assert "10 bytes typed meanwhile were not delivered" in text, text
            assert "exited with code" not in text
            assert pane.label_for(view).endswith("[lost]")
    finally:
        await svc.close()
        stop_serve(proc)
        shutil.rmtree(home.parent, ignore_errors=True)
