"""The Timeline through the real app (issue 13 §2) on real local sandboxes: operations through the service appear
live at the top without moving the cursor off its row, the filter narrows as you type, an exec's details show its
output and the files it changed, and `r` restores the state before it (checked through the service), undoable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import Static

from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import run_from_palette
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.timeline import TimelineScreen
from widgets.dialogs import ConfirmDialog
from widgets.diff_view import DiffView
from widgets.timeline_list import TimelineList

pytestmark = pytest.mark.bwrap


def rows(screen: TimelineScreen) -> list[str]:
    return [e.what for e in screen.timeline.rows]


def shown(widget: Static) -> str:
    return str(widget.render())


async def open_from_list(pilot: Any, app: SandbenchApp) -> TimelineScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(app.screen, TimelineScreen) and app.screen.page is not None)
    screen = app.screen
    assert isinstance(screen, TimelineScreen)
    return screen


async def test_entries_appear_live_and_the_cursor_stays_on_its_row(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.write_file(box.id, "first.txt", b"1\n")
    await service.write_file(box.id, "second.txt", b"2\n")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        assert rows(screen)[:2] == ["write second.txt", "write first.txt"]
        await pilot.press("down")  # on "write first.txt"
        assert screen.timeline.current is not None and screen.timeline.current.what == "write first.txt"
        await service.exec(box.id, ["touch", "made"])
        await service.move(box.id, "made", "moved")
        await wait_until(pilot, lambda: rows(screen)[0] == "move made → moved", show=lambda: repr(rows(screen)))
        assert rows(screen)[1].startswith("touch") or rows(screen)[1] == "touch"
        assert screen.timeline.current.what == "write first.txt"  # the cursor did not move off its row
        # the filter, as you type
        await pilot.press("slash", *"kind:file first")
        await wait_until(pilot, lambda: rows(screen) == ["write first.txt"])
        await pilot.press("enter")
        assert app.focused is screen.timeline
        await pilot.press("escape")  # back to where it was opened from
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen))
        # and its follower is gone with it (no poll of the log left running)
        await wait_until(pilot, lambda: not [w for w in app.workers if w.group == "timeline-load" and w.is_running])


async def test_from_the_workspace_palette_and_reads_hidden_until_asked(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(open_name="box")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, lambda: type(app.screen).__name__ == "WorkspaceScreen")
        workspace = app.screen
        await run_from_palette(pilot, app, "timeline", "Timeline")
        await wait_until(pilot, lambda: isinstance(app.screen, TimelineScreen) and app.screen.page is not None)
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        await service.list_dir(box.id, "")  # a read (the explorer does this all the time)
        await service.write_file(box.id, "w.txt", b"x")
        await wait_until(pilot, lambda: "write w.txt" in rows(screen))
        assert "list /" not in rows(screen)
        await pilot.press("i")
        await wait_until(pilot, lambda: "list /" in rows(screen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is workspace)
        await pilot.press("shift+f12")
        await wait_until(pilot, lambda: isinstance(app.screen, TimelineScreen))


async def test_details_show_the_files_a_command_changed_and_restore_brings_them_back(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.write_file(box.id, "keep.txt", b"one\n")
    await service.write_file(box.id, "doomed.txt", b"precious\n")
    before = await service.checkpoints.create(box.id, "before the command")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        await service.exec(box.id, ["sh", "-c", "echo two >> keep.txt; rm doomed.txt; echo '[bold]x' > '[red]new'"])
        await wait_until(pilot, lambda: rows(screen)[0].startswith("sh"), show=lambda: repr(rows(screen)))
        await pilot.press("home")  # the cursor stayed on its entry: go to the newest
        assert screen.timeline.current is not None and screen.timeline.current.kind == "exec"
        await pilot.press("enter")
        head = screen.query_one("#detail-head", Static)
        await wait_until(pilot, lambda: "by you" in shown(head), show=lambda: shown(head))
        files = screen.query_one("#detail-files", Static)
        await wait_until(pilot, lambda: "unknown (no automatic checkpoints" in shown(files), show=lambda: shown(files))
        # restore to before it: the nearest checkpoint before the command's time (it has none of its own);
        # the confirmation names what changes and that it can be undone
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.asking)
        message = shown(app.screen.query(".dialog-message").first(Static))
        assert "doomed.txt (put back)" in message and "[red]new (removed)" in message
        assert "undone" in message
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is screen)
        status = screen.query_one("#timeline-status", Static)
        await wait_until(pilot, lambda: "undo: u (checkpoint" in shown(status), show=lambda: shown(status))
        assert (await service.read_file(box.id, "doomed.txt")).data == b"precious\n"
        assert (await service.read_file(box.id, "keep.txt")).data == b"one\n"
        assert screen.undo_id is not None and screen.undo_id != before.id
        # the restore itself shows up, live
        await wait_until(pilot, lambda: any(w.startswith("restore ") for w in rows(screen)))
        # and u undoes it
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.asking)
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is screen)

        async def undone() -> bool:
            return (await service.read_file(box.id, "keep.txt")).data == b"one\ntwo\n"

        await wait_until(pilot, undone, "the undo", timeout=20)


async def test_with_automatic_checkpoints_an_exec_shows_its_output_and_changes_and_restores_to_its_before(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.set_labels(box.id, {"sandbench.auto-checkpoint": "on"})
    await service.write_file(box.id, "keep.txt", b"one\n")
    await service.write_file(box.id, "doomed.txt", b"precious\n")
    await service.exec(box.id, ["sh", "-c", "echo before > early.txt"])  # an earlier command, with its own bracket
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        script = "echo two >> keep.txt; rm doomed.txt; echo x > '[red]new'; printf '[bold]done\\033[31m\\n'"
        await service.exec(box.id, ["sh", "-c", script])
        await wait_until(pilot, lambda: "[red]new" in rows(screen)[0], show=lambda: repr(rows(screen)))
        await pilot.press("home", "enter")
        entry = screen.timeline.current
        assert entry is not None and entry.before and entry.after and entry.output
        diff = screen.query_one(DiffView)
        await wait_until(pilot, lambda: {f.path for f in diff.files} == {"keep.txt", "doomed.txt", "[red]new"})
        assert {f.path: f.status for f in diff.files} == {"keep.txt": "M", "doomed.txt": "D", "[red]new": "A"}
        assert "files it changed: 3" in shown(screen.query_one("#detail-files", Static))
        output = screen.query_one("#detail-output", Static)
        await wait_until(pilot, lambda: "[bold]done\\x1b[31m" in shown(output), show=lambda: shown(output))
        head = shown(screen.query_one("#detail-head", Static))
        assert "exit code 0" in head and f"before {entry.before}" in head
        # r: back to the command's own `before` checkpoint
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.asking)
        message = shown(app.screen.query(".dialog-message").first(Static))
        assert f"checkpoint {entry.before}" in message
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.undo_id is not None)
        assert (await service.read_file(box.id, "doomed.txt")).data == b"precious\n"
        assert (await service.read_file(box.id, "keep.txt")).data == b"one\n"
        assert (await service.read_file(box.id, "early.txt")).data == b"before\n"  # the earlier command's: kept
        assert (await service.checkpoints.changes(box.id, since=entry.before)).changes == []


async def test_sandbox_text_is_plain_text_never_markup(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    hostile = "[bold red]boom[/] \x1b[2J\x1b]0;pwned\x07"
    await service.write_file(box.id, "[bold]f[red]\x1b.txt", b"x")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_from_list(pilot, app)
        await service.exec(box.id, ["echo", hostile])
        await wait_until(pilot, lambda: rows(screen)[0].startswith("echo"))
        view = screen.query_one(TimelineList)
        text = "".join(seg.text for seg in view.render_line(0))
        if screen.timeline.rows[0].argv:  # the audit line carries the (redacted) argv
            assert "'[bold red]boom[/] \\x1b[2J\\x1b]0;pwned\\x07'" in text
        line = "".join(seg.text for seg in view.render_line(1))
        assert "write [bold]f[red]\\x1b.txt" in line
        assert not any("\x1b" in seg.text for y in range(3) for seg in view.render_line(y))


async def test_another_owners_sandbox_seen_read_only_shows_its_agent_by_name_and_refuses_restore(
    provider: Any, config: Any
) -> None:
    import dataclasses

    from services.sandbox_service import SandboxService as Service
    from tests.tui.conftest import fixed_clock, notifications

    open_config = dataclasses.replace(config, show_others=True)
    alice = Service(provider, dataclasses.replace(open_config, identity="alice"))
    me = Service(provider, open_config)
    try:
        theirs = await alice.create(SandboxSpec(name="theirs"))
        await alice.write_file(theirs.id, "a.txt", b"x")
        await alice.checkpoints.create(theirs.id)
        await alice.write_file(theirs.id, "b.txt", b"y")
        app = SandbenchApp(me, open_config, clock=fixed_clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
            screen = app.screen
            assert isinstance(screen, SandboxListScreen)
            await pilot.press("o")
            await wait_until(pilot, lambda: theirs.id in screen.table.rows)
            screen.table.move_cursor(row=screen.table.get_row_index(theirs.id), animate=False)
            await pilot.pause()
            timeline = await open_from_list(pilot, app)
            assert rows(timeline)[:2] == ["write b.txt", "checkpoint " + rows(timeline)[1].split()[-1]]
            line = "".join(seg.text for seg in timeline.timeline.render_line(0))
            assert "alice" in line and "you" not in line  # another identity shows as its own name
            await pilot.press("r")
            await wait_until(pilot, lambda: any("read-only" in n for n in notifications(app)))
            assert not isinstance(app.screen, ConfirmDialog)
            assert (await me.read_file(theirs.id, "b.txt")).data == b"y"
            # every Timeline action has its help line (the help screen, f1, reads these)
            from tui.registry import help_groups

            groups = dict(help_groups(timeline))
            ids = {e.id for e in groups["Timeline"]}
            assert {"timeline.restore", "timeline.undo", "timeline.filter", "timeline.expand"} <= ids
            await pilot.press("f1")
            await wait_until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
    finally:
        alice.audit.close()
        me.audit.close()


async def test_an_entry_whose_checkpoints_and_output_are_gone_says_so(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    import json
    import time

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        # an exec line whose checkpoints were pruned by retention and whose output was dropped (another process)
        entry = {"ts": time.time(), "who": "agent-7", "provider": "local", "op": "exec", "outcome": "ok"}
        entry.update(sandbox=box.id, path="", program="make", argv=["make"], ms=12, exit=2)
        entry.update(before="0123456789ab", after="ba9876543210", output="0123456789abcdef-01234567")
        with open(service.config.audit_log, "a") as f:
            f.write(json.dumps(entry) + "\n")
        await wait_until(pilot, lambda: rows(screen)[:1] == ["make"], show=lambda: repr(rows(screen)))
        await pilot.press("home", "enter")
        files = screen.query_one("#detail-files", Static)
        await wait_until(pilot, lambda: "not available" in shown(files), show=lambda: shown(files))
        output = screen.query_one("#detail-output", Static)
        assert "output not available" in shown(output)
        head = shown(screen.query_one("#detail-head", Static))
        assert "exit 2" in head and "exit code" not in head  # said once
        assert app.screen is screen  # nothing raised to the error route


async def test_scrolled_down_new_entries_keep_the_cursor_row_where_it_is_on_screen(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    for i in range(60):
        await service.write_file(box.id, f"f{i:02d}.txt", b"x")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        view = screen.timeline
        await pilot.press("pagedown", "pagedown", "down")
        await pilot.pause()
        entry, line = view.current, view.cursor - int(view.scroll_y)
        assert entry is not None and view.scroll_y > 0
        for i in range(3):
            await service.write_file(box.id, f"new{i}.txt", b"y")
        await wait_until(pilot, lambda: rows(screen)[0] == "write new2.txt")
        await pilot.pause()
        assert view.current == entry  # the same entry ...
        assert view.cursor - int(view.scroll_y) == line  # ... on the same screen line
        rendered = "".join(seg.text for seg in view.render_line(line))
        assert entry.what in rendered


async def test_restore_before_an_entry_names_the_checkpoint_and_the_later_actions_it_also_undoes(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    # the nearest checkpoint before the command is older than two other acts: going back to it undoes them too
    before = await service.checkpoints.create(box.id, "an old one")
    await service.write_file(box.id, "staged.txt", b"mine\n")
    await service.exec(box.id, ["touch", "made"])
    await service.exec(box.id, ["sh", "-c", "for i in 1 2; do echo $i >> f; done"])
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        await wait_until(pilot, lambda: rows(screen)[0].startswith("sh -c 'for"), show=lambda: repr(rows(screen)))
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.asking)
        message = shown(app.screen.query(".dialog-message").first(Static)).replace("\n", " ")
        assert f"checkpoint {before.id}, taken " in message
        assert "also before 2 later actions, undone too: you write staged.txt (" in message, message
        assert "you touch made (" in message
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen)


async def test_new_entries_above_a_scrolled_view_are_counted_in_the_title_until_seen(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    for i in range(60):
        await service.write_file(box.id, f"f{i:02d}.txt", b"x")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        title = screen.query_one("#timeline-title", Static)
        await pilot.press("pagedown", "pagedown")
        await pilot.pause()
        for i in range(3):
            await service.write_file(box.id, f"new{i}.txt", b"y")
        await wait_until(pilot, lambda: "↑ 3 new above (home)" in shown(title), show=lambda: shown(title))
        await pilot.press("home")
        await wait_until(pilot, lambda: "new above" not in shown(title), show=lambda: shown(title))
        assert rows(screen)[0] == "write new2.txt"


async def test_rows_and_details_say_what_was_done_once(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    from services.checkpoints.auto import set_auto

    await set_auto(service, box.id, "on")  # `sandbench config NAME auto-checkpoint on`
    base = await service.checkpoints.create(box.id, "to fork from")
    await service.checkpoints.fork(box.id, "twin", at=base.id)
    await service.exec(box.id, ["sh", "-c", "exit 1"])
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        await wait_until(pilot, lambda: "auto-checkpoint on" in rows(screen), show=lambda: repr(rows(screen)))
        assert rows(screen)[0] == "sh -c 'exit 1'"
        # a fork says the sandbox it made, not only the checkpoint it came from
        assert f"fork → twin (from checkpoint {base.id})" in rows(screen)
        await pilot.press("enter")
        head = screen.query_one("#detail-head", Static)
        await wait_until(pilot, lambda: "exit 1" in shown(head), show=lambda: shown(head))
        assert "exit code" not in shown(head)  # not "exit 1 · exit code 1"
