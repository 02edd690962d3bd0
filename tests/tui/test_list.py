"""Pilot tests of the sandbox list on the real service and LocalProvider (no process runs: no bwrap needed)."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Input, Static

from services.host_limits import HostLimits
from services.models import Resources, SandboxSpec, SandboxState
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import notifications
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from widgets.create_dialog import CreateDialog
from widgets.dialogs import ConfirmDialog, InputDialog


def _list(app: SandbenchApp) -> SandboxListScreen:
    screen = app.screen
    assert isinstance(screen, SandboxListScreen)
    return screen


async def _started(pilot, app: SandbenchApp) -> SandboxListScreen:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
    return _list(app)


def _select(screen: SandboxListScreen, name: str) -> None:
    table = screen.table
    for info in table.infos:
        if info.name == name:
            table.move_cursor(row=table.get_row_index(info.id), animate=False)
            return
    raise AssertionError(f"{name} not in the table")


async def test_list_shows_sandboxes(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    await service.create(SandboxSpec(name="beta", resources=Resources(cpu=2, memory_gib=4)))
    await service.create(SandboxSpec(name="alpha"))
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await _started(pilot, app)
        assert screen.table.visible_names == ["alpha", "beta"]
        row = screen.table.row_text(screen.table.infos[1].id)
        assert row["name"] == "beta" and "started" in row["state"] and row["provider"] == "local"
        assert (row["cpu"], row["mem"]) == ("2", "4G")
        assert not screen.query_one("#list-empty", Static).display


async def test_empty_list_says_how_to_create(make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await _started(pilot, app)
        empty = screen.query_one("#list-empty", Static)
        assert empty.display and "press n" in str(empty.render()).lower()


async def test_filter_as_you_type(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    for name in ("web-api", "web-ui", "db"):
        await service.create(SandboxSpec(name=name, labels={"team": "data" if name == "db" else "web"}))
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await _started(pilot, app)
        await pilot.press("slash", "w", "e", "b", "-")
        assert screen.table.visible_names == ["web-api", "web-ui"]
        screen.query_one("#filter", Input).value = "team=data"  # labels match too
        await pilot.pause()
        assert screen.table.visible_names == ["db"]
        await pilot.press("escape")
        assert screen.table.visible_names == ["db", "web-api", "web-ui"]
        assert screen.focused is screen.table


async def test_create_via_dialog(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _started(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog))
        dialog = app.screen
        await pilot.press(*"fresh")
        dialog.query_one("#cpu", Input).value = "2"
        dialog.query_one("#labels", Input).value = "team=web, purpose=demo"
        await pilot.click("#create")
        await wait_until(pilot, lambda: "fresh" in screen.table.visible_names)
        (info,) = await service.list_sandboxes()
        assert info.name == "fresh" and info.resources.cpu == 2
        assert info.labels["team"] == "web" and info.labels["purpose"] == "demo"
        assert screen.table.selected is not None and screen.table.selected.name == "fresh"


async def test_create_cancel_and_validation(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _started(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog))
        await pilot.press("enter")  # no name: the dialog stays and says why
        assert isinstance(app.screen, CreateDialog)
        assert "name" in str(app.screen.query_one("#error", Static).render())
        await pilot.press("escape")
        assert app.screen is screen
        assert await service.list_sandboxes() == []


async def test_create_refuses_more_than_the_host_has(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    host = HostLimits.read(service.config.data_dir)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _started(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog))
        dialog = app.screen
        error = dialog.query_one("#error", Static)
        dialog.query_one("#name", Input).value = "huge"
        for field, value, words in (
            ("memory", "9999", f"more than this machine has ({host.memory_gib:.1f} GiB)"),  # it was accepted
            ("cpu", str(host.cpus + 1), f"more than this machine has ({host.cpus})"),
            ("disk", "999999", "more than the data folder's filesystem holds"),
        ):
            dialog.query_one(f"#{field}", Input).value = value
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda words=words: words in str(error.render()), show=lambda: str(error.render()))
            assert app.focused is dialog.query_one(f"#{field}", Input)  # back in the field at fault, text kept
            assert dialog.query_one(f"#{field}", Input).value == value
            dialog.query_one(f"#{field}", Input).value = "1"
        assert isinstance(app.screen, CreateDialog) and await service.list_sandboxes() == []


async def test_unexpected_error_points_to_the_log(
    service: SandboxService, make_app: Callable[..., SandbenchApp], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    await service.create(SandboxSpec(name="box"))

    async def boom(sandbox_id: str) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "stop", boom)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await _started(pilot, app)
        await pilot.press("x")
        await wait_until(pilot, lambda: "unexpected error (details in the log file)" in notifications(app))
        assert not any("secret" in n for n in notifications(app))


async def test_stop_and_start(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    box = await service.create(SandboxSpec(name="box"))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _started(pilot, app)
        await pilot.press("x")
        await wait_until(pilot, lambda: screen.table.get_info(box.id).state is SandboxState.STOPPED)  # type: ignore[union-attr]
        assert (await service.get(box.id)).state is SandboxState.STOPPED
        await wait_until(pilot, lambda: not screen._busy)
        await pilot.press("s")
        await wait_until(pilot, lambda: screen.table.get_info(box.id).state is SandboxState.STARTED)  # type: ignore[union-attr]
        assert (await service.get(box.id)).state is SandboxState.STARTED


async def test_state_changes_elsewhere_show_live(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    box = await service.create(SandboxSpec(name="box"))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _started(pilot, app)
        lists = service.counters["provider.list"]
        await service.stop(box.id)  # e.g. the auto-stop loop: the service's listener updates the row
        await wait_until(pilot, lambda: screen.table.get_info(box.id).state is SandboxState.STOPPED)  # type: ignore[union-attr]
        assert service.counters["provider.list"] == lists  # one row updated, no re-list


async def test_delete_asks_naming_the_sandbox(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    await service.create(SandboxSpec(name="keep"))
    doomed = await service.create(SandboxSpec(name="doomed"))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _started(pilot, app)
        _select(screen, "doomed")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "doomed" in str(app.screen.query_one(".dialog-message", Static).render())
        await pilot.press("escape")  # cancel: nothing happens
        assert app.screen is screen and "doomed" in screen.table.visible_names
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("enter")  # Cancel has the focus: a stray enter deletes nothing
        await wait_until(pilot, lambda: app.screen is screen)
        assert "doomed" in screen.table.visible_names
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: "doomed" not in screen.table.visible_names)
        assert [i.name for i in await service.list_sandboxes()] == ["keep"]
        assert doomed.id not in screen.table.rows


async def test_snapshot_asks_a_name(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    await service.create(SandboxSpec(name="box"))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await _started(pilot, app)
        await pilot.press("S")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        app.screen.query_one(Input).value = "first"
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("snapshot first of box" in n for n in notifications(app)))
        assert [s.name for s in await service.list_snapshots()] == ["first"]
        # and the create dialog now offers it
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog))
        assert not app.screen.query_one("#snapshot").disabled


async def test_hostile_labels_render_literally(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    # markup is a valid label value and must show as text; a C1 CSI (0x9b) is refused by the local provider but
    # can arrive from a remote one (Daytona labels are the provider's), so it is planted in the store here
    box = await service.create(SandboxSpec(name="box", labels={"note": "[bold red]x[/] [link=http://e]y"}))
    labels = {**box.labels, "esc": "\x9b31m"}
    service.provider.store.update(box.id, labels=labels)  # type: ignore[attr-defined]
    service.invalidate()
    app = make_app()
    async with app.run_test(size=(160, 30)) as pilot:
        screen = await _started(pilot, app)
        assert screen.table.column_keys[-1] == "labels"
        cell = screen.table.get_row(screen.table.infos[0].id)[-1]
        assert "note=[bold red]x[/] [link=http://e]y" in cell.plain
        assert "esc=\\x9b31m" in cell.plain and "\x9b" not in cell.plain
        assert not cell.spans or all(span.style != "bold red" for span in cell.spans)


async def test_errors_never_raise_out_of_workers(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    box = await service.create(SandboxSpec(name="box"))
    await service.delete(box.id)  # the row is stale: acting on it must fail politely
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _started(pilot, app)
        screen.table.set_sandboxes([box])
        await pilot.press("x")
        await wait_until(pilot, lambda: any("no sandbox" in n for n in notifications(app)))
