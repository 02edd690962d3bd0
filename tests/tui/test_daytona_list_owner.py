"""The sandbox list on `--provider daytona` against a real `sandbench serve`: your own sandboxes are yours.

Serve keeps the owner label to itself and reports the owner as `sandbenchOwner`, which DaytonaProvider puts in
`SandboxInfo.owner`; the table once read only the labels, so every sandbox of yours showed "read-only: no owner (A
adopts)" while `A` said it was already yours. Real DaytonaProvider → `daytona` SDK → serve on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widgets import Input, Static

from services.daytona import DaytonaProvider
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.serve_helpers import Serve, running_serve, unique
from tests.tui.conftest import fixed_clock
from tests.tui.test_daytona_app import app_config
from tests.tui.test_list_typed_ahead import burst
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from widgets.create_dialog import CreateDialog

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


@pytest.fixture(scope="module")
def serve() -> Iterator[Serve]:
    with running_serve(other_owner=False) as srv:
        yield srv


@pytest.fixture
async def dservice(serve: Serve, sandbench_home: Path) -> AsyncIterator[SandboxService]:
    sandbench_home.mkdir(parents=True, exist_ok=True)
    cfg = app_config(serve, sandbench_home)
    svc = SandboxService(DaytonaProvider(cfg), cfg)
    yield svc
    cleanup = SandboxService(DaytonaProvider(cfg), cfg)  # the app closed `svc` on its way out
    try:
        for info in await cleanup.list_sandboxes():
            await cleanup.delete(info.id)
    finally:
        await cleanup.close()


async def test_a_sandbox_made_in_the_list_is_yours(dservice: SandboxService) -> None:
    name = unique("dt")
    app = SandbenchApp(service=dservice, config=dservice.config, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded, timeout=20)
        listing = app.screen
        assert isinstance(listing, SandboxListScreen)
        burst(app, "n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog) and app.screen.is_mounted)
        app.screen.query_one("#name", Input).value = name
        burst(app, "ctrl+s")
        await wait_until(pilot, lambda: name in listing.table.visible_names, timeout=60)
        info = next(i for i in listing.table.infos if i.name == name)
        assert info.owner == dservice.config.identity and info.labels.get(dservice.config.owner_label) is None
        await wait_until(pilot, lambda: listing.table.selected is not None and listing.table.selected.name == name)
        detail = listing.query_one("#list-detail", Static)
        await wait_until(pilot, lambda: name in str(detail.render()))
        assert "read-only" not in str(detail.render()), detail.render()
        assert listing.table.mine(info)


async def test_a_rejected_api_key_is_said_whole_at_80x24(serve: Serve, sandbench_home: Path) -> None:
    """The empty list's one line was cut: `Could not list the sandboxes: Daytona rejected the API key (check`."""
    sandbench_home.mkdir(parents=True, exist_ok=True)
    good = app_config(serve, sandbench_home)
    assert good.daytona is not None
    cfg = dataclasses.replace(good, daytona=dataclasses.replace(good.daytona, api_key="not-the-key"))
    svc = SandboxService(DaytonaProvider(cfg), cfg)
    app = SandbenchApp(service=svc, config=cfg, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.failed, timeout=20)
        empty = app.screen.query_one("#list-empty", Static)
        await pilot.pause()

        def said() -> str:
            return " ".join(s.text.strip() for s in empty.render_lines(Region(0, 0, *empty.size)))

        await wait_until(pilot, lambda: "(check DAYTONA_API_KEY)" in said(), show=said)
        assert said().endswith("(r retries)"), said()


async def test_n_with_the_server_gone_opens_the_dialog_and_nothing_reaches_the_table(sandbench_home: Path) -> None:
    """`n`, `dt2`, ctrl+s with serve down: no Create dialog opened (it waited for a snapshot listing that failed),
    the d reached the table and opened Delete under two "Provider error" toasts. Now the dialog opens at once, the
    name goes into it, its snapshot row says it could not list them, and the create's failure shows in it."""
    from services.models import SandboxSpec
    from tests.services.serve_helpers import stop_serve
    from tests.tui.test_toasts_over_dialogs import toasts
    from widgets.dialogs import ConfirmDialog

    sandbench_home.mkdir(parents=True, exist_ok=True)
    with running_serve(other_owner=False) as srv:
        cfg = app_config(srv, sandbench_home)
        svc = SandboxService(DaytonaProvider(cfg), cfg)
        await svc.create(SandboxSpec(name="kept"))
        app = SandbenchApp(service=svc, config=cfg, clock=fixed_clock)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded, timeout=20)
            listing = app.screen
            assert isinstance(listing, SandboxListScreen) and listing.table.visible_names == ["kept"]
            stop_serve(srv.proc)
            burst(app, "n", "d", "t", "2", "ctrl+s")
            await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog) and app.screen.is_mounted)
            dialog = app.screen
            assert isinstance(dialog, CreateDialog)
            await wait_until(pilot, lambda: dialog.query_one("#name", Input).value == "dt2")
            error = dialog.query_one("#error", Static)
            await wait_until(pilot, lambda: not dialog.busy and str(error.render()).strip() != "", timeout=60)
            snapshot = dialog.query_one("#snapshot")
            await wait_until(pilot, lambda: "could not list snapshots" in str(getattr(snapshot, "prompt", "")))
            assert not any(isinstance(s, ConfirmDialog) for s in app.screen_stack)
            assert toasts(app) == []  # nothing over the dialog
            assert app.screen is dialog and listing.table.visible_names == ["kept"]
