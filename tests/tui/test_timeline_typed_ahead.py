"""`r` (restore to before an entry) and `y` typed fast in the Timeline: the confirmation was pushed only after the
checkpoints and the changes were listed, so the `y` reached the Timeline (nothing) and the dialog then waited for
another. It opens at once now and works out its question itself: the `y` answers it. Real app, real local sandbox
(no process runs in it: the command is a file write through the service)."""

from __future__ import annotations

from collections.abc import Callable

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import notifications
from tests.tui.test_list_typed_ahead import burst
from tests.tui.test_timeline_app import open_from_list, rows
from tui.app import SandbenchApp
from widgets.dialogs import ConfirmDialog


async def test_r_then_y_typed_fast_restores(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.write_file(box.id, "notes.txt", b"kept\n")
    await service.checkpoints.create(box.id, "before the write")
    await service.write_file(box.id, "notes.txt", b"overwritten\n")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        await wait_until(pilot, lambda: rows(screen)[:1] == ["write notes.txt"], show=lambda: repr(rows(screen)))
        burst(app, "r", "y")
        await wait_until(pilot, lambda: screen.undo_id is not None, "restored", timeout=30)
        assert app.screen is screen
        assert (await service.read_file(box.id, "notes.txt")).data == b"kept\n"


async def test_r_with_nothing_to_restore_closes_its_dialog_and_says_so(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.checkpoints.create(box.id, "first")
    await service.write_file(box.id, "notes.txt", b"same\n")
    await service.checkpoints.create(box.id, "second")
    await service.write_file(box.id, "notes.txt", b"same\n")  # rewritten unchanged: nothing to go back to
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_from_list(pilot, app)
        await wait_until(pilot, lambda: rows(screen)[:1] == ["write notes.txt"], show=lambda: repr(rows(screen)))
        burst(app, "r", "y")
        await wait_until(pilot, lambda: any("nothing to restore" in n for n in notifications(app)), timeout=30)
        assert app.screen is screen and not any(isinstance(s, ConfirmDialog) for s in app.screen_stack)
        assert screen.undo_id is None
