"""Deleting checkpoints and the retention of automatic ones (real local sandboxes, real bubblewrap): a deleted
middle checkpoint's children — in its sandbox and in a fork — stay restorable byte for byte; garbage collection
frees exactly the blobs nothing names any more; retention drops the oldest automatic checkpoints and keeps named
ones; the checkpoint the workspace is at is never deleted."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from services.checkpoints import CheckpointNotFound
from services.checkpoints.retention import expired
from services.checkpoints.store import Checkpoint
from services.config import Config
from services.errors import InvalidInput
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService

pytestmark = pytest.mark.bwrap


def blob(home: Path, data: bytes) -> Path:
    sha = hashlib.sha256(data).hexdigest()
    return home / "store" / "objects" / sha[:2] / sha[2:]


def blobs(home: Path) -> set[str]:
    return {p.parent.name + p.name for p in (home / "store" / "objects").rglob("*") if p.is_file()}


async def sh(svc: SandboxService, box: SandboxInfo, script: str) -> bytes:
    r = await svc.exec(box.id, ["sh", "-c", script])
    assert r.exit_code == 0, r.stderr
    return r.stdout


async def test_deleting_a_middle_checkpoint_keeps_children_restorable_and_frees_only_its_blobs(
    service: SandboxService, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    cps = service.checkpoints
    await sh(service, sandbox, "printf 'A1' > a.txt && printf 'B' > b.txt")
    c1 = await cps.create(sandbox.id, "one")
    await sh(service, sandbox, "printf 'A2' > a.txt && printf 'U-only-in-c2' > u.txt && printf 'F' > f.txt")
    c2 = await cps.create(sandbox.id, "two")
    await sh(service, sandbox, "printf 'A3' > a.txt && rm u.txt")
    c3 = await cps.create(sandbox.id, "three")
    await sh(service, sandbox, "printf 'A4' > a.txt && mkdir -p d/e && ln -s ../a.txt d/link")
    c4 = await cps.create(sandbox.id, "four")
    await sh(service, sandbox, "printf 'A5' > a.txt")
    await cps.create(sandbox.id, "five (head)")
    # a fork from the middle checkpoint: its first checkpoint's parent is c2, in another sandbox
    forked, first = await cps.fork(sandbox.id, "fork-of-two", c2.id)
    assert (first.parent, first.parent_sandbox) == (c2.id, sandbox.id)

    before = blobs(sandbench_home)
    gone = await cps.delete(sandbox.id, c2.id[:6])
    assert gone.ids == [c2.id]
    assert set(gone.rebased) == {c3.id, first.id}
    with pytest.raises(CheckpointNotFound):
        cps.resolve(sandbox.id, c2.id)
    assert {c.id: c.parent for c in (await cps.list_checkpoints(sandbox.id))[0]}[c3.id] == c1.id
    assert (await cps.list_checkpoints(forked.id))[0][0].parent == c1.id
    # A2 and U were c2's alone in this sandbox, but the fork's checkpoint still names them: nothing is freed
    assert blobs(sandbench_home) == before and gone.blobs_freed == 0

    gone = await cps.delete(sandbox.id, c3.id)
    assert gone.rebased == [c4.id]
    assert before - blobs(sandbench_home) == {hashlib.sha256(b"A3").hexdigest()}  # A3 was c3's alone
    for kept in (b"A1", b"A2", b"A4", b"A5", b"B", b"U-only-in-c2", b"F"):
        assert blob(sandbench_home, kept).exists()

    # every remaining child restores byte for byte
    await cps.restore(sandbox.id, c4.id)
    assert await sh(service, sandbox, "cat a.txt b.txt f.txt d/link; ls; readlink d/link") == (
        b"A4BFA4" + b"a.txt\nb.txt\nd\nf.txt\n" + b"../a.txt\n"
    )
    await cps.restore(sandbox.id, c1.id)
    assert await sh(service, sandbox, "cat a.txt b.txt; ls") == b"A1B" + b"a.txt\nb.txt\n"
    await sh(service, forked, "printf changed > a.txt")
    await cps.restore(forked.id, first.id)
    assert await sh(service, forked, "cat a.txt u.txt f.txt") == b"A2U-only-in-c2F"

    head = cps.resolve(sandbox.id, None)
    with pytest.raises(InvalidInput, match="HEAD"):
        await cps.delete(sandbox.id, head.id)
    audit = [json.loads(x) for x in (sandbench_home / "audit.jsonl").read_text().splitlines()]
    assert any(e["op"] == "checkpoint-delete" and e.get("name") == c2.id for e in audit)


async def test_retention_drops_the_oldest_automatic_checkpoints_and_keeps_named_ones(
    provider: LocalProvider, config: Config, sandbench_home: Path
) -> None:
    svc = SandboxService(provider, dataclasses.replace(config, auto_checkpoint=True, auto_checkpoint_keep=4))
    try:
        box = await svc.create(SandboxSpec(name="kept"))
        named = await svc.checkpoints.create(box.id, "named, kept until deleted")
        afters = []
        for i in range(12):
            await sh(svc, box, f"echo {i} > n.txt && printf 'v{i}' > v{i}.txt")
            line = (sandbench_home / "audit.jsonl").read_text().splitlines()[-1]
            afters.append(json.loads(line)["after"])
        ckpts, _head = await svc.checkpoints.list_checkpoints(box.id)
        auto = [c for c in ckpts if c.kind == "auto"]
        assert 4 <= len(auto) <= 5  # pruned in batches: down to 4 once over 5
        assert named.id in {c.id for c in ckpts}
        assert afters[-4:] == [c.id for c in auto][-4:]  # the newest stay
        assert afters[0] not in {c.id for c in ckpts}
        # what is left is whole: the named one and the newest restore exactly
        await svc.checkpoints.restore(box.id, named.id)
        assert await sh(svc, box, "ls") == b""
        await svc.checkpoints.restore(box.id, afters[-1])
        assert await sh(svc, box, "cat n.txt v11.txt v0.txt") == b"11\nv11v0"
        # blobs of contents only the dropped checkpoints held are gone ("0\n" was only ever n.txt's first content)
        assert not blob(sandbench_home, b"0\n").exists()
        assert blob(sandbench_home, b"v0").exists()
    finally:
        svc.audit.close()


def ckpt(i: int, kind: str, age_days: float, now: float) -> Checkpoint:
    return Checkpoint(f"{i:012x}", "s", None, None, now - age_days * 86400, "", "t", kind, 0, 0, 0, 0, 0, 0)


def test_expiry_by_count_and_by_age_never_touches_head_or_named() -> None:
    now = 1_000_000_000.0
    cs = [ckpt(i, "auto", age_days=10 - i, now=now) for i in range(10)] + [ckpt(99, "manual", 30, now)]
    assert expired(cs, None, keep=3, days=0, now=now) == [f"{i:012x}" for i in range(6, -1, -1)]
    assert expired(cs, None, keep=0, days=7.5, now=now) == [f"{i:012x}" for i in (2, 1, 0)]
    assert expired(cs, f"{0:012x}", keep=0, days=7.5, now=now) == [f"{i:012x}" for i in (2, 1)]
    assert expired(cs, None, keep=0, days=0, now=now) == []


async def test_deleting_full_manifests_in_a_long_chain_keeps_every_chain_readable(
    service: SandboxService, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    from services.checkpoints.store import MAX_CHAIN, CheckpointStore

    cps = service.checkpoints
    made = []
    for i in range(MAX_CHAIN + 4):
        await sh(service, sandbox, f"echo {i} > f{i % 5}.txt")
        made.append(await cps.create(sandbox.id, f"c{i}"))
    depths = [cps.store.depth(c) for c in made]
    assert depths[0] == 0 and depths[MAX_CHAIN] == 0  # the full ones
    expected = {c.id: {e.path: e.ref for e in cps.store.manifest(c)} for c in made}
    await cps.delete(sandbox.id, made[0].id)
    await cps.delete(sandbox.id, made[MAX_CHAIN].id)
    await cps.delete(sandbox.id, made[MAX_CHAIN - 1].id)
    fresh = CheckpointStore(sandbench_home)  # no cache: every chain read from disk
    left = fresh.all(sandbox.id)
    assert len(left) == len(made) - 3
    for c in left:
        assert {e.path: e.ref for e in fresh.manifest(c)} == expected[c.id]
