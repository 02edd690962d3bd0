"""exec and terminals in a real local sandbox: streaming, exit codes, timeouts, stdin, env, cwd, PTYs, stop."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from services.errors import SandbenchError
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxState
from services.sandbox_service import SandboxService
from tests.conftest import wait_until

pytestmark = pytest.mark.bwrap


async def test_exec_output_and_exit_code(service: SandboxService, sandbox: SandboxInfo) -> None:
    r = await service.exec(sandbox.id, ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (r.exit_code, r.stdout, r.stderr) == (7, b"out\n", b"err\n")


async def test_exec_streams_as_it_goes(service: SandboxService, sandbox: SandboxInfo) -> None:
    stamps: list[tuple[float, bytes]] = []
    t0 = time.monotonic()
    await service.exec(
        sandbox.id,
        ["sh", "-c", "echo first; sleep 0.6; echo second"],
        on_output=lambda _s, chunk: stamps.append((time.monotonic() - t0, chunk)),
    )
    assert [c for _, c in stamps] == [b"first\n", b"second\n"]
    assert stamps[1][0] - stamps[0][0] > 0.4, "first chunk must arrive before the command ends"


async def test_exec_keeps_only_what_is_asked_and_still_streams_the_rest(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    streamed = 0

    def count(_s: str, chunk: bytes) -> None:
        nonlocal streamed
        streamed += len(chunk)

    argv = ["sh", "-c", "head -c 3M /dev/zero; echo err >&2"]
    r = await service.exec(sandbox.id, argv, on_output=count, keep_output=1000)
    assert (r.exit_code, len(r.stdout), r.stderr) == (0, 1000, b"err\n")
    assert streamed == 3 * 1024 * 1024 + 4  # the program ran to its end, every byte reached the callback
    assert len((await service.exec(sandbox.id, argv, keep_output=0)).stdout) == 0


async def test_exec_timeout_is_124_and_kills(service: SandboxService, sandbox: SandboxInfo) -> None:
    t0 = time.monotonic()
    r = await service.exec(sandbox.id, ["sleep", "30"], timeout=0.5)
    assert r.exit_code == 124 and r.timed_out
    assert time.monotonic() - t0 < 5


async def test_exec_stdin_env_cwd_and_home(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "sub")
    r = await service.exec(
        sandbox.id,
        ["sh", "-c", 'cat; echo "$GREETING"; pwd; echo "$HOME"; id -un'],
        stdin=b"from stdin\n",
        env={"GREETING": "hi there $(not expanded)"},
        cwd="sub",
    )
    assert r.stdout.decode().splitlines() == [
        "from stdin",
        "hi there $(not expanded)",
        "/home/sandbox/sub",
        "/home/sandbox",
        "sandbox",
    ]


async def test_files_written_inside_are_visible_through_the_file_api(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await service.exec(sandbox.id, ["sh", "-c", "mkdir -p out && printf made-inside > out/f"])
    assert (await service.read_file(sandbox.id, "out/f")).data == b"made-inside"
    await service.write_file(sandbox.id, "in.txt", b"from host")
    r = await service.exec(sandbox.id, ["sh", "-c", "cat in.txt && echo appended >> in.txt"])
    assert r.exit_code == 0 and r.stdout == b"from host"


async def test_exec_of_missing_program_is_an_exit_code_not_a_crash(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    r = await service.exec(sandbox.id, ["definitely-not-a-program"])
    assert r.exit_code != 0
    with pytest.raises(SandbenchError):
        await service.exec(sandbox.id, [])


async def test_exec_auto_starts_a_stopped_sandbox(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.stop(sandbox.id)
    r = await service.exec(sandbox.id, ["true"])
    assert r.exit_code == 0
    assert (await service.get(sandbox.id)).state is SandboxState.STARTED


async def _read_until(term: object, needle: bytes, timeout: float = 10) -> bytes:
    buf = b""
    it = term.output().__aiter__()  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} not seen; got {buf[-400:]!r}")
        buf += await asyncio.wait_for(it.__anext__(), left)
    return buf


async def test_terminal_is_a_real_pty_with_job_control(service: SandboxService, sandbox: SandboxInfo) -> None:
    term = await service.open_terminal(sandbox.id, 100, 30)
    try:
        await term.write(b"stty size; tty; echo MARK-$((6*7))\n")
        out = await _read_until(term, b"MARK-42")
        # bwrap shows the inherited PTY as /dev/console; what matters is that the shell has a terminal
        assert b"30 100" in out and b"not a tty" not in out and b"/dev/console" in out
        await term.resize(132, 43)
        await term.write(b"stty size\n")
        await _read_until(term, b"43 132")
        # job control: a background job is listed by the shell, ctrl+c interrupts a foreground one
        await term.write(b"sleep 100 &\njobs\n")
        await _read_until(term, b"Running")
        await term.write(b"sleep 200\n")
        await asyncio.sleep(0.3)
        await term.write(b"\x03echo AFTER-$((1+1))\n")
        await _read_until(term, b"AFTER-2")
        await term.write(b"exit 3\n")
        assert await asyncio.wait_for(term.wait(), 10) == 3
    finally:
        await term.close()


async def test_terminal_exit_code(service: SandboxService, sandbox: SandboxInfo) -> None:
    term = await service.open_terminal(sandbox.id, 80, 24)
    await term.write(b"exit 5\n")
    assert await asyncio.wait_for(term.wait(), 10) == 5
    assert term.exit_code == 5
    await term.close()


def _procs_with(marker: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmd = Path(entry.path, "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmd:
                found.append(int(entry.name))
    return found


async def test_no_process_survives_stop(service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo) -> None:
    marker = f"31{os.getpid()}.5"
    term = await service.open_terminal(sandbox.id, 80, 24)
    # a background job in the terminal, a nohup'd double-forked daemon, and a foreground job
    await term.write(f"sleep {marker} &\n(setsid nohup sleep {marker} >/dev/null 2>&1 &)\nsleep {marker}\n".encode())
    running = asyncio.ensure_future(service.exec(sandbox.id, ["sh", "-c", f"sleep {marker} & sleep {marker}"]))
    await wait_until(None, lambda: len(_procs_with(marker)) >= 5, "the test's processes to start", timeout=10)
    await service.stop(sandbox.id)
    assert _procs_with(marker) == [], "processes of the sandbox survived stop"
    result = await running
    assert result.exit_code != 0
    await term.close()
