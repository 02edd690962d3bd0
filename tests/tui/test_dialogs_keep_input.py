"""Dialogs keep what was typed when the service rejects it (issue 11 §3): the error shows inline, the field keeps
the focus and its text, and fixing it in place goes on. The create dialog submits on ctrl+s (and enter) like the
commit box; its boxes read `[ ]`/`[x]`; its open snapshot list covers no other row's label (§6). The real app on a
real local sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Label, Select, Static

from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import notifications
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from widgets.create_dialog import CreateDialog
from widgets.dialogs import InputDialog
from widgets.tick import Tick

pytestmark = pytest.mark.timeout(120)


async def listed(pilot: Pilot[Any], app: SandbenchApp) -> SandboxListScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
    assert isinstance(app.screen, SandboxListScreen)
    return app.screen


def error_of(app: SandbenchApp) -> str:
    return str(app.screen.query_one("#error", Static).render())


async def test_a_rejected_sandbox_name_keeps_the_text_and_the_focus(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.create(SandboxSpec(name="taken"))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await listed(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog))
        dialog = app.screen
        name = dialog.query_one("#name", Input)
        dialog.query_one("#labels", Input).value = "team=web"

        await pilot.press(*"bad name!", "enter")  # the provider's rule: inline, kept, focused
        await wait_until(pilot, lambda: "invalid sandbox name" in error_of(app))
        assert app.screen is dialog and name.value == "bad name!" and app.focused is name
        assert dialog.query_one("#labels", Input).value == "team=web"

        name.value = "taken"  # taken: the same
        await pilot.press("enter")
        await wait_until(pilot, lambda: "already exists" in error_of(app))
        assert app.screen is dialog and name.value == "taken" and app.focused is name
        assert not any("already exists" in n for n in notifications(app))  # in the dialog, not a toast

        await pilot.press("end", *"-2", "enter")  # fixed in place
        await wait_until(pilot, lambda: "taken-2" in screen.table.visible_names)
        assert app.screen is screen
        made = {i.name: i for i in await service.list_sandboxes()}["taken-2"]
        assert made.labels["team"] == "web"


async def test_the_create_dialog_submits_on_ctrl_s_from_any_field(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await listed(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog))
        await pilot.press(*"quick", "tab", "tab", "tab", "tab", "tab", "tab")  # on to the Network box
        assert isinstance(app.focused, Tick)
        await pilot.press("space", "ctrl+s")
        await wait_until(pilot, lambda: "quick" in screen.table.visible_names)
        (info,) = await service.list_sandboxes()
        assert info.name == "quick" and info.network


async def test_checkboxes_read_unchecked_and_checked(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await listed(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog))
        box = app.screen.query_one("#network", Tick)
        unchecked = box.render().plain
        assert unchecked.startswith("[ ]") and "X" not in unchecked and "x" not in unchecked.split()[0]
        box.value = True
        assert box.render().plain.startswith("[x]")


async def test_the_open_snapshot_list_covers_no_label(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    box = await service.create(SandboxSpec(name="box"))
    for snap in ("one", "two", "three"):
        await service.snapshot(box.id, snap)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await listed(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog))
        dialog = app.screen
        select = dialog.query_one("#snapshot", Select)
        select.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: select.expanded)
        await pilot.pause()
        overlay = select.query_one("SelectOverlay").region
        # no other row of the form lies under the open list (it used to drop over "Options", whose label then
        # read as the list's first entry: "Options (none)")
        rows = [w for w in dialog.query("Grid > *") if w is not select and w.region.height]
        covered = [str(w) for w in rows if overlay.y <= w.region.y < overlay.bottom]
        assert covered == []
        assert any(isinstance(w, Label) for w in rows)  # the labels were looked at
        await pilot.press("down", "enter")
        assert select.value == "one"


async def test_a_rejected_snapshot_name_keeps_the_text(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    box = await service.create(SandboxSpec(name="box"))
    await service.snapshot(box.id, "first")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await listed(pilot, app)
        await pilot.press("S")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        dialog = app.screen
        field = dialog.query_one(Input)
        for bad, says in (("bad name!", "invalid snapshot name"), ("first", "already exists")):
            field.value = bad
            await pilot.press("enter")
            await wait_until(pilot, lambda says=says: says in error_of(app))  # type: ignore[misc]
            assert app.screen is dialog and field.value == bad and app.focused is field
        field.value = "second"
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("snapshot second of box" in n for n in notifications(app)))
        assert sorted(s.name for s in await service.list_snapshots()) == ["first", "second"]
