"""Pilot tests of the checkpoint tree view (shift+F9) through the real app on real local sandboxes: it lists the
checkpoints made through the service with the head marked, `d` diffs two nodes (the marked against the selected,
or the selected against its parent), `r` restores the workspace to a node after asking (undoable), `f` forks a
sandbox holding the node's files (a rejected name keeps what was typed) and offers to open it, `c` takes one,
`enter` opens the Changes view against the node, and a restore offers to restart the workspace's terminals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import Static

from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import PLACEHOLDERS, notifications, open_workspace, run_from_palette
from tui.app import SandbenchApp
from tui.screens.changes import ChangesScreen
from tui.screens.checkpoints import CheckpointsScreen, DiffScreen
from tui.screens.workspace import WorkspaceScreen
from widgets.checkpoint_tree import CheckpointRow, CheckpointTree
from widgets.dialogs import ConfirmDialog, InputDialog
from widgets.diff_view import DiffView

pytestmark = pytest.mark.bwrap


@pytest.fixture
async def box(service: SandboxService) -> SandboxInfo:
    info = await service.create(SandboxSpec(name="box"))
    await service.write_file(info.id, "a.txt", b"one\n")
    await service.checkpoints.create(info.id, "first")
    await service.write_file(info.id, "a.txt", b"one\ntwo\n")
    await service.write_file(info.id, "b.txt", b"bee\n")
    await service.checkpoints.create(info.id, "second")
    return info


async def open_tree(pilot: Any, app: SandbenchApp) -> CheckpointsScreen:
    await pilot.press("shift+f9")
    await wait_until(pilot, lambda: isinstance(app.screen, CheckpointsScreen) and app.screen.loaded)
    screen = app.screen
    assert isinstance(screen, CheckpointsScreen)
    return screen


def messages(screen: CheckpointsScreen) -> list[str]:
    return [r.ckpt.message for r in screen.query_one(CheckpointTree).rows if isinstance(r, CheckpointRow)]


async def test_lists_checkpoints_newest_first_and_diffs_two_nodes(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_tree(pilot, app)
        tree = screen.query_one(CheckpointTree)
        assert messages(screen) == ["second", "first"]
        head = tree.rows[0]
        assert isinstance(head, CheckpointRow) and head.head
        assert "HEAD" in tree.row_text(head).plain and "manual" in tree.row_text(head).plain
        # no mark: the selected (second) against its parent (first)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen))
        text = "\n".join(r.text for r in app.screen.query_one(DiffView).rows)
        assert "+two" in text and "+bee" in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        # mark second, select first: the diff goes from second to first
        await pilot.press("space", "down", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen))
        text = "\n".join(r.text for r in app.screen.query_one(DiffView).rows)
        assert "-two" in text and "-bee" in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        # enter: the Changes view against the selected node (first)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChangesScreen) and app.screen.loaded)
        changes = app.screen
        assert isinstance(changes, ChangesScreen) and changes.since is not None and changes.since.message == "first"
        assert sorted(c.path for c in changes.changes) == ["a.txt", "b.txt"]


async def test_restore_to_a_node_asks_then_is_undoable(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_workspace(pilot, app)
        await run_from_palette(pilot, app, "checkpoints", "Checkpoints")
        await wait_until(pilot, lambda: isinstance(app.screen, CheckpointsScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, CheckpointsScreen)
        await pilot.press("down", "r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is screen and len(messages(screen)) == 3)
        assert (await service.read_file(box.id, "a.txt")).data == b"one\n"
        assert await _missing(service, box, "b.txt")
        kinds = [r.ckpt.kind for r in screen.query_one(CheckpointTree).rows if isinstance(r, CheckpointRow)]
        assert "before-restore" in kinds
        head = next(r for r in screen.query_one(CheckpointTree).rows if isinstance(r, CheckpointRow) and r.head)
        assert head.ckpt.message == "first"
        note = next(n for n in notifications(app) if "restored to" in n)
        before = note.split("undo: restore checkpoint ", 1)[1][:12]
        await service.checkpoints.restore(box.id, before)
        assert (await service.read_file(box.id, "b.txt")).data == b"bee\n"


async def _missing(service: SandboxService, box: SandboxInfo, path: str) -> bool:
    names = {e.name for e in await service.list_dir(box.id, "")}
    return path not in names


async def test_fork_makes_a_sandbox_with_the_nodes_files_and_offers_to_open_it(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.create(SandboxSpec(name="taken"))
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_tree(pilot, app)
        await pilot.press("down", "f")  # fork from "first"
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        dialog = app.screen
        field = dialog.query_one("#value")
        field.value = "taken"  # type: ignore[attr-defined]
        await pilot.press("enter")
        # the name is rejected in the dialog, which keeps what was typed
        await wait_until(
            pilot,
            lambda: (
                "taken" in str(dialog.query_one("#error").render()).lower()
                or "exist" in str(dialog.query_one("#error").render()).lower()
            ),
        )
        assert app.screen is dialog and field.value == "taken"  # type: ignore[attr-defined]
        field.value = "forked"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the offer to open the fork")
        forked = await service.resolve("forked")
        assert (await service.read_file(forked.id, "a.txt")).data == b"one\n"
        assert await _missing(service, forked, "b.txt")
        ckpts, _ = await service.checkpoints.list_checkpoints(forked.id)
        assert ckpts[0].kind == "fork" and ckpts[0].parent_sandbox == box.id
        await pilot.press("enter")  # open it
        await wait_until(pilot, lambda: isinstance(app.screen, WorkspaceScreen) and app.screen.info.id == forked.id)
        assert screen.is_attached is False or app.screen is not screen
        # its own tree names where its first checkpoint came from
        screen2 = await open_tree(pilot, app)
        row = screen2.query_one(CheckpointTree).rows[0]
        assert isinstance(row, CheckpointRow) and row.origin == f"box@{ckpts[0].parent}"  # type: ignore[index]
        assert "⑂ from box@" in screen2.query_one(CheckpointTree).row_text(row).plain


async def test_take_a_checkpoint_and_restart_terminals_after_a_restore(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()  # the real panes: a real shell in the terminal
    async with app.run_test(size=(120, 36)) as pilot:
        workspace = await open_workspace(pilot, app)
        terminal: Any = workspace.pane_widget("terminal")
        await wait_until(pilot, lambda: any(v.session is not None for v in terminal.views), timeout=30)
        view = next(v for v in terminal.views if v.session is not None)
        first_session = view.session
        screen = await open_tree(pilot, app)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        await pilot.press(*"third", "enter")
        await wait_until(pilot, lambda: app.screen is screen and messages(screen)[:1] == ["third"])
        await pilot.press("down", "down", "r")  # restore to "first"
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: any("T restarts the workspace's 1 terminal" in n for n in notifications(app)))
        assert view.session is first_session  # nothing restarted without asking
        await pilot.press("T")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("enter")
        await wait_until(pilot, lambda: view.session is not None and view.session is not first_session, timeout=30)


async def test_a_rejected_message_stays_typed_and_markup_in_messages_shows_literally(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.checkpoints.create(box.id, "[bold red]not markup[/] \x1b[2J")
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_tree(pilot, app)
        tree = screen.query_one(CheckpointTree)
        top = tree.row_text(tree.rows[0]).plain
        assert "[bold red]not markup[/]" in top and "\x1b" not in top
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        dialog = app.screen
        field: Any = dialog.query_one("#value")
        field.value = "x" * 501  # over the service's limit: refused in the dialog
        await pilot.press("enter")
        await wait_until(pilot, lambda: "at most 500" in str(dialog.query_one("#error").render()))
        assert app.screen is dialog and field.value == "x" * 501 and app.focused is field
        field.value = "fine"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is screen and messages(screen)[:1] == ["fine"])


def restore_status(screen: Any) -> str:
    line = screen.query_one("#restore-status", Static)
    return str(line.render()) if line.display else ""


async def test_the_undo_hint_stays_in_the_status_line_when_a_dialog_holds_the_toasts(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    """After a restore the toast names the undo checkpoint; a dialog opened next holds the toasts (none may cover
    its buttons), the hint stays readable in the view's own status line, above the footer, and the toast is back
    once the dialog closes (it was cleared for good)."""
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_tree(pilot, app)
        assert restore_status(screen) == ""  # nothing restored yet: no line
        await pilot.press("down", "r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is screen and "undo: restore checkpoint" in restore_status(screen))
        note = next(n for n in notifications(app) if "restored to" in n)
        before = note.split("undo: restore checkpoint ", 1)[1][:12]
        await pilot.press("c")  # a dialog: the toasts go while it is open
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        assert not any("undo: restore checkpoint" in n for n in notifications(app))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        await wait_until(pilot, lambda: note in notifications(app), "the restore's toast back")
        assert f"undo: restore checkpoint {before}" in restore_status(screen)
        region = screen.query_one("#restore-status", Static).region
        assert region.height == 1 and region.bottom <= app.size.height - 1  # its own row, above the footer
