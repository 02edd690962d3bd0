"""Terminal reattach at the service level: `SandboxService.list_terminals` and `attach_terminal`, through
DaytonaProvider → the `daytona` SDK → `sandbench serve` (whose PTY sessions live in the server), and the local
provider's clear answer (its shells end with the app).

A shell is opened, `export X=42` is typed, the client side is dropped without killing the session (`detach`), and
a reattach by id finds the same shell: `echo $X` prints 42.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from services.daytona import DaytonaProvider
from services.errors import FileNotFound, InvalidInput, SandboxNotFound
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import read_until
from tests.services import test_server_harness as harness
from tests.services.serve_helpers import Serve

serve = harness.serve  # the shared fixtures
dservice = harness.dservice
box = harness.dbox

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


async def test_detach_and_reattach_finds_the_same_shell(dservice: SandboxService, box: SandboxInfo) -> None:
    svc = dservice
    assert await svc.list_terminals(box.id) == []
    term = await svc.open_terminal(box.id, 100, 30)
    buf = bytearray()
    await term.write(b"export X=$((40+2)); echo set-$X\n")
    await read_until(term, buf, b"set-42")

    listed = await svc.list_terminals(box.id)
    assert [t.id for t in listed] == [term.session_id]
    assert listed[0].active and (listed[0].cols, listed[0].rows) == (100, 30)
    assert listed[0].created_at.year >= 2024

    await term.detach()  # type: ignore[attr-defined]  # the client goes away; the shell stays
    assert not svc.is_busy(box.id)
    assert term.exit_code is None and term.status == "detached"  # type: ignore[attr-defined]
    assert [t.id for t in await svc.list_terminals(box.id)] == [term.session_id]

    again = await svc.attach_terminal(box.id, term.session_id)
    assert again.session_id == term.session_id
    buf2 = bytearray()
    await again.write(b"echo got-$X\n")
    await read_until(again, buf2, b"got-42")
    assert svc.is_busy(box.id)

    await again.write(b"exit 3\n")
    assert await asyncio.wait_for(again.wait(), 10) == 3
    await again.close()
    assert not svc.is_busy(box.id)

    ops = [json.loads(line) for line in svc.config.audit_log.read_text().splitlines()]
    attach = [e for e in ops if e["op"] == "terminal-attach"]
    assert len(attach) == 1 and attach[0]["sandbox"] == box.id and attach[0]["outcome"] == "ok"
    assert any(e["op"] == "terminal-list" for e in ops)


async def test_attach_unknown_or_bad_id_is_one_line(dservice: SandboxService, box: SandboxInfo) -> None:
    with pytest.raises(FileNotFound) as err:  # a session that is gone: "not found", not "cannot reach Daytona"
        await dservice.attach_terminal(box.id, "no-such-session")
    assert "\n" not in str(err.value) and "not found" in str(err.value)
    for bad in ("", "../x", "a/b", "x" * 129, "a b"):
        with pytest.raises(InvalidInput):
            await dservice.attach_terminal(box.id, bad)


async def test_terminals_of_a_sandbox_not_ours_are_refused(
    serve: Serve, dservice: SandboxService, box: SandboxInfo, sandbench_home: Path
) -> None:
    term = await dservice.open_terminal(box.id)
    try:
        # The same credentials but another identity: the server shows the sandbox, the service must refuse.
        cfg = harness.daytona_config(serve, sandbench_home, identity="mallory")
        mallory = SandboxService(DaytonaProvider(cfg), cfg)
        try:
            with pytest.raises(SandboxNotFound):
                await mallory.list_terminals(box.id)
            with pytest.raises(SandboxNotFound):
                await mallory.attach_terminal(box.id, term.session_id)
        finally:
            await mallory.close()
    finally:
        await term.close()


async def test_stopped_sandbox_lists_nothing_and_is_not_started(dservice: SandboxService, box: SandboxInfo) -> None:
    await dservice.stop(box.id)
    assert await dservice.list_terminals(box.id) == []
    assert (await dservice.get(box.id)).state.value == "stopped"


async def test_local_provider_has_nothing_to_reattach(service: SandboxService, sandbox: SandboxInfo) -> None:
    assert await service.list_terminals(sandbox.id) == []
    with pytest.raises(InvalidInput) as err:
        await service.attach_terminal(sandbox.id, "anything")
    assert "end with the app" in str(err.value) and "\n" not in str(err.value)
