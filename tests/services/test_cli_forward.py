"""`sandbench forward NAME PORT` on a local sandbox with network, as a user runs it (the real CLI, a real
http.server inside a real bwrap sandbox): the line it prints, the forward answering from the host, held until SIGINT
and gone after; a sandbox without network and a taken local port refused in one line. The Daytona path (through a
preview link) is tests/services/test_forward_preview.py."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from services.local import network
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_cli import REPO

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", *args]


@pytest.fixture
def as_tester(sandbench_home: Path) -> None:
    """The CLI runs as the in-process service's identity (conftest's `config`), on the same home."""
    (sandbench_home.parent / "config.toml").write_text('identity = "tester"\n')


async def test_forward_holds_a_local_port_until_sigint(service: SandboxService, as_tester: None) -> None:
    why = network.unavailable_reason()
    if why is not None:  # as tests/services/test_network.py decides: no usable tun device is the one condition
        pytest.skip(f"this machine cannot give a sandbox a network: {why}")
    box = await service.create(SandboxSpec(name="web", network=True))
    await service.write_file(box.id, "hello.txt", b"hi from the sandbox\n")
    run = asyncio.ensure_future(service.exec(box.id, ["python3", "-m", "http.server", "8766"]))
    proc = None
    try:

        async def listening() -> bool:
            return 8766 in {p.port for p in await service.ports(box.id)}

        await wait_until(None, listening, "port 8766 in the sandbox's ports", timeout=30)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            local = probe.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            *cli("forward", "web", "8766", "--local-port", str(local)),
            cwd=REPO,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        url = f"http://127.0.0.1:{local}/"
        assert line == f"forwarding 127.0.0.1:{local} to port 8766 of web: {url} (Ctrl-C to stop)\n", (
            line + (await proc.stderr.read()).decode()
        )
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url + "hello.txt", timeout=20).read())
        assert body == b"hi from the sandbox\n"
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert await proc.stdout.read() == b"forward closed\n"
        assert b"Traceback" not in await proc.stderr.read()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", local), timeout=2).close()

        # a local port someone holds: one line, exit 2, nothing left listening
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = taken.getsockname()[1]
            res = subprocess.run(
                cli("forward", "web", "8766", "--local-port", str(busy)), cwd=REPO, capture_output=True, timeout=60
            )
        assert res.returncode == 2 and res.stdout == b""
        assert f"port {busy} of 127.0.0.1 is in use".encode() in res.stderr and len(res.stderr.splitlines()) == 1
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


async def test_forward_of_a_sandbox_without_network_is_refused(service: SandboxService, as_tester: None) -> None:
    await service.create(SandboxSpec(name="offline"))
    res = await asyncio.to_thread(
        subprocess.run, cli("forward", "offline", "8000"), cwd=REPO, capture_output=True, timeout=60
    )
    assert res.returncode == 2 and b"has no network" in res.stderr and b"Traceback" not in res.stderr
