"""A refused restore or fork changes nothing: the path or name is checked before the checkpoint they take first, so
a typo does not add a `before-restore` or `fork to …` checkpoint, move HEAD, and make `changes` compare with it
(an agent's changes then vanished from the Changes view)."""

from __future__ import annotations

import pytest

from services.errors import FileNotFound, SandbenchError
from services.models import SandboxInfo
from services.sandbox_service import SandboxService

pytestmark = pytest.mark.bwrap


async def test_a_refused_restore_or_fork_takes_no_checkpoint(service: SandboxService, sandbox: SandboxInfo) -> None:
    cps = service.checkpoints
    await service.write_file(sandbox.id, "kept.txt", b"one")
    base = await cps.create(sandbox.id, "base")
    await service.write_file(sandbox.id, "kept.txt", b"two")
    await service.write_file(sandbox.id, "new.txt", b"made after")
    listed, head = await cps.list_checkpoints(sandbox.id)

    with pytest.raises(FileNotFound, match="'nosuchfile' is neither in checkpoint"):
        await cps.restore(sandbox.id, base.id, ["kept.txt", "nosuchfile"])
    with pytest.raises(SandbenchError, match="invalid sandbox name"):
        await cps.fork(sandbox.id, "bad/name")
    assert await cps.list_checkpoints(sandbox.id) == (listed, head)
    assert (await service.read_file(sandbox.id, "kept.txt")).data == b"two"  # nothing restored either
    assert [c.path for c in (await cps.changes(sandbox.id)).changes] == ["kept.txt", "new.txt"]

    # a path only the workspace has is still a path to restore (to its absence in the checkpoint)
    await cps.restore(sandbox.id, base.id, ["new.txt"])
    with pytest.raises(FileNotFound):
        await service.read_file(sandbox.id, "new.txt")
