"""Automatic checkpoints around commands (issue 13 §1): each exec's own file changes, known from the store.

On when the sandbox's label `sandbench.auto-checkpoint` says `on` (`off` turns it off), else when the config's
`auto_checkpoint` is true. Then every exec through the service that may change files (`internal=False`) is
bracketed: before it, a metadata scan — a checkpoint of kind `auto` only if the workspace moved since the head —,
after it, another — a checkpoint only if something changed. The exec's audit entry names both (`before`, `after`;
`after` is null when the command changed nothing), so `between(before, after)` is exactly what it did.

The scans run under the store lock, so concurrent execs in one sandbox never corrupt the store; but commands that
overlap in time share their changes (a file written by one while the other runs shows in whichever's `after` scan
comes first). The same goes for a terminal or a background process writing while a command runs.

If the scan before a command fails (a FIFO in the workspace, over the size limit), the command is refused, with
the reason: the user asked for every command's changes to be kept. If the scan after it fails, the command has run:
its `after` is null and the reason is logged; the next command's `before` catches the change.

Local sandboxes only: on Daytona, turning it on is refused (another issue maps checkpoints there).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from services.errors import InvalidInput, SandbenchError
from services.models import SandboxInfo

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService

log = logging.getLogger(__name__)

LABEL = "sandbench.auto-checkpoint"
VALUES = ("on", "off")


def enabled(svc: SandboxService, info: SandboxInfo) -> bool:
    value = info.labels.get(LABEL)
    if value in VALUES:
        return value == "on"
    return svc.config.auto_checkpoint


def refuse_unless_local(svc: SandboxService) -> None:
    if svc.provider.name != "local":
        raise InvalidInput(
            f"automatic checkpoints are available for local sandboxes only, not {svc.provider.name} ones: "
            "set auto_checkpoint = false in the config (or `sandbench config NAME auto-checkpoint off`)"
        )


class Bracket:
    """The two checkpoints around one exec."""

    def __init__(self, svc: SandboxService, sandbox_id: str, summary: str) -> None:
        self.svc = svc
        self.sandbox_id = sandbox_id
        self.summary = summary
        self.before_id: str | None = None

    async def before(self) -> str:
        cps = self.svc.checkpoints
        try:
            ws = cps._workspace(self.sandbox_id)
            ckpt = await asyncio.to_thread(
                cps._checkpoint_sync, ws, f"before: {self.summary}"[:500], "auto", if_changed=True
            )
        except SandbenchError as exc:
            raise type(exc)(
                f"automatic checkpoint before the command failed, so it was not run: {exc.message} "
                "(`sandbench config NAME auto-checkpoint off` runs commands without them)"
            ) from exc
        self.before_id = ckpt.id
        return ckpt.id

    async def after(self) -> str | None:
        cps = self.svc.checkpoints
        try:
            ws = cps._workspace(self.sandbox_id)
            ckpt = await asyncio.to_thread(
                cps._checkpoint_sync, ws, f"after: {self.summary}"[:500], "auto", if_changed=True
            )
        except SandbenchError as exc:
            log.warning("automatic checkpoint after a command in %s failed: %s", self.sandbox_id, exc.message)
            return None
        if ckpt.id == self.before_id:
            return None  # the command changed nothing
        from services.checkpoints.retention import maybe_prune

        await maybe_prune(self.svc, self.sandbox_id)
        return ckpt.id


def state(svc: SandboxService, info: SandboxInfo) -> tuple[bool, str]:
    """Whether automatic checkpoints are on for this sandbox, and where that comes from ("sandbox" or "config")."""
    value = info.labels.get(LABEL)
    return enabled(svc, info), "sandbox" if value in VALUES else "config"


async def set_auto(svc: SandboxService, sandbox_id: str, value: str) -> SandboxInfo:
    """Turn automatic checkpoints `on` or `off` for one sandbox, or back to the config's `default`."""
    if value not in (*VALUES, "default"):
        raise InvalidInput("auto-checkpoint is on, off or default")
    if value == "on":
        refuse_unless_local(svc)
    info = await svc.get(sandbox_id)
    labels = {k: v for k, v in info.labels.items() if k != LABEL}
    if value != "default":
        labels[LABEL] = value
    return await svc.set_labels(sandbox_id, labels)


async def bracket(svc: SandboxService, sandbox_id: str, summary: str) -> Bracket | None:
    """The bracket for one exec in `sandbox_id`, or None when automatic checkpoints are off for it."""
    info = svc.cached(sandbox_id)
    if info is None or not enabled(svc, info):
        return None
    refuse_unless_local(svc)
    return Bracket(svc, sandbox_id, summary)
