"""Deleting checkpoints, and the retention of automatic ones (issue 13 §1), with the store's garbage collection.

Deleting a checkpoint re-bases its children — in any sandbox: a fork's first checkpoint has its source as parent —
onto its own parent (services/checkpoints/store.py `rebase`: the same entries, written as a delta on the new parent
or in full), then removes its record and manifest, then collects garbage: every blob no manifest of any sandbox
names any more is removed (mark and sweep, under the store lock, so no checkpoint is half-written meanwhile; the
store is per data dir and shared, and a blob another sandbox's checkpoint still names is marked by it).

The checkpoint a sandbox's workspace is at (HEAD) is never deleted: it is the parent of the next one and the stat
cache of the next scan. Take a checkpoint first, then delete the old one.

A named snapshot's checkpoint (kind `snapshot`) is kept by the snapshot's row, so deleting it as a checkpoint is
refused: it goes when its snapshot is deleted (`allow_protected`, the provider's call). Until then its manifest
names its blobs, so the sweep keeps them. An archived sandbox's checkpoint (kind `archive`) is its HEAD until a
start restores from it, so it is kept the same way.

Retention: an automatic checkpoint (kind `auto`) goes once it is beyond the newest `auto_checkpoint_keep` of its
sandbox or older than `auto_checkpoint_days` (0 turns either bound off); every other kind is kept until deleted.
It runs after an automatic checkpoint is taken, in batches (so that one exec does not pay a collection each time):
when the count is a tenth over the bound, or at most once an hour for age.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.checkpoints.store import Checkpoint, CheckpointStore
from services.errors import InvalidInput, SandbenchError

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService

log = logging.getLogger(__name__)
AGE_EVERY = 3600.0  # seconds between age-only passes per sandbox (per process)
_last_age_pass: dict[tuple[str, str], float] = {}


@dataclass(frozen=True)
class Deleted:
    ids: list[str]
    rebased: list[str]  # children (any sandbox) moved onto the deleted ones' parents
    blobs_freed: int
    bytes_freed: int


def _all(store: CheckpointStore) -> dict[tuple[str, str], Checkpoint]:
    return {(c.sandbox, c.id): c for s in store.sandboxes() for c in store.all(s)}


def delete_locked(store: CheckpointStore, sandbox_id: str, ids: list[str], *, allow_protected: bool = False) -> Deleted:
    """Delete checkpoints `ids` of `sandbox_id` (the store lock held), re-basing children, then collect garbage.
    A snapshot's or an archive's checkpoint is refused unless `allow_protected` (its owner's own delete)."""
    from services.checkpoints.states import PROTECTED_KINDS

    known = _all(store)
    head = store.head(sandbox_id)
    gone: set[tuple[str, str]] = set()
    rebased: list[str] = []
    for ckpt_id in ids:
        key = (sandbox_id, ckpt_id)
        victim = known.get(key)
        if victim is None:
            continue
        if victim.kind in PROTECTED_KINDS and not allow_protected:
            raise InvalidInput(f"checkpoint {ckpt_id} holds snapshot {victim.name!r}: delete the snapshot instead")
        if ckpt_id == head:
            raise InvalidInput(
                f"checkpoint {ckpt_id} is the state the workspace is at (HEAD): take a checkpoint, then delete it"
            )
        parent = _live_parent(victim, known)
        for child in [c for c in known.values() if _parent_key(c) == key]:
            moved = store.rebase(child, parent)
            known[(child.sandbox, child.id)] = moved
            rebased.append(child.id)
        store.remove(victim)
        del known[key]
        gone.add(key)
    freed = store.sweep(store.referenced_blobs()) if gone else (0, 0)
    return Deleted([k[1] for k in gone], [r for r in rebased if (sandbox_id, r) not in gone], *freed)


def _parent_key(c: Checkpoint) -> tuple[str, str] | None:
    return (c.parent_sandbox or c.sandbox, c.parent) if c.parent else None


def _live_parent(c: Checkpoint, known: dict[tuple[str, str], Checkpoint]) -> Checkpoint | None:
    key = _parent_key(c)
    return known.get(key) if key else None


def expired(ckpts: list[Checkpoint], head: str | None, keep: int, days: float, now: float) -> list[str]:
    """The automatic checkpoints retention drops: beyond the newest `keep`, or older than `days` (0: no bound);
    never HEAD."""
    auto = sorted((c for c in ckpts if c.kind == "auto"), key=lambda c: (c.created_at, c.id), reverse=True)
    out = []
    for i, c in enumerate(auto):
        if c.id == head:
            continue
        if (keep > 0 and i >= keep) or (days > 0 and now - c.created_at > days * 86400):
            out.append(c.id)
    return out


async def maybe_prune(svc: SandboxService, sandbox_id: str, *, force: bool = False) -> Deleted | None:
    """Apply retention to `sandbox_id` when it is due (see the module's docstring); `force`: now."""
    keep, days = svc.config.auto_checkpoint_keep, svc.config.auto_checkpoint_days
    store = svc.checkpoints.store
    slot = (str(store.root), sandbox_id)
    now = time.time()

    def run() -> Deleted | None:
        ckpts = store.all(sandbox_id)
        auto = sum(1 for c in ckpts if c.kind == "auto")
        over = keep > 0 and auto > keep + max(1, keep // 10)
        aged = days > 0 and now - _last_age_pass.get(slot, 0.0) >= AGE_EVERY
        if not (force or over or aged):
            return None
        with store.locked():
            _last_age_pass[slot] = now
            drop = expired(store.all(sandbox_id), store.head(sandbox_id), keep, days, now)
            return delete_locked(store, sandbox_id, drop) if drop else None

    try:
        result = await asyncio.to_thread(run)
    except (SandbenchError, OSError):
        log.warning("retention of %s's checkpoints failed; the next pass tries again", sandbox_id, exc_info=True)
        return None  # housekeeping: the exec it follows has run
    if result is not None and result.ids:
        svc.audit.record("checkpoint-prune", sandbox=sandbox_id, name=f"{len(result.ids)} automatic")
    return result
