"""What a sandboxed process can read about how it was started: its pid 1 (bubblewrap's init) shows `bwrap` as its
command, not the host's install path of the binary (it named the user's home or virtualenv to the code inside)."""

from __future__ import annotations

import sys

import pytest

from services.models import SandboxInfo
from services.sandbox_service import SandboxService

pytestmark = pytest.mark.bwrap


async def test_the_sandboxs_init_shows_no_host_path_in_its_command(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    r = await service.exec(sandbox.id, ["cat", "/proc/1/cmdline"])
    assert r.exit_code == 0
    argv = (r.stdout if isinstance(r.stdout, bytes) else str(r.stdout).encode()).split(b"\0")
    assert argv[0] == b"bwrap"
    assert sys.prefix.encode() not in b" ".join(argv)
