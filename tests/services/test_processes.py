"""What runs in a sandbox (issue 13 §3), through `SandboxService` on the real LocalProvider: real bwrap, real
processes started by execs and in a terminal, real signals, a real http.server reached through a forward.

Also the exec path Daytona uses (services/processes_exec.py): its reader run inside a real local sandbox, and its
parser fed hostile dumps.
"""

from __future__ import annotations

import asyncio
import base64
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import pytest

from services.errors import InvalidInput, PermissionDenied
from services.local import network
from services.local.procfs import start_ticks
from services.models import ExecResult, SandboxInfo, SandboxSpec
from services.proc_parse import ProcessGone
from services.processes import ProcessInfo, tree
from services.processes_exec import ExecReader, parse_dump
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services import test_server_harness as harness

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]

serve = harness.serve  # the shared fixtures: a real `sandbench serve`, the DaytonaProvider on it, a sandbox there
dservice = harness.dservice
dbox = harness.dbox


async def _find(service: SandboxService, box: SandboxInfo, command: str) -> ProcessInfo:
    found: list[ProcessInfo] = []

    async def shown() -> bool:
        found[:] = [p for p in await service.processes(box.id) if p.command == command]
        return bool(found)

    await wait_until(None, shown, f"{command!r} in the process list", timeout=20)
    return found[0]


async def test_a_background_sleep_of_an_exec_shows_under_its_shell_and_term_ends_it(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    run = asyncio.ensure_future(service.exec(sandbox.id, ["sh", "-c", "sleep 1234 & wait"]))
    try:
        sleep = await _find(service, sandbox, "sleep 1234")
        procs = {p.pid: p for p in await service.processes(sandbox.id)}
        assert procs[sleep.ppid].command == "sh -c sleep 1234 & wait"
        assert sleep.user == "sandbox" and sleep.state == "S" and sleep.rss_bytes > 0
        assert 0 <= sleep.age < 60 and sleep.started == start_ticks(sleep.pid)
        # the tree puts the sleep right under its shell, one deeper
        order = [(p.pid, depth) for p, depth in tree(list(procs.values()))]
        shell_at = next(i for i, (pid, _d) in enumerate(order) if pid == sleep.ppid)
        assert order[shell_at + 1] == (sleep.pid, order[shell_at][1] + 1)
        result = await service.kill_process(sandbox.id, sleep.pid, "TERM", started=sleep.started)
        assert result.ended and result.signal == "TERM" and not result.escalated
        done = await asyncio.wait_for(run, 20)
        assert done.exit_code == 0  # `wait` returns once the sleep has ended
        assert all(p.command != "sleep 1234" for p in await service.processes(sandbox.id))
    finally:
        run.cancel()


async def test_a_sleep_in_a_terminal_shows_under_the_shell(service: SandboxService, sandbox: SandboxInfo) -> None:
    term = await service.open_terminal(sandbox.id, 80, 24)
    try:
        await term.write(b"sleep 4321\n")
        sleep = await _find(service, sandbox, "sleep 4321")
        procs = {p.pid: p for p in await service.processes(sandbox.id)}
        assert procs[sleep.ppid].name in ("bash", "sh")
        assert (await service.kill_process(sandbox.id, sleep.pid)).ended
    finally:
        await term.close()


async def test_a_process_that_ignores_term_gets_kill_when_asked(service: SandboxService, sandbox: SandboxInfo) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
        "time.sleep(999)"
    )
    ready = asyncio.Event()
    run = asyncio.ensure_future(
        service.exec(sandbox.id, ["python3", "-c", code], on_output=lambda _s, chunk: ready.set())
    )
    try:
        await asyncio.wait_for(ready.wait(), 20)  # its TERM handler is in place
        proc = await _find(service, sandbox, f"python3 -c {code}")
        stubborn = await service.kill_process(sandbox.id, proc.pid, "TERM", started=proc.started)
        assert not stubborn.ended  # TERM alone is ignored
        result = await service.kill_process(sandbox.id, proc.pid, "TERM", started=proc.started, kill_after=0.5)
        assert result.ended and result.escalated and result.signal == "KILL"
        assert (await asyncio.wait_for(run, 20)).exit_code == 128 + 9
    finally:
        run.cancel()


async def test_a_pid_outside_the_sandbox_is_refused_and_left_alone(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    run = asyncio.ensure_future(service.exec(sandbox.id, ["sleep", "300"]))
    try:
        await _find(service, sandbox, "sleep 300")  # the sandbox runs something: it has a cgroup
        me = os.getpid()
        with pytest.raises(ProcessGone, match=f"no process {me} in "):
            await service.kill_process(sandbox.id, me, "KILL")
        # with the start time given the listing is skipped: the kernel's answer (the cgroup) still refuses
        with pytest.raises(PermissionDenied, match="not one of this sandbox's processes"):
            await service.kill_process(sandbox.id, me, "KILL", started=start_ticks(me))
        with pytest.raises(InvalidInput, match="unknown signal"):
            await service.kill_process(sandbox.id, me, "STOPALL")
        with pytest.raises(InvalidInput, match="before KILL"):
            await service.kill_process(sandbox.id, me, kill_after=-1)
        audit = service.config.audit_log.read_text()
        assert '"op": "kill"' in audit and "PermissionDenied" in audit
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


async def test_a_reused_pid_is_not_signalled(service: SandboxService, sandbox: SandboxInfo) -> None:
    run = asyncio.ensure_future(service.exec(sandbox.id, ["sleep", "301"]))
    try:
        proc = await _find(service, sandbox, "sleep 301")
        with pytest.raises(ProcessGone, match="another process"):
            await service.kill_process(sandbox.id, proc.pid, "KILL", started=proc.started + 1)
        assert any(p.pid == proc.pid for p in await service.processes(sandbox.id))
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


async def test_markup_and_escapes_in_a_command_line_stay_literal(service: SandboxService, sandbox: SandboxInfo) -> None:
    argv0 = "[bold red]evil[/] \x1b[2J\n\u202e"
    code = f"import os; os.execv('/bin/sleep', [{argv0!r}, '555'])"
    run = asyncio.ensure_future(service.exec(sandbox.id, ["python3", "-c", code]))
    try:
        shown = "[bold red]evil[/] \\x1b[2J\\n\\u202e 555"
        proc = await _find(service, sandbox, shown)
        assert proc.command.isprintable() and proc.name == "sleep"
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


async def test_a_stopped_sandbox_has_no_processes(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.stop(sandbox.id)
    assert await service.processes(sandbox.id) == []
    assert await service.ports(sandbox.id) == []


def _need_network() -> None:
    # as tests/services/test_network.py decides: no usable tun device is the one condition no package fixes
    why = network.unavailable_reason()
    if why is not None:
        pytest.skip(f"this machine cannot give a sandbox a network: {why}")


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read()


async def test_an_http_server_shows_in_ports_and_its_forward_answers_from_the_host(
    service: SandboxService,
) -> None:
    _need_network()
    box = await service.create(SandboxSpec(name="web", network=True))
    await service.write_file(box.id, "hello.txt", b"hi from the sandbox\n")
    run = asyncio.ensure_future(service.exec(box.id, ["python3", "-m", "http.server", "8765"]))
    try:
        ports: list[Any] = []

        async def listening() -> bool:
            ports[:] = [p for p in await service.ports(box.id) if p.port == 8765]
            return bool(ports)

        await wait_until(None, listening, "port 8765 in the sandbox's ports", timeout=30)
        assert "http.server 8765" in ports[0].command and ports[0].pid is not None
        fwd = await service.forward_port(box.id, 8765)
        assert fwd.url.startswith("http://127.0.0.1:") and service.port_forwards(box.id) == [fwd]
        assert await service.forward_port(box.id, 8765) is fwd  # one forward per port
        status, body = await asyncio.to_thread(_get, fwd.url + "hello.txt")
        assert (status, body) == (200, b"hi from the sandbox\n")
        assert await service.close_forward(box.id, 8765)
        with pytest.raises(urllib.error.URLError):
            await asyncio.to_thread(_get, fwd.url)
        again = await service.forward_port(box.id, 8765)
        await service.process_service.close()  # what SandboxService.close does when the app closes
        assert service.port_forwards(box.id) == []
        with pytest.raises(urllib.error.URLError):
            await asyncio.to_thread(_get, again.url)
        # a stop closes the sandbox's forwards too
        service._procs = None  # a fresh one (the closed one has let go of its state listener)
        await service.forward_port(box.id, 8765)
        await service.stop(box.id)
        await wait_until(None, lambda: service.port_forwards(box.id) == [], "the forward closed by the stop")
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


async def test_forwarding_needs_a_sandbox_with_network(service: SandboxService, sandbox: SandboxInfo) -> None:
    with pytest.raises(InvalidInput, match="has no network"):
        await service.forward_port(sandbox.id, 8000)


# -- the exec path (Daytona) ------------------------------------------------------------------------------------
async def test_the_exec_reader_lists_what_runs_beside_it(service: SandboxService, sandbox: SandboxInfo) -> None:
    """Each local exec has its own pid namespace: the reader runs beside a sleep in one, as on a Daytona sandbox."""

    async def beside_a_sleep(sandbox_id: str, argv: Sequence[str], **kw: Any) -> ExecResult:
        return await service.exec(sandbox_id, ["sh", "-c", 'sleep 777 & "$@"', "sh", *argv], **kw)

    reader = ExecReader(beside_a_sleep)
    table = await reader.process_table(sandbox.id)
    commands = [" ".join(s.argv) for s in table.samples]
    assert "sleep 777" in commands
    assert not any("sandbench-ps-reader" in c for c in commands)  # the reader and its shell leave themselves out
    assert table.clk_tck > 0 and table.uptime > 0 and table.boot_time > 1e9
    with pytest.raises(ProcessGone):
        await ExecReader(service.exec).signal_process(sandbox.id, 99999, None, 15)


def test_a_hostile_dump_parses_to_what_is_well_formed() -> None:
    stat = base64.b64encode(b"10 (sh) S 1 10 10 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 500 1000 20 0").decode()
    good = [stat, 1000, "u", "", 7]
    table, sockets = parse_dump(
        {
            "clk": "x",
            "page": True,
            "procs": [[1, *good], "junk", [True, *good], [2, "!!", 1, "u", "", 1], [3, *good[:-1], "ns"], None],
            "nets": {"1": ["???", None], "bad": [], "2": "x"},
            "owners": {"1": "two", "x": 3},
        }
    )
    assert [s.pid for s in table.samples] == [1, 3]
    assert table.samples[0].comm == "sh" and table.samples[0].cpu_ticks == 7 and table.clk_tck == 100
    assert sockets == []


async def test_through_the_daytona_provider_the_reader_runs_by_exec(
    dservice: SandboxService, dbox: SandboxInfo
) -> None:
    """DaytonaProvider → the real `daytona` SDK → `sandbench serve`: the exec path end to end (what a Daytona
    sandbox gets; the reader's program travels as one `shlex.join`ed string). Each exec there has its own pid
    namespace, so the reader alone sees only itself and its shells, which it leaves out: []; beside a sleep, the
    sleep."""
    assert await dservice.processes(dbox.id) == []

    async def beside_a_sleep(sandbox_id: str, argv: Sequence[str], **kw: Any) -> ExecResult:
        return await dservice.exec(sandbox_id, ["sh", "-c", 'sleep 778 & "$@"', "sh", *argv], **kw)

    table = await ExecReader(beside_a_sleep).process_table(dbox.id)
    assert [" ".join(s.argv) for s in table.samples] == ["sleep 778"]
    assert table.samples[0].user == "sandbox" and table.samples[0].rss_bytes > 0
    with pytest.raises(ProcessGone):
        await dservice.kill_process(dbox.id, 99999, started=1)
    with pytest.raises(ProcessGone, match="no process 99999 in"):
        await dservice.kill_process(dbox.id, 99999)  # not in its listing: nothing is sent
    assert await dservice.ports(dbox.id) == []
