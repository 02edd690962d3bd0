"""Pilot tests of the Changes view (F9) through the real app on real local sandboxes: files changed by a real exec
show as A/M/D/T in the tree with their diff, restoring a file brings it back byte for byte, restoring a hunk
reverts only that hunk (and is refused when the file moved on), rolling back everything then restoring the undo
checkpoint brings the changed state back, a sandbox with no checkpoint says so and `c` takes one, and a file name
with markup or escapes shows literally."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import OptionList, Static

from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_git import INIT, sh
from tests.tui.conftest import PLACEHOLDERS, notifications, open_workspace, run_from_palette
from tui.app import SandbenchApp
from tui.screens.changes import ChangesScreen, CheckpointPicker
from tui.screens.help import HelpScreen
from widgets.changes_tree import ChangesTree
from widgets.dialogs import ConfirmDialog
from widgets.diff_view import DiffView

pytestmark = pytest.mark.bwrap

MOD_BEFORE = b"".join(b"line %d\n" % i for i in range(1, 31))
MOD_AFTER = MOD_BEFORE.replace(b"line 3\n", b"line three\n").replace(b"line 25\n", b"line twenty-five\n")


@pytest.fixture
async def box(service: SandboxService) -> SandboxInfo:
    info = await service.create(SandboxSpec(name="box"))
    await service.mkdir(info.id, "src", parents=True)
    await service.write_file(info.id, "src/mod.txt", MOD_BEFORE)
    await service.write_file(info.id, "gone.txt", b"to be deleted\n")
    await service.write_file(info.id, "run.sh", b"echo hi\n")
    await service.checkpoints.create(info.id, "base")
    # a real exec inside the sandbox changes the files
    script = (
        "printf 'line three\\n' > /dev/null; "
        "sed -i 's/^line 3$/line three/; s/^line 25$/line twenty-five/' src/mod.txt; "
        "rm gone.txt; printf 'new\\n' > src/new.txt; chmod +x run.sh"
    )
    result = await service.exec(info.id, ["sh", "-c", script])
    assert result.exit_code == 0, result.stderr
    return info


def tree_rows(screen: ChangesScreen) -> list[str]:
    tree = screen.query_one(ChangesTree)
    return [" ".join(tree.row_text(r).plain.split()) for r in tree.rows]


async def open_changes(pilot: Any, app: SandbenchApp) -> ChangesScreen:
    await pilot.press("f9")
    await wait_until(pilot, lambda: isinstance(app.screen, ChangesScreen) and app.screen.loaded)
    screen = app.screen
    assert isinstance(screen, ChangesScreen)
    return screen


async def select(pilot: Any, screen: ChangesScreen, path: str) -> DiffView:
    tree = screen.query_one(ChangesTree)
    assert tree.select_key(path), tree_rows(screen)
    view = screen.query_one(DiffView)
    await wait_until(pilot, lambda: screen.diff is not None and screen.diff.change.path == path, f"the diff of {path}")
    return view


def diff_text(view: DiffView) -> str:
    return "\n".join(r.text for r in view.rows)


async def test_exec_changes_show_as_a_tree_with_diffs_and_a_file_restores_byte_for_byte(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_changes(pilot, app)
        assert screen.since is not None and screen.since.message == "base"
        rows = tree_rows(screen)
        assert rows[0].startswith("▾ src/")
        assert "M mod.txt" in " ".join(rows) and "A new.txt" in " ".join(rows)
        assert any(r.startswith("D gone.txt") for r in rows)
        assert any(r.startswith("T run.sh") and "644→755" in r for r in rows), rows
        view = await select(pilot, screen, "src/mod.txt")
        text = diff_text(view)
        assert "-line 3" in text and "+line three" in text and "+line twenty-five" in text
        assert view.hunk_count == 2
        # restore the file: the workspace's bytes are the checkpoint's again
        await pilot.press("r")
        await wait_until(pilot, lambda: "M mod.txt" not in " ".join(tree_rows(screen)))
        assert (await service.read_file(box.id, "src/mod.txt")).data == MOD_BEFORE
        assert any("restored" in n and "undo: restore checkpoint" in n for n in notifications(app))
        # a deleted file comes back too
        screen.query_one(ChangesTree).select_key("gone.txt")
        await pilot.press("r")
        await wait_until(pilot, lambda: not any(r.startswith("D gone") for r in tree_rows(screen)))
        assert (await service.read_file(box.id, "gone.txt")).data == b"to be deleted\n"
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ChangesScreen))


async def test_hunk_restore_reverts_only_that_hunk_and_refuses_a_moved_file(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_changes(pilot, app)
        assert screen.has_class("-stacked")  # 80 columns: the diff is below the tree
        view = await select(pilot, screen, "src/mod.txt")
        view.action_next_hunk()  # the second hunk: line 25
        await pilot.pause()
        assert view.current_index == 1
        await pilot.press("u")
        expect = MOD_BEFORE.replace(b"line 3\n", b"line three\n")
        await wait_until(pilot, lambda: _reads(service, box, "src/mod.txt", expect), "only hunk 2 reverted")
        await wait_until(pilot, lambda: screen.diff is not None and len(screen.diff.raw) == 1, "the new diff")
        # the file changes behind the view's back: the hunk restore is refused and nothing is written
        await service.write_file(box.id, "src/mod.txt", expect + b"more\n")
        await pilot.press("u")
        await wait_until(pilot, lambda: any("changed since" in n for n in notifications(app)))
        assert (await service.read_file(box.id, "src/mod.txt")).data == expect + b"more\n"


async def _reads(service: SandboxService, box: SandboxInfo, path: str, data: bytes) -> bool:
    return (await service.read_file(box.id, path)).data == data


async def test_roll_back_everything_and_undo_it(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_changes(pilot, app)
        await run_from_palette(pilot, app, "roll back", "Roll back all")  # the view's keys are in the palette
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        message = str(app.screen.query(".dialog-message").first().render())
        assert "3 files written, 1 file deleted" in message and "undone" in message
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, ChangesScreen) and not screen.changes)
        assert (await service.read_file(box.id, "src/mod.txt")).data == MOD_BEFORE
        assert (await service.read_file(box.id, "gone.txt")).data == b"to be deleted\n"
        note = next(n for n in notifications(app) if "rolled back" in n)
        before = note.rsplit("undo: restore checkpoint ", 1)[1].rstrip(")").split(")")[0]
        # the undo checkpoint brings the changed state back
        await service.checkpoints.restore(box.id, before)
        assert (await service.read_file(box.id, "src/mod.txt")).data == MOD_AFTER
        assert (await service.read_file(box.id, "src/new.txt")).data == b"new\n"
        await pilot.press("f5")
        await wait_until(pilot, lambda: len(screen.changes) == 4)


async def test_no_checkpoint_says_so_and_c_takes_one(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    info = await service.create(SandboxSpec(name="box"))
    await service.write_file(info.id, "a.txt", b"a\n")
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_workspace(pilot, app)
        await run_from_palette(pilot, app, "changes", "Changes")
        await wait_until(pilot, lambda: isinstance(app.screen, ChangesScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, ChangesScreen)
        assert "no checkpoint yet" in str(screen.query_one("#changes-empty").render())
        await pilot.press("c")
        await wait_until(pilot, lambda: app.focused is not None and app.focused.id == "value")
        await pilot.press(*"first", "enter")
        await wait_until(pilot, lambda: app.screen is screen and screen.since is not None)
        assert screen.since is not None and screen.since.message == "first"
        assert "No changes since" in str(screen.query_one("#changes-empty").render())
        await service.write_file(info.id, "b.txt", b"b\n")
        await pilot.press("f5")
        await wait_until(pilot, lambda: [r.split()[:2] for r in tree_rows(screen)] == [["A", "b.txt"]])


async def test_file_names_with_markup_and_escapes_show_literally(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    info = await service.create(SandboxSpec(name="box"))
    await service.checkpoints.create(info.id, "[b]msg[/b]")
    evil = "[bold red]x \x1b[31mboom.txt"
    await service.write_file(info.id, evil, b"[bold]content[/bold]\n")
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_changes(pilot, app)
        rows = tree_rows(screen)
        assert len(rows) == 1 and "[bold red]x" in rows[0] and "\x1b" not in rows[0], rows
        assert "“[b]msg[/b]”" in str(screen.query_one("#changes-title").render())
        view = await select(pilot, screen, evil)
        assert "+[bold]content[/bold]" in diff_text(view)


async def test_folder_restore_the_picker_and_help(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_changes(pilot, app)
        # the folder row: its summary in the diff side, and r restores everything beneath it
        tree = screen.query_one(ChangesTree)
        assert tree.select_key("src")
        await wait_until(pilot, lambda: "src/: 1 A, 1 M beneath it" in diff_text(screen.query_one(DiffView)))
        await pilot.press("r")
        await wait_until(pilot, lambda: not any("src" in r for r in tree_rows(screen)))
        assert (await service.read_file(box.id, "src/mod.txt")).data == MOD_BEFORE
        assert "new.txt" not in {e.name for e in await service.list_dir(box.id, "src")}
        # p: the picker lists every checkpoint (the restore took one of the state before it): compare with that
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, CheckpointPicker))
        ckpts, _ = await service.checkpoints.list_checkpoints(box.id)
        before = next(c for c in ckpts if c.kind == "before-restore")  # (automatic ones may be there too)
        picker = app.screen.query_one(OptionList)
        assert picker.option_count == len(ckpts)
        assert picker.get_option_at_index(0).id == before.id  # newest first
        await pilot.press("home", "enter")
        await wait_until(
            pilot, lambda: app.screen is screen and screen.since is not None and screen.since.id == before.id
        )
        await wait_until(pilot, lambda: any("src" in r for r in tree_rows(screen)), "the changes since it")
        rows = " ".join(tree_rows(screen))
        assert "M mod.txt" in rows and "D new.txt" in rows  # what the folder restore undid, seen from before it
        # help lists the view's keys
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        groups = dict(help_screen.groups)
        assert {"Restore", "Restore hunk", "Roll back all", "Compare with…"} <= {
            e.key.description for e in groups["Changes"]
        }


async def test_beside_git_the_workspace_changes_show_and_the_repository_folder_starts_folded(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    info = await service.create(SandboxSpec(name="box"))
    await service.write_file(info.id, "main.py", b"print('one')\n")
    await sh(service, info.id, f"{INIT} && git add -A && git commit -qm one")
    await service.checkpoints.create(info.id, "committed")
    await sh(service, info.id, "printf \"print('two')\\n\" > main.py && git commit -qam two")
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_changes(pilot, app)
        rows = tree_rows(screen)
        assert rows[0].startswith("▸ .git/") and "M main.py" in " ".join(rows), rows
        view = await select(pilot, screen, "main.py")
        assert "+print('two')" in diff_text(view)
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is screen and not screen.changes)
        # the repository went back with the files: git itself says the last commit is "one" again
        assert (await sh(service, info.id, "git log --format=%s")).split() == ["one"]
        assert (await service.read_file(info.id, "main.py")).data == b"print('one')\n"


async def test_binary_and_too_large_files_are_named_not_shown(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    from services.checkpoints.changes import DIFF_LIMIT

    info = await service.create(SandboxSpec(name="box"))
    await service.checkpoints.create(info.id, "empty")
    await service.write_file(info.id, "blob.bin", b"\x00\x01\x02binary")
    await service.write_file(info.id, "huge.txt", b"x\n" * (DIFF_LIMIT // 2 + 1))
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_changes(pilot, app)
        view = await select(pilot, screen, "blob.bin")
        assert "binary file: not shown" in diff_text(view)
        view = await select(pilot, screen, "huge.txt")
        assert "huge.txt: over 1024 KiB, not diffed" in diff_text(view)


async def test_e_opens_the_selected_file_in_the_editor(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    from widgets.editor import EditorTabs

    app = make_app()  # the real editor
    async with app.run_test(size=(120, 36)) as pilot:
        workspace = await open_workspace(pilot, app)
        screen = await open_changes(pilot, app)
        await select(pilot, screen, "src/mod.txt")
        await pilot.press("e")
        editor = workspace.query_one(EditorTabs)
        await wait_until(pilot, lambda: app.screen is workspace and editor.active_path == "src/mod.txt")


async def test_the_undo_hint_of_a_restore_stays_in_the_status_line_over_a_dialog(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    """A file restored at 80x24: its toast names the undo checkpoint, a dialog opened next clears the toasts, and
    the view's status line still says how to undo it."""
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_changes(pilot, app)
        status = screen.query_one("#restore-status", Static)
        assert not status.display
        await select(pilot, screen, "src/mod.txt")
        await pilot.press("r")
        await wait_until(pilot, lambda: status.display and "undo: restore checkpoint" in str(status.render()))
        assert str(status.render()).startswith("last restore: src/mod.txt restored from")
        await pilot.press("c")  # take a checkpoint: a dialog, which clears the toasts
        await wait_until(pilot, lambda: app.focused is not None and app.focused.id == "value")
        assert not any("undo: restore checkpoint" in n for n in notifications(app))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        assert "undo: restore checkpoint" in str(status.render()) and status.region.height == 1
