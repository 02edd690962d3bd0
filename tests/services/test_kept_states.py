"""Named snapshots and archives kept in the checkpoint store (issue 13 §1, DESIGN §8), on real local sandboxes
(real bubblewrap): a snapshot costs what changed, a sandbox made from it has the same files, deleting it frees only
its own blobs, archive frees the workspace and start brings it back identical, an interrupted archive loses
nothing, and the tar.gz snapshots and archives an older version made keep working."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from services.checkpoints import states
from services.errors import InvalidInput, ProviderError
from services.local import meta
from services.local.provider import LocalProvider
from services.local.store import SnapshotRow
from services.models import SandboxInfo, SandboxSpec, SandboxState
from services.sandbox_service import SandboxService

pytestmark = pytest.mark.bwrap

TREE_SCRIPT = """
set -e
mkdir -p src/pkg empty/deeper data
for i in $(seq 1 40); do head -c 20000 /dev/urandom > data/blob$i.bin; done
printf 'print(1)\\n' > src/pkg/main.py
printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod 755 run.sh
printf 'secret\\n' > src/secret.txt && chmod 600 src/secret.txt
ln -s pkg/main.py src/link-to-main
ln -s ../nowhere dangling
chmod 750 src/pkg
"""


async def sh(service: SandboxService, box: SandboxInfo, script: str) -> None:
    r = await service.exec(box.id, ["sh", "-c", script])
    assert r.exit_code == 0, r.stderr


def tree(root: Path, *, mtimes: bool = False) -> dict[str, tuple[object, ...]]:
    """Every name under `root`: kind, mode, content (a symlink's target, never followed), and mtime if asked."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(dirpath) / n
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(p))
                continue
            kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
            v: tuple[object, ...] = (kind, stat.S_IMODE(st.st_mode), p.read_bytes() if kind == "file" else b"")
            out[rel] = (*v, st.st_mtime_ns) if mtimes else v
    return out


def blobs(home: Path) -> dict[str, int]:
    return {p.parent.name + p.name: p.stat().st_size for p in (home / "store" / "objects").rglob("*") if p.is_file()}


def pack_like_today(ws: Path, dest: Path) -> None:
    """What the provider's `_pack` wrote before snapshots and archives moved into the store (kept here verbatim, to
    make the tar.gz files users already have)."""
    tmp = dest.with_suffix(".partial")
    with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        tar.add(ws, arcname=".")
    os.chmod(tmp, 0o600)
    tmp.rename(dest)


async def test_a_snapshot_after_a_small_change_costs_the_change_not_the_tree(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    await sh(service, sandbox, TREE_SCRIPT)
    await service.checkpoints.create(sandbox.id, "the tree")
    before = blobs(sandbench_home)
    tree_bytes = sum(before.values())
    assert tree_bytes >= 40 * 20000
    await sh(service, sandbox, "printf 'print(2)\\n' > src/pkg/main.py && echo new > added.txt")

    snap = await service.snapshot(sandbox.id, "small-change")
    added = {k: v for k, v in blobs(sandbench_home).items() if k not in before}
    assert sorted(added.values()) == [len("new\n"), len("print(2)\n")]  # the two changed files, nothing else
    assert (snap.size_bytes or 0) >= tree_bytes  # the state it holds is the whole workspace
    assert not any((sandbench_home / "snapshots").iterdir()), "no tar.gz is written any more"
    (ckpt,) = [c for c in provider.kept.store.all(sandbox.id) if c.kind == "snapshot"]
    assert (ckpt.name, ckpt.owner, ckpt.source, ckpt.files_added) == ("small-change", "tester", sandbox.name, 2)


async def test_a_sandbox_made_from_a_snapshot_has_the_same_files(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    await sh(service, sandbox, TREE_SCRIPT)
    await service.snapshot(sandbox.id, "base")
    want = tree(provider.workspace_path(sandbox.id))
    assert want["src/link-to-main"] == ("symlink", "pkg/main.py") and want["empty/deeper"][0] == "dir"
    await sh(service, sandbox, "rm -r data && echo later > src/pkg/main.py")  # after the snapshot: not in it

    copy = await service.create(SandboxSpec(name="copy", snapshot="base"))
    assert tree(provider.workspace_path(copy.id)) == want
    got = await service.exec(copy.id, ["sh", "-c", "./run.sh && readlink dangling && cat src/link-to-main"])
    assert got.exit_code == 0 and got.stdout == b"hi\n../nowhere\nprint(1)\n"
    snap_ckpt = next(c for c in provider.kept.store.all(sandbox.id) if c.kind == "snapshot")
    (first,) = provider.kept.store.all(copy.id)
    assert (first.parent, first.parent_sandbox, first.kind) == (snap_ckpt.id, sandbox.id, "fork")
    assert provider.kept.store.head(copy.id) == first.id


async def test_a_snapshot_with_a_damaged_store_fails_the_create_cleanly(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    await service.write_file(sandbox.id, "f.bin", os.urandom(10_000))
    await service.snapshot(sandbox.id, "s")
    (blob,) = [p for p in (sandbench_home / "store" / "objects").rglob("*") if p.is_file()]
    blob.write_bytes(b"torn by a power cut")
    before = {i.id for i in await service.list_sandboxes()}
    with pytest.raises(ProviderError, match="damaged"):
        await service.create(SandboxSpec(name="from-damaged", snapshot="s"))
    assert {i.id for i in await service.list_sandboxes()} == before
    assert sorted(p.name for p in (sandbench_home / "store" / "checkpoints").iterdir()) == [sandbox.id]


async def test_deleting_a_snapshot_frees_only_its_own_blobs(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    await service.write_file(sandbox.id, "shared.txt", b"kept by a checkpoint\n")
    kept = await service.checkpoints.create(sandbox.id, "shared only")
    await service.write_file(sandbox.id, "only-in-snapshot.bin", os.urandom(50_000))
    await service.snapshot(sandbox.id, "s")
    snap_ckpt = next(c for c in provider.kept.store.all(sandbox.id) if c.kind == "snapshot")
    with pytest.raises(InvalidInput, match="snapshot 's'"):  # not deletable as a checkpoint: it is the snapshot's
        await service.checkpoints.delete(sandbox.id, snap_ckpt.id)
    await service.delete_path(sandbox.id, "only-in-snapshot.bin")
    await service.checkpoints.create(sandbox.id, "without it")
    with_it = blobs(sandbench_home)
    assert 50_000 in with_it.values(), "the snapshot's blob is kept while the snapshot is"

    await service.delete_snapshot("s")
    after = blobs(sandbench_home)
    assert set(with_it) - set(after) == {k for k, v in with_it.items() if v == 50_000}
    assert await service.list_snapshots() == []
    restored = await service.checkpoints.restore(sandbox.id, kept.id)  # the other checkpoints are whole
    assert restored.target.id == kept.id
    assert (await service.read_file(sandbox.id, "shared.txt")).data == b"kept by a checkpoint\n"


async def test_archive_frees_the_workspace_and_start_brings_it_back_identical(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    await sh(service, sandbox, TREE_SCRIPT)
    ws = provider.workspace_path(sandbox.id)
    want = tree(ws, mtimes=True)
    archived = await service.archive(sandbox.id)
    assert archived.state is SandboxState.ARCHIVED
    assert not ws.exists(), "the workspace's disk is freed"
    assert (await service.get(sandbox.id)).state is SandboxState.ARCHIVED
    (ckpt,) = [c for c in provider.kept.store.all(sandbox.id) if c.kind == "archive"]
    assert ckpt.files == 43
    with pytest.raises(InvalidInput, match="HEAD"):  # while archived it is the sandbox's HEAD: never deleted
        await service.checkpoints.delete(sandbox.id, ckpt.id)

    started = await service.start(sandbox.id)
    assert started.state is SandboxState.STARTED
    assert tree(ws, mtimes=True) == want  # byte for byte: modes, symlinks, empty folders, mtimes
    assert not (provider._dir(sandbox.id) / "archive.ckpt").exists()
    row = provider.store.get(sandbox.id)
    assert row is not None and row.uid is not None and ws.stat().st_uid == row.uid
    assert (ws / "src" / "secret.txt").stat().st_uid == row.uid
    await sh(service, sandbox, "echo after >> src/secret.txt")  # the sandbox's own uid can write its files


async def test_an_archive_that_fails_before_its_checkpoint_is_durable_keeps_the_workspace(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sh(service, sandbox, TREE_SCRIPT)
    ws = provider.workspace_path(sandbox.id)
    want = tree(ws)

    def power_cut(store: object) -> None:
        raise ProviderError("could not flush the checkpoint store to disk: Input/output error")

    monkeypatch.setattr(states, "durable", power_cut)
    with pytest.raises(ProviderError, match="flush"):
        await service.archive(sandbox.id)
    assert (await service.get(sandbox.id)).state is SandboxState.STOPPED
    assert tree(ws) == want and not (provider._dir(sandbox.id) / "archive.ckpt").exists()
    monkeypatch.undo()
    assert (await service.archive(sandbox.id)).state is SandboxState.ARCHIVED


async def test_an_archive_interrupted_between_checkpoint_and_removal_loses_nothing(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sh(service, sandbox, TREE_SCRIPT)
    ws = provider.workspace_path(sandbox.id)
    want = tree(ws, mtimes=True)
    monkeypatch.setenv("SANDBENCH_FAULT", "archive-before-remove")
    with pytest.raises(ProviderError, match="interrupted"):
        await service.archive(sandbox.id)
    monkeypatch.delenv("SANDBENCH_FAULT")
    assert (await service.get(sandbox.id)).state is SandboxState.ARCHIVED  # the store holds it
    # as if the removal had been killed part-way: some of the workspace gone, some left
    shutil.rmtree(ws / "data")
    (ws / "run.sh").unlink()

    assert (await service.start(sandbox.id)).state is SandboxState.STARTED
    assert tree(ws, mtimes=True) == want


def test_an_archive_killed_between_checkpoint_and_removal_loses_nothing(sandbench_home: Path) -> None:
    """A real kill (os._exit in the CLI's process) after the checkpoint is durable, before the workspace goes: the
    next process finds the archive's claim dead, finishes it as archived, and start brings every file back."""

    def cli(*argv: str, fault: str | None = None) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, **({"SANDBENCH_FAULT": fault} if fault else {})}
        return subprocess.run([sys.executable, "-m", "tui.cli", *argv], env=env, capture_output=True, timeout=120)

    assert cli("create", "box").returncode == 0
    assert cli("exec", "box", "--", "sh", "-c", TREE_SCRIPT).returncode == 0
    (folder,) = (sandbench_home / "sandboxes").iterdir()
    want = tree(folder / "workspace", mtimes=True)
    assert cli("stop", "box").returncode == 0
    assert cli("archive", "box", fault="archive-crash").returncode == 70
    assert (folder / "archive.ckpt").exists() and (folder / "workspace").is_dir()  # killed at exactly that step

    listed = json.loads(cli("ls", "--json").stdout)
    assert [(i["name"], i["state"]) for i in listed] == [("box", "archived")]
    assert cli("start", "box").returncode == 0
    assert tree(folder / "workspace", mtimes=True) == want
    got = cli("exec", "box", "--", "cat", "src/secret.txt")
    assert (got.returncode, got.stdout) == (0, b"secret\n")


async def test_deleting_an_archived_sandbox_frees_its_archive_but_keeps_its_snapshots(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    """The archive lives in the store now, so a delete must free it there (as it freed archive.tar.gz before)."""
    await service.write_file(sandbox.id, "in-snapshot.bin", os.urandom(30_000))
    await service.snapshot(sandbox.id, "keep")
    await service.write_file(sandbox.id, "archived-only.bin", os.urandom(40_000))
    await service.checkpoints.create(sandbox.id, "a checkpoint too")
    await service.archive(sandbox.id)
    assert sorted(blobs(sandbench_home).values()) == [30_000, 40_000]

    await service.delete(sandbox.id)
    assert sorted(blobs(sandbench_home).values()) == [30_000], "only what the snapshot names is left"
    assert [c.kind for c in provider.kept.store.all(sandbox.id)] == ["snapshot"]
    copy = await service.create(SandboxSpec(name="after-delete", snapshot="keep"))
    assert sorted(os.listdir(provider.workspace_path(copy.id))) == ["in-snapshot.bin"]


async def test_tar_gz_snapshots_and_archives_made_by_the_old_code_still_work(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    """Read the old way (no migration): a row naming `<stem>.tar.gz` is extracted as before, an `archive.tar.gz`
    is unpacked on start, and a snapshot of such an archive copies it."""
    await sh(service, sandbox, TREE_SCRIPT)
    ws = provider.workspace_path(sandbox.id)
    want = tree(ws)
    snaps = sandbench_home / "snapshots"
    file = "0123456789abcdef.tar.gz"
    pack_like_today(ws, snaps / file)
    old = SnapshotRow("tester", "from-before", sandbox.name, file, (snaps / file).stat().st_size, time.time())
    meta.write_snapshot_meta(snaps, file, meta.SnapshotMeta(old.owner, old.name, old.source, old.created_at))
    provider.store.add_snapshot(old)

    listed = {s.name: s for s in await service.list_snapshots()}
    assert listed["from-before"].size_bytes == old.size
    copy = await service.create(SandboxSpec(name="from-old", snapshot="from-before"))
    assert tree(provider.workspace_path(copy.id)) == want

    # an archive packed by the old code
    await service.stop(sandbox.id)
    pack_like_today(ws, provider._dir(sandbox.id) / "archive.tar.gz")
    shutil.rmtree(ws)
    provider.store.update(sandbox.id, state=SandboxState.ARCHIVED)
    again = await service.snapshot(sandbox.id, "of-old-archive")
    assert again.size_bytes == (provider._dir(sandbox.id) / "archive.tar.gz").stat().st_size
    assert (await service.start(sandbox.id)).state is SandboxState.STARTED
    assert tree(ws) == want
    assert not (provider._dir(sandbox.id) / "archive.tar.gz").exists()
    third = await service.create(SandboxSpec(name="from-old-archive", snapshot="of-old-archive"))
    assert tree(provider.workspace_path(third.id)) == want

    await service.delete_snapshot("from-before")
    assert not (snaps / file).exists() and not meta.snapshot_meta_path(snaps, file).exists()
