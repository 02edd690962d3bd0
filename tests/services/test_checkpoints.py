"""Checkpoints of real local sandboxes (issue 13 §1): a content-addressed store that costs what changed, restore
(whole or given paths, always undoable), changes and diffs, fork, and the adversarial cases — symlinks planted to
lead outside, FIFOs, files swapped for symlinks after the checkpoint. Files are made by commands run inside the
sandbox (real bubblewrap) where that is what hostile code would do, on the host where only size matters."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from pathlib import Path

import pytest

from services.checkpoints import CheckpointNotFound
from services.checkpoints.scan import RACY_NS
from services.errors import FileNotFound, InvalidInput, TooLarge
from services.local.provider import LocalProvider
from services.models import SandboxInfo
from services.sandbox_service import SandboxService

pytestmark = pytest.mark.bwrap


async def sh(service: SandboxService, box: SandboxInfo, script: str) -> str:
    r = await service.exec(box.id, ["sh", "-c", script])
    assert r.exit_code == 0, r.stderr
    return r.stdout.decode() if isinstance(r.stdout, bytes) else str(r.stdout)


def blobs(home: Path) -> set[str]:
    return {str(p) for p in (home / "store" / "objects").rglob("*") if p.is_file()}


def settle(*files: Path) -> None:
    """Wait until the files' timestamps are older than the racy window, so their metadata can vouch for them
    (a condition on the clock, not a fixed sleep)."""
    newest = max(max(f.lstat().st_mtime_ns, f.lstat().st_ctime_ns) for f in files)
    while time.time_ns() < newest + RACY_NS + 1_000_000:
        time.sleep(0.005)


async def test_second_checkpoint_with_one_changed_file_stores_one_blob(
    service: SandboxService, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    await sh(service, sandbox, "mkdir -p src && for i in 1 2 3 4 5; do echo file $i > src/f$i.txt; done")
    first = await service.checkpoints.create(sandbox.id, "five files")
    assert (first.files, first.files_added, first.parent) == (5, 5, None)
    before = blobs(sandbench_home)
    assert len(before) == 5

    await sh(service, sandbox, "echo edited >> src/f3.txt")
    second = await service.checkpoints.create(sandbox.id)
    assert second.parent == first.id
    assert (second.files, second.files_added) == (5, 1)
    assert second.bytes_added == len("file 3\nedited\n")
    assert len(blobs(sandbench_home) - before) == 1

    await sh(service, sandbox, "cp src/f1.txt copy-of-f1.txt")  # same content: no new blob at all
    third = await service.checkpoints.create(sandbox.id)
    assert (third.files, third.files_added, third.bytes_added) == (6, 0, 0)


async def test_an_unchanged_50_mb_file_is_not_hashed_again(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    ws = provider.workspace_path(sandbox.id)
    big = ws / "big.bin"
    await service.write_file(sandbox.id, "big.bin", os.urandom(1024 * 1024) * 50)  # owned by the sandbox's uid
    await service.write_file(sandbox.id, "small.txt", b"one\n")
    settle(big, ws / "small.txt")
    first = await service.checkpoints.create(sandbox.id)
    assert first.hashed_bytes >= 50 * 1024 * 1024

    await sh(service, sandbox, "echo two >> small.txt")
    started = time.perf_counter()
    second = await service.checkpoints.create(sandbox.id)
    took = time.perf_counter() - started
    assert second.hashed_files == 1 and second.hashed_bytes == len("one\ntwo\n")  # only what moved was read
    assert second.bytes >= 50 * 1024 * 1024 and second.files_added == 1
    assert took < 1.0, f"{took:.2f} s for a checkpoint that reads 8 bytes"

    # metadata that moved without content moving: hashed again, found equal, nothing stored
    os.utime(big, ns=(big.stat().st_atime_ns, big.stat().st_mtime_ns + 1_000_000_000))
    third = await service.checkpoints.create(sandbox.id)
    assert third.hashed_bytes >= 50 * 1024 * 1024 and third.files_added == 0


async def test_a_planted_symlink_is_kept_as_a_symlink_and_never_followed(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("host secret\n")
    ws = provider.workspace_path(sandbox.id)
    os.symlink(outside, ws / "out-dir")
    os.symlink(outside / "secret.txt", ws / "out-file")
    await sh(service, sandbox, "mkdir d && echo mine > d/f.txt && echo data > x.txt")
    ckpt = await service.checkpoints.create(sandbox.id)
    assert ckpt.files == 2  # d/f.txt and x.txt: the links are links, their targets never read
    manifest = {e.path: e for e in service.checkpoints.store.manifest(ckpt)}
    assert manifest["out-dir"].kind == "symlink" and manifest["out-dir"].ref == str(outside)
    assert manifest["out-file"].kind == "symlink"

    # after the checkpoint, the sandbox swaps the folder and the file for symlinks that lead outside
    await sh(service, sandbox, f"rm -r d x.txt && ln -s {outside} d && ln -s {outside}/secret.txt x.txt")
    await service.checkpoints.restore(sandbox.id, ckpt.id)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]  # nothing written outside
    assert (outside / "secret.txt").read_text() == "host secret\n"
    assert not (ws / "d").is_symlink() and (ws / "d" / "f.txt").read_text() == "mine\n"
    assert not (ws / "x.txt").is_symlink() and (ws / "x.txt").read_text() == "data\n"
    assert os.readlink(ws / "out-dir") == str(outside)


async def test_modes_symlinks_and_empty_folders_round_trip(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    await sh(
        service,
        sandbox,
        "printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod 755 run.sh && echo s > private && chmod 600 private"
        " && mkdir -p empty/deeper/still && chmod 700 empty/deeper && ln -s run.sh alias && ln -s nowhere dangling",
    )
    ckpt = await service.checkpoints.create(sandbox.id, "shape")
    await sh(service, sandbox, "rm -rf ./* && echo junk > junk.txt")
    result = await service.checkpoints.restore(sandbox.id, ckpt.id)
    assert result.deleted == 1  # junk.txt
    ws = provider.workspace_path(sandbox.id)
    assert stat.S_IMODE((ws / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((ws / "private").stat().st_mode) == 0o600
    assert (ws / "empty/deeper/still").is_dir() and not any((ws / "empty/deeper/still").iterdir())
    assert stat.S_IMODE((ws / "empty/deeper").stat().st_mode) == 0o700
    assert os.readlink(ws / "alias") == "run.sh" and os.readlink(ws / "dangling") == "nowhere"
    assert not (ws / "junk.txt").exists()
    assert (await sh(service, sandbox, "./run.sh")) == "hi\n"  # executable inside the sandbox again
    assert (await service.checkpoints.changes(sandbox.id, ckpt.id)).changes == []


async def test_restore_of_given_paths_leaves_the_rest_and_takes_a_checkpoint_first(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    await sh(service, sandbox, "mkdir lib && echo a1 > a.txt && echo b1 > b.txt && echo l1 > lib/l.txt")
    ckpt = await service.checkpoints.create(sandbox.id)
    await sh(service, sandbox, "echo a2 > a.txt && echo b2 > b.txt && echo l2 > lib/l.txt && echo n > lib/new.txt")

    result = await service.checkpoints.restore(sandbox.id, ckpt.id, ["a.txt", "lib"])
    ws = provider.workspace_path(sandbox.id)
    assert (ws / "a.txt").read_text() == "a1\n" and (ws / "lib/l.txt").read_text() == "l1\n"
    assert not (ws / "lib/new.txt").exists()  # not in the checkpoint, under a path asked for: removed
    assert (ws / "b.txt").read_text() == "b2\n"  # not asked for: untouched
    assert result.before.kind == "before-restore" and result.before.parent == ckpt.id

    # the checkpoint taken first makes the restore undoable
    await service.checkpoints.restore(sandbox.id, result.before.id)
    assert (ws / "a.txt").read_text() == "a2\n" and (ws / "lib/new.txt").read_text() == "n\n"

    with pytest.raises(FileNotFound):
        await service.checkpoints.restore(sandbox.id, ckpt.id, ["no/such/path"])
    with pytest.raises(CheckpointNotFound):
        await service.checkpoints.restore(sandbox.id, "0000ffff")

    audit = [json.loads(line) for line in service.config.audit_log.read_text().splitlines()]
    ops = [(a["op"], a.get("path"), a["outcome"]) for a in audit if a["op"] in ("checkpoint", "restore")]
    assert ("restore", "a.txt", "ok") in ops and ("restore", "lib", "ok") in ops
    assert ("restore", None, "ok") in ops and ("restore", None, "error:FileNotFound") in ops
    assert sum(1 for op in ops if op[0] == "checkpoint" and op[2] == "ok") == 1  # restores record their own


async def test_changes_and_diff_name_what_moved(service: SandboxService, sandbox: SandboxInfo) -> None:
    await sh(
        service,
        sandbox,
        "printf 'one\\ntwo\\n' > t.txt && printf '\\000\\001' > b.bin && echo x > gone && echo m > m.sh",
    )
    ckpt = await service.checkpoints.create(sandbox.id)
    assert (await service.checkpoints.changes(sandbox.id)).changes == []
    await sh(
        service,
        sandbox,
        "printf 'one\\n2\\n' > t.txt && printf '\\000\\002' > b.bin && rm gone && chmod 755 m.sh"
        " && echo fresh > new.txt && mkdir newdir",
    )
    cs = await service.checkpoints.changes(sandbox.id)
    assert cs.since.id == ckpt.id
    got = {c.path: (c.status, c.old_size, c.new_size) for c in cs.changes}
    assert got == {
        "b.bin": ("modified", 2, 2),
        "gone": ("deleted", 2, None),
        "m.sh": ("mode-changed", 2, 2),
        "new.txt": ("added", None, 6),
        "newdir": ("added", None, 0),
        "t.txt": ("modified", 8, 6),
    }
    _, diffs = await service.checkpoints.diff(sandbox.id)
    text = {ch.path: lines for ch, lines in diffs}
    assert text["t.txt"][:2] == ["--- a/t.txt", "+++ b/t.txt"] and "-two" in text["t.txt"] and "+2" in text["t.txt"]
    assert text["b.bin"] == ["Binary files a/b.bin and b/b.bin differ"]
    assert "+fresh" in text["new.txt"] and "-x" in text["gone"]
    assert text["m.sh"] == ["mode 644 -> 755"]


async def test_a_fifo_is_refused_and_leaves_nothing_behind(
    service: SandboxService, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    await sh(service, sandbox, "echo a > a.txt && mkfifo pipe")
    with pytest.raises(InvalidInput, match="'pipe' is a FIFO"):
        await service.checkpoints.create(sandbox.id)
    assert blobs(sandbench_home) == set()  # a.txt's blob went with the failed checkpoint
    assert not any((sandbench_home / "store" / "tmp").iterdir())
    ckpts, head = await service.checkpoints.list_checkpoints(sandbox.id)
    assert (ckpts, head) == ([], None)
    await sh(service, sandbox, "rm pipe")
    assert (await service.checkpoints.create(sandbox.id)).files == 1


async def test_limits_refuse_with_a_clear_error(service: SandboxService, sandbox: SandboxInfo) -> None:
    await sh(service, sandbox, "for i in 1 2 3 4 5 6; do echo $i > f$i; done")
    service.checkpoints.max_files = 5
    with pytest.raises(TooLarge, match="more than 5 files and folders"):
        await service.checkpoints.create(sandbox.id)
    service.checkpoints.max_files, service.checkpoints.max_bytes = 1000, 10
    with pytest.raises(TooLarge, match="checkpoint limit"):
        await service.checkpoints.create(sandbox.id)


async def test_fork_at_a_checkpoint_makes_a_sandbox_with_those_files(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    await sh(service, sandbox, "echo v1 > app.py && mkdir data && ln -s app.py main")
    ckpt = await service.checkpoints.create(sandbox.id, "v1")
    await sh(service, sandbox, "echo v2 > app.py")
    new, first = await service.checkpoints.fork(sandbox.id, "box-fork", ckpt.id)
    assert (first.parent, first.parent_sandbox, first.kind, first.files_added) == (ckpt.id, sandbox.id, "fork", 0)
    assert (await sh(service, new, "cat app.py && readlink main && test -d data && echo dir")) == "v1\napp.py\ndir\n"
    assert (await sh(service, sandbox, "cat app.py")) == "v2\n"
    assert (await service.checkpoints.changes(new.id)).changes == []


async def test_a_planted_hard_link_is_never_written_through(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo, tmp_path: Path
) -> None:
    ws = provider.workspace_path(sandbox.id)
    await sh(service, sandbox, "echo mine > hl")
    ckpt = await service.checkpoints.create(sandbox.id)
    outside = ws.parent / "host-file"  # on the workspace's filesystem, outside it
    outside.write_text("host\n")
    (ws / "hl").unlink()
    os.link(outside, ws / "hl")  # what a planted hard link would be
    await service.checkpoints.restore(sandbox.id, ckpt.id)
    assert outside.read_text() == "host\n"
    assert (ws / "hl").read_text() == "mine\n" and (ws / "hl").stat().st_ino != outside.stat().st_ino


async def test_a_file_replaced_while_checkpointed_is_the_old_or_the_new(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    a, b = b"A" * 200_000, b"B" * 300_000
    put = "head -c {n} /dev/zero | tr '\\0' {c} > t && mv t f"
    loop = (
        "end=$(( $(date +%s) + 3 )); while [ $(date +%s) -lt $end ]; do "
        f"{put.format(n=len(a), c='A')}; {put.format(n=len(b), c='B')}; done"
    )
    await sh(service, sandbox, put.format(n=len(a), c="A"))
    writer = asyncio.ensure_future(service.exec(sandbox.id, ["sh", "-c", loop]))
    seen = set()
    while not writer.done():
        ckpt = await service.checkpoints.create(sandbox.id)
        entry = {e.path: e for e in service.checkpoints.store.manifest(ckpt)}["f"]
        data = b"".join(service.checkpoints.store.read_blob(entry.ref))
        assert data in (a, b), (len(data), data[:5], data[-5:])
        assert entry.size == len(data)
        seen.add(data[:1])
    assert (await writer).exit_code == 0
    assert seen  # at least one checkpoint ran during the writes


async def test_manifests_are_deltas_and_a_long_chain_reads_back_right(
    service: SandboxService, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    await sh(service, sandbox, "mkdir -p t && for i in $(seq 1 2000); do echo $i > t/f$i; done")
    first = await service.checkpoints.create(sandbox.id)
    store_dir = sandbench_home / "store" / "checkpoints" / sandbox.id
    full = (store_dir / f"{first.id}.manifest.gz").stat().st_size
    made = [first]
    for i in range(40):  # past MAX_CHAIN: a full manifest comes in between
        await service.write_file(sandbox.id, f"t/f{i + 1}", f"changed {i}\n".encode())
        if i % 7 == 3:
            await service.delete_path(sandbox.id, f"t/f{i + 1000}")
        made.append(await service.checkpoints.create(sandbox.id))
    last = made[-1]
    delta = (store_dir / f"{made[5].id}.manifest.gz").stat().st_size
    assert delta < 2048 < full, (delta, full)  # the change costs its size, not the workspace's
    expected = {e.path: (e.kind, e.ref) for e in service.checkpoints.store.manifest(last)}
    service.checkpoints._store = None  # a new process: no manifest cached
    fresh = {e.path: (e.kind, e.ref) for e in service.checkpoints.store.manifest(last)}
    assert fresh == expected and len(fresh) == 2001 - 6
    assert (await service.checkpoints.changes(sandbox.id)).changes == []
    cs = await service.checkpoints.changes(sandbox.id, made[10].id)
    gone = {f"t/f{n}" for n in (1010, 1017, 1024, 1031, 1038)}  # deleted after made[10]
    assert {c.path for c in cs.changes} == {f"t/f{i}" for i in range(11, 41)} | gone


async def test_temps_a_killed_checkpoint_left_are_swept_by_the_next(
    service: SandboxService, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    await sh(service, sandbox, "echo a > a.txt")
    await service.checkpoints.create(sandbox.id)
    left = sandbench_home / "store" / "tmp" / "0123456789abcdef.tmp"
    left.write_bytes(b"half a blob")  # what a checkpoint killed mid-write leaves
    await service.checkpoints.create(sandbox.id)
    assert not any((sandbench_home / "store" / "tmp").iterdir())


async def test_between_two_checkpoints_names_and_diffs_what_one_command_changed(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await sh(service, sandbox, "printf 'a\\nb\\n' > keep.txt && echo old > gone.txt && ln -s keep.txt link")
    first = await service.checkpoints.create(sandbox.id, "before")
    await sh(service, sandbox, "printf 'a\\nB\\n' > keep.txt && rm gone.txt && echo new > added.txt")
    await sh(service, sandbox, "chmod 700 added.txt")
    await sh(service, sandbox, "ln -sfn added.txt link")
    second = await service.checkpoints.create(sandbox.id, "after")
    await sh(service, sandbox, "echo later > keep.txt")  # the workspace moved on: between reads the store only

    cs, diffs = await service.checkpoints.diff_between(sandbox.id, first.id, second.id[:6])
    assert cs.since.id == first.id
    assert {c.path: c.status for c in cs.changes} == {
        "added.txt": "added",
        "gone.txt": "deleted",
        "keep.txt": "modified",
        "link": "modified",
    }
    by_path = {c.path: lines for c, lines in diffs}
    assert "-b" in by_path["keep.txt"] and "+B" in by_path["keep.txt"] and "+later" not in by_path["keep.txt"]
    assert by_path["gone.txt"][-1] == "-old"
    assert by_path["link"] == ["symlink -> keep.txt => symlink -> added.txt"]
    back = await service.checkpoints.between(sandbox.id, second.id, first.id)
    assert {c.path: c.status for c in back.changes}["added.txt"] == "deleted"
