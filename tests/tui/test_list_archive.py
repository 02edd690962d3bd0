"""Archiving from the sandbox list: `a` archives the selected sandbox (no workspace is open: nothing to ask)."""

from __future__ import annotations

from collections.abc import Callable

from services.models import SandboxSpec, SandboxState
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.test_list import _started
from tui.app import SandbenchApp


async def test_a_archives_the_selected_sandbox(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    box = await service.create(SandboxSpec(name="box"))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _started(pilot, app)
        await pilot.press("a")
        await wait_until(pilot, lambda: screen.table.get_info(box.id).state is SandboxState.ARCHIVED, timeout=60)  # type: ignore[union-attr]
        assert (await service.get(box.id)).state is SandboxState.ARCHIVED
