"""Forwarding a Daytona sandbox's port to localhost through its preview link (services/forwards_preview.py), with
the real DaytonaProvider (the real SDK) against a real `sandbench serve`, whose preview links are Daytona's shape
(a URL and a token for the `X-Daytona-Preview-Token` header; path-style on one machine). A real HTTP and WebSocket
echo server runs inside the sandbox; the test is the local client a user's browser would be. Also the CLI verb
`sandbench forward` over the same server, held until SIGINT.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.errors import InvalidInput
from services.forwards_preview import MAX_REQUESTS, TOKEN_HEADER
from services.port_forward import PortClosed
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services import test_server_harness as harness
from tests.services.test_server_harness import REPO, Serve, unique
from tests.services.test_server_preview import ECHO_SERVER, start_in_session

serve = harness.serve  # the shared fixtures
sdk = harness.sdk
dservice = harness.dservice

pytestmark = [pytest.mark.timeout(180), pytest.mark.bwrap]

PORT = 8080


@pytest.fixture
async def echo_box(sdk: Any, dservice: SandboxService) -> AsyncIterator[Any]:
    """A sandbox on the server (the service's own identity) running the echo server on PORT, seen listening."""
    from daytona import CreateSandboxFromSnapshotParams

    sb = await sdk.create(CreateSandboxFromSnapshotParams(name=unique("fwd")), timeout=30)
    await sb.fs.upload_file(ECHO_SERVER.encode(), "echo.py")
    await start_in_session(sb, f"python3 echo.py {PORT}")

    link = await sb.get_preview_link(PORT)

    async def listening() -> bool:  # (the port listing cannot tell: through serve each exec has its own namespaces)
        async with aiohttp.ClientSession() as http, http.get(link.url, headers={TOKEN_HEADER: link.token}) as r:
            return r.status != 502

    await wait_until(None, listening, f"the echo server listening on {PORT}", timeout=30)
    yield sb
    await dservice.close_forward(sb.id, PORT)
    await sb.delete()


async def test_http_bodies_redirects_and_websockets_pass_and_the_token_stays_here(
    echo_box: Any, dservice: SandboxService
) -> None:
    sb = echo_box
    fwd = await dservice.forward_port(sb.id, PORT)
    assert fwd.via == "preview" and fwd.address.startswith("127.0.0.1:") and fwd.url == f"http://{fwd.address}/"
    assert await dservice.forward_port(sb.id, PORT) is fwd  # one forward per port
    link = await sb.get_preview_link(PORT)
    body = os.urandom(3 * 1024 * 1024 + 5)
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        # a token the client sends is dropped: it cannot pose as another link, and ours is used
        headers = {"X-Custom": "kept", TOKEN_HEADER: "bogus"}
        async with http.post(fwd.url + "up?x=1", data=body, headers=headers) as r:
            assert r.status == 201
            got = await r.json()
            assert r.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
            assert link.token not in str(r.headers)
        assert (got["method"], got["path"], got["length"]) == ("POST", "/up?x=1", len(body))
        assert got["sha256"] == hashlib.sha256(body).hexdigest()
        assert got["headers"]["x-custom"] == "kept"
        assert not any(k.startswith("x-daytona") for k in got["headers"])  # nor does the sandbox see a token
        async with http.get(fwd.url + "bytes/5000000") as r:  # streamed, not buffered whole
            assert r.status == 200 and len(await r.read()) == 5_000_000
        async with http.get(fwd.url + "redirect", allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers["Location"] == "/landed"  # a path on the local listener, not the link's prefix
        async with http.ws_connect(fwd.url.replace("http", "ws") + "ws", protocols=["echo"]) as ws:
            assert ws.protocol == "echo"
            await ws.send_str("hello")
            assert (await ws.receive(timeout=10)).data == "hello"
            blob = os.urandom(200_000)
            await ws.send_bytes(blob)
            assert (await ws.receive(timeout=10)).data == blob
    assert await dservice.close_forward(sb.id, PORT)
    with pytest.raises(OSError):  # the listener is gone
        socket.create_connection(("127.0.0.1", fwd.local_port), timeout=2).close()


async def test_a_restart_elsewhere_gives_the_link_a_new_token_and_the_forward_follows(
    echo_box: Any, dservice: SandboxService
) -> None:
    sb = echo_box
    fwd = await dservice.forward_port(sb.id, PORT)
    before = (await sb.get_preview_link(PORT)).token
    await sb.stop()  # by another client (the SDK, not this service): the forward is not told
    await sb.start()
    await start_in_session(sb, f"python3 echo.py {PORT}")
    assert (await sb.get_preview_link(PORT)).token != before  # serve, as Daytona, issues a new token on a start
    async with aiohttp.ClientSession() as http:

        async def answered() -> bool:
            async with http.get(fwd.url + "again") as r:
                assert r.status != 401, await r.text()  # the old token was replaced, not passed on
                return r.status == 200

        await wait_until(None, answered, "the restarted server answering through the same forward", timeout=30)


CUTTING_SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    c, _ = s.accept()
    if c.recv(65536).startswith(b"HEAD"):  # the forward's probe: answered whole
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        c.close()
        continue
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
    c.sendall(b"a\r\n0123456789\r\n")  # one chunk, then the server dies mid-answer: no last chunk
    c.close()
"""


async def test_an_answer_cut_inside_the_sandbox_is_cut_for_the_client_too(
    echo_box: Any, dservice: SandboxService
) -> None:
    sb = echo_box
    await sb.fs.upload_file(CUTTING_SERVER.encode(), "cut.py")
    await start_in_session(sb, "python3 cut.py 8090")
    link = await sb.get_preview_link(8090)

    async def up() -> bool:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.get(link.url, headers={TOKEN_HEADER: link.token}) as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

    await wait_until(None, up, "the cutting server listening", timeout=30)
    fwd = await dservice.forward_port(sb.id, 8090)
    async with aiohttp.ClientSession() as http, http.get(fwd.url) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):  # never a short body that looks whole
            await r.read()
    await dservice.close_forward(sb.id, 8090)


async def test_requests_over_the_cap_are_answered_at_once(echo_box: Any, dservice: SandboxService) -> None:
    fwd = await dservice.forward_port(echo_box.id, PORT)
    ws_url = fwd.url.replace("http", "ws") + "ws"
    async with aiohttp.ClientSession() as http:
        held = [await http.ws_connect(ws_url) for _ in range(MAX_REQUESTS)]  # each holds a slot while open
        try:
            async with http.get(fwd.url + "x") as r:
                assert r.status == 503
                assert "the limit" in await r.text()
        finally:
            for ws in held:
                await ws.close()

        async def answered() -> bool:  # slots come back as the WebSockets close
            async with http.get(fwd.url + "x") as r:
                return r.status == 200

        await wait_until(None, answered, "a request answered once the WebSockets closed", timeout=20)


SILENT_PORT = 8081
# accepts connections and never answers: a forward's probe through the preview link waits its whole timeout
SILENT_SERVER = f"""
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {SILENT_PORT}))
s.listen()
held = []
while True:
    held.append(s.accept()[0])
"""


async def test_a_port_whose_server_is_silent_does_not_hold_up_forwarding_another(
    echo_box: Any, dservice: SandboxService
) -> None:
    """Forwarding waits on the port's preview link (a fetch and a probe, up to CONNECT_TIMEOUT): one silent server
    must not hold up forwarding another port of the sandbox, as it did while every open took one lock."""
    await echo_box.fs.upload_file(SILENT_SERVER.encode(), "silent.py")
    await start_in_session(echo_box, "python3 silent.py")
    link = await echo_box.get_preview_link(SILENT_PORT)

    async def accepting() -> bool:  # a connection is taken (no 502) but nothing comes back within a second
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http,
                http.head(link.url, headers={TOKEN_HEADER: link.token}),
            ):
                return False  # an answer: the silent server is not up yet (a 502 from serve)
        except TimeoutError:
            return True

    await wait_until(None, accepting, f"the silent server accepting on {SILENT_PORT}", timeout=30)
    stuck = asyncio.ensure_future(dservice.forward_port(echo_box.id, SILENT_PORT))
    try:
        fwd = await asyncio.wait_for(dservice.forward_port(echo_box.id, PORT), timeout=15)
        assert not stuck.done()  # the silent port's probe is still waiting while the other one was forwarded
        async with aiohttp.ClientSession() as http, http.get(fwd.url + "x") as r:
            assert r.status == 200
    finally:
        stuck.cancel()
        await asyncio.gather(stuck, return_exceptions=True)


async def test_a_closed_port_and_a_taken_local_port_are_said_before_a_listener(
    echo_box: Any, dservice: SandboxService
) -> None:
    with pytest.raises(PortClosed, match="nothing answers on port 9 through its preview link"):
        await dservice.forward_port(echo_box.id, 9)
    assert dservice.port_forwards(echo_box.id) == []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(InvalidInput, match=f"port {busy} of 127.0.0.1 is in use"):
            await dservice.process_service.forward(echo_box.id, PORT, busy)
    assert dservice.port_forwards(echo_box.id) == []


async def test_cli_forward_holds_until_sigint(echo_box: Any, serve: Serve, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('identity = "tester"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "SANDBENCH_"))}
    env.update(
        SANDBENCH_HOME=str(tmp_path / "home"),
        SANDBENCH_CONFIG=str(config),
        SANDBENCH_PROVIDER="daytona",
        DAYTONA_API_KEY=serve.token,
        DAYTONA_API_URL=serve.api_url,
        DAYTONA_TARGET="local",
        NO_PROXY="127.0.0.1,localhost",
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "tui.cli", "forward", echo_box.name, str(PORT), "--local-port", str(local), "--json"]
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, (await proc.stderr.read()).decode()
        doc = json.loads(line)
        assert doc == {
            "sandbox": echo_box.name,
            "port": PORT,
            "local_port": local,
            "url": f"http://127.0.0.1:{local}/",
            "via": "preview",
        }
        async with aiohttp.ClientSession() as http, http.get(doc["url"] + "hi") as r:
            assert r.status == 200 and (await r.json())["path"] == "/hi"
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert b"Traceback" not in await proc.stderr.read()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", local), timeout=2).close()
        closed = await asyncio.create_subprocess_exec(
            *cmd[:4], echo_box.name, "9", cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await asyncio.wait_for(closed.communicate(), 60)
        assert closed.returncode == 1 and out == b""
        assert b"nothing answers on port 9" in err and b"Traceback" not in err and len(err.splitlines()) == 1
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
