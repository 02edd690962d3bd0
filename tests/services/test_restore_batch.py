"""Restores write their files a batch at a time (`WorkspaceFS.commit_many`, services/checkpoints/apply.py): every
temp on disk before any rename, each folder flushed once after them, and a restore that fails on the way leaves no
temp file and no half-written file. Real local sandboxes, a real store, real fsyncs (counted, not replaced)."""

from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path

import pytest

from services.errors import ProviderError
from services.local.fsapi import WorkspaceFS
from services.models import SandboxInfo
from services.sandbox_service import SandboxService

pytestmark = pytest.mark.bwrap


def temps(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob(".sandbench-*")]


def test_commit_many_flushes_each_file_once_and_each_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    (tmp_path / "a" / "old.txt").write_text("before\n")
    calls: Counter[str] = Counter()
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        calls["dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"] += 1
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    with WorkspaceFS(tmp_path, disk_limit_bytes=None) as fs:
        writes = []
        for path, data, mode in (("a/old.txt", b"after\n", 0o600), ("a/new.txt", b"new\n", 0o755), ("b/x", b"x", None)):
            w = fs.open_write(path, mode=mode)
            w.write(data)
            writes.append(w)
        assert (tmp_path / "a" / "old.txt").read_text() == "before\n"  # nothing shows before the commit
        entries = fs.commit_many(writes)

    assert [e.path for e in entries] == ["a/old.txt", "a/new.txt", "b/x"]
    assert (tmp_path / "a" / "old.txt").read_bytes() == b"after\n"
    assert stat.S_IMODE((tmp_path / "a" / "old.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a" / "new.txt").stat().st_mode) == 0o755
    assert (tmp_path / "b" / "x").read_bytes() == b"x"
    assert calls == {"file": 3, "dir": 2}  # one commit() each would have been 3 + 3
    assert temps(tmp_path) == []


async def test_a_restore_that_fails_part_way_leaves_no_temp_and_no_torn_file(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    ws = service.provider.workspace_path(sandbox.id)  # type: ignore[attr-defined]
    for i in range(5):
        (ws / f"d{i}").mkdir()
        (ws / f"d{i}" / "f.txt").write_text(f"old {i}\n")
    cps = service.checkpoints
    base = await cps.create(sandbox.id, "base")
    for i in range(5):
        (ws / f"d{i}" / "f.txt").write_text(f"new {i}\n")
    # the blob of the last file restored is damaged in the store: found only once its bytes have been read
    entry = next(e for e in cps.store.manifest(base) if e.path == "d4/f.txt")
    blob = cps.store.blob_path(entry.ref)
    os.chmod(blob, 0o600)
    blob.write_bytes(b"old 4 but not quite\n")

    with pytest.raises(ProviderError, match="damaged") as err:
        await cps.restore(sandbox.id, base.id)
    assert "restore it to undo" in str(err.value)
    assert temps(ws) == []
    # the files staged in its batch were never renamed in: the workspace is as it was, not part-restored
    assert [(ws / f"d{i}" / "f.txt").read_text() for i in range(5)] == [f"new {i}\n" for i in range(5)]
