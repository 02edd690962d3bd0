"""Snapshots of a widget over a real sandbox, shared by the terminal and git panel snapshot tests.

`snap_compare` runs the app in its own event loop, so the sandbox is created inside it (`run_before`), the test's
`build` mounts and prepares its widget there, and the sandbox is deleted once the frame is taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Static

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService

Build = Callable[[Pilot[None], SandboxService, str], Awaitable[None]]
WIDE = (160, 48)  # DESIGN §6: every screen at 80x24 and at 160x48


class SnapApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("")


def snap_in_sandbox(snap_compare: Any, config: Config, build: Build, size: tuple[int, int] = (80, 24)) -> bool:
    provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
    service = SandboxService(provider, config)
    created: list[str] = []

    async def run_before(pilot: Pilot[None]) -> None:
        info = await service.create(SandboxSpec(name="snap"))
        created.append(info.id)
        await build(pilot, service, info.id)

    try:
        return bool(snap_compare(SnapApp(), terminal_size=size, run_before=run_before))
    finally:

        async def cleanup() -> None:
            for sid in created:
                await provider.delete(sid)
            await provider.close()

        asyncio.run(cleanup())
        service.audit.close()
