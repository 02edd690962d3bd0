"""Automatic checkpoints around commands (issue 13 §1): each exec's own file changes, known from the store.

On when the sandbox's label `sandbench.auto-checkpoint` says `on` (`off` turns it off), else when the config's
`auto_checkpoint` is true. Then every exec through the service that may change files (`internal=False`) is
bracketed: before it, a metadata scan — a checkpoint of kind `auto` only if the workspace moved since the head —,
after it, another — a checkpoint only if something changed. The exec's audit entry names both (`before`, `after`;
`after` is null when the command changed nothing), so `between(before, after)` is exactly what it did.

The scans run under the store lock, so concurrent execs in one sandbox never corrupt the store; but commands that
overlap in time share their changes (a file written by one while the other runs shows in whichever's `after` scan
comes first). The same goes for a terminal or a background process writing while a command runs.

The scan before a command (and the one a restore checkpoints the state before it with: `still_clean`) is skipped
when the workspace provably has not moved since the last command's scan after (so a run of commands costs one scan
each): a marker (`store/checkpoints/<sandbox>/clean`) written after that scan
names the head it left and the state of the sandbox's launch folder (`run/<sandbox>/`, where every process started
in the sandbox, by any sandbench process, records itself while it lives). It holds while the head is the same, no
restore left a stat cache, no process is alive in the sandbox and none was started since (the folder's mtime and
ctime are unchanged), and no host-side write went through the service (every write unlinks the marker). Anything
else — a terminal, an internal probe, a command with automatic checkpoints off, a file saved in the app — makes the
next command scan first.

In a long-lived process (the app, `sandbench serve`) each scan comes from the sandbox's change feed
(services/checkpoints/feed.py) and costs what the command changed, so a scan the marker cannot skip is cheap too.

If the scan before a command fails (a FIFO in the workspace, over the size limit), the command is refused, with
the reason: the user asked for every command's changes to be kept. If the scan after it fails, the command has run:
its `after` is null and the reason is logged; the next command's `before` catches the change.

Local sandboxes only: on Daytona, turning it on is refused (checkpoints work there, services/checkpoints/remote.py,
but each scan is a remote exec, too dear to add to every command).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.errors import InvalidInput, SandbenchError
from services.models import SandboxInfo

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService

log = logging.getLogger(__name__)

LABEL = "sandbench.auto-checkpoint"
VALUES = ("on", "off")
MARKER = "clean"
SETTLE_NS = 50_000_000  # a launch-folder change this recent may share a coarse timestamp with one still to come


def marker_path(data_dir: Path, sandbox_id: str) -> Path:
    """The marker's path; InvalidInput for anything that is not a sandbox id (it comes from callers, even URLs)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", sandbox_id) or sandbox_id in (".", ".."):
        raise InvalidInput("not a sandbox id")
    return data_dir / "store" / "checkpoints" / sandbox_id / MARKER


def forget_clean(data_dir: Path, sandbox_id: str) -> None:
    """The workspace may have moved outside a bracketed command: the next one scans before it runs."""
    with contextlib.suppress(OSError, InvalidInput):
        marker_path(data_dir, sandbox_id).unlink(missing_ok=True)


def _launches(provider: Any, sandbox_id: str) -> tuple[list[int], bool] | None:
    """(mtime_ns, ctime_ns) of the sandbox's launch folder and whether it is empty; None when unknowable."""
    launcher = getattr(provider, "launcher", None)
    run_dir = getattr(launcher, "run_dir", None)
    if not isinstance(run_dir, Path):
        return None
    d = run_dir / sandbox_id
    try:
        st = os.stat(d)
    except FileNotFoundError:
        return [0, 0], True
    except OSError:
        return None
    try:
        empty = not os.listdir(d)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_ctime_ns], empty


def still_clean(svc: SandboxService, sandbox_id: str) -> str | None:
    """The head, when the marker proves nothing moved since the last command's scan after (see above): the head
    checkpoint is then the workspace as it is, and a scan would find just that. Used before a command and before
    a restore (whose checkpoint of the state before it is then the head itself)."""
    store = svc.checkpoints.store
    try:
        doc = json.loads(marker_path(svc.config.data_dir, sandbox_id).read_bytes())
    except (OSError, ValueError):
        return None
    head = store.head(sandbox_id)
    if not isinstance(doc, dict) or head is None or doc.get("head") != head:
        return None
    if (store.checkpoints / sandbox_id / "index.json").exists():
        return None
    now = _launches(svc.provider, sandbox_id)
    if now is None or not now[1] or now[0] != doc.get("run"):
        return None
    return head


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

    def _still_clean(self) -> str | None:
        return still_clean(self.svc, self.sandbox_id)

    def _mark_clean(self, head: str, pre: tuple[list[int], bool] | None) -> None:
        """After the scan after: what the next command's `_still_clean` compares with. Only when the launch folder
        was empty and did not change while the scan ran (`pre`: its state before), and its last change is old
        enough that a later one cannot share its coarse timestamp."""
        now = _launches(self.svc.provider, self.sandbox_id)
        if pre is None or now != pre or not now[1] or time.time_ns() - max(now[0]) < SETTLE_NS:
            return
        path = marker_path(self.svc.config.data_dir, self.sandbox_id)
        tmp = path.with_name(f".{MARKER}.{os.getpid()}.{id(self)}")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps({"head": head, "run": now[0]}))
            os.chmod(tmp, 0o600)
            os.rename(tmp, path)

    async def before(self) -> str:
        cps = self.svc.checkpoints
        cps._bind()
        head = await asyncio.to_thread(self._still_clean)
        forget_clean(self.svc.config.data_dir, self.sandbox_id)  # this command may move it: scan after it ends
        if head is not None:
            self.svc.counters["auto-checkpoint.before-skipped"] += 1
            self.before_id = head
            return head
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
        pre = await asyncio.to_thread(_launches, self.svc.provider, self.sandbox_id)
        try:
            ws = cps._workspace(self.sandbox_id)
            ckpt = await asyncio.to_thread(
                cps._checkpoint_sync, ws, f"after: {self.summary}"[:500], "auto", if_changed=True
            )
        except SandbenchError as exc:
            log.warning("automatic checkpoint after a command in %s failed: %s", self.sandbox_id, exc.message)
            return None
        await asyncio.to_thread(self._mark_clean, ckpt.id, pre)
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
