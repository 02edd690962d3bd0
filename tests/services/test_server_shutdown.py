"""`sandbench serve` stops promptly and says why it cannot start: SIGTERM with an SDK client attached to a PTY
and following a command's log ends the server in seconds (it waited 30 s for the client to leave), and a port
already taken is said in plain words (not asyncio's text with the address as a tuple)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import wait_until
from tests.services.serve_helpers import REPO, make_home, serve_env, start_serve, stop_serve

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


async def test_a_stop_with_clients_attached_ends_the_server_in_seconds() -> None:
    from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams, DaytonaConfig, PtySize, SessionExecuteRequest

    home = make_home()
    proc, port = start_serve(home)
    token = (home / "serve-token").read_text().strip()
    client = AsyncDaytona(DaytonaConfig(api_key=token, api_url=f"http://127.0.0.1:{port}/api", target="local"))
    try:
        sb = await client.create(CreateSandboxFromSnapshotParams(name="stopping"), timeout=30)
        seen = bytearray()
        pty = await sb.process.create_pty_session(id="p1", on_data=seen.extend, pty_size=PtySize(rows=24, cols=80))
        await pty.send_input("echo attached-$((6*7))\n")
        await wait_until(None, lambda: b"attached-42" in seen, "the PTY echoing", timeout=20)
        await sb.process.create_session("s")
        cmd = await sb.process.execute_session_command("s", SessionExecuteRequest(command="sleep 600", run_async=True))
        follow = asyncio.ensure_future(sb.process.get_session_command_logs_async("s", cmd.cmd_id, print, print))

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await wait_until(None, lambda: proc.poll() is not None, "serve to exit", timeout=40)
        # it waited 30 s for the attached clients; a loaded machine takes seconds to end the sandboxes' processes
        assert time.monotonic() - started < 15, "a stop waited for its attached clients"
        assert proc.returncode == 0
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
    finally:
        await client.close()
        stop_serve(proc)
        shutil.rmtree(home.parent, ignore_errors=True)


def test_a_port_in_use_is_said_plainly() -> None:
    home = make_home()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "services.server", "--port", str(port)],
            cwd=REPO,
            env=serve_env(home),
            capture_output=True,
            timeout=60,
        )
    shutil.rmtree(home.parent, ignore_errors=True)
    assert done.returncode == 1
    assert (
        done.stderr.decode()
        .strip()
        .endswith(
            f"cannot listen on 127.0.0.1:{port}: the port is in use (choose another with --port, or --port 0 for any "
            "free one)"
        )
    )
