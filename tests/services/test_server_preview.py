"""Preview links (issue 12): `sandbox.get_preview_link(port)` and signed preview URLs, with the unmodified `daytona`
SDK against a real `sandbench serve`, fetched with httpx and `websockets` through the URLs the SDK returns.

The servers run inside the sandbox, started by a process-session command as agent code does: `python3 -m
http.server`, and a small stdlib server (below) that echoes what it received — method, path, headers, body — and
echoes WebSocket frames (raw RFC 6455: the sandbox's python has no websockets package).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tests.services import test_server_harness as harness
from tests.services.serve_helpers import running_serve
from tests.services.test_server_harness import Serve
from tests.services.test_server_limits import make

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]

TOKEN = "X-Daytona-Preview-Token"

# Echoes HTTP requests as JSON and WebSocket messages as they came (text stays text, binary binary).
ECHO_SERVER = r"""
import base64, hashlib, http.server, json, socketserver, struct, sys

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        if self.path.startswith("/bytes/"):
            n = int(self.path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.write(b"b" * n)
            return
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/landed")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
        out = json.dumps({
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "a=1; Path=/")
        self.send_header("Set-Cookie", "b=2; Path=/")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

    def _websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        wanted = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        if "echo" in wanted:
            self.send_header("Sec-WebSocket-Protocol", "echo")
        self.end_headers()
        self.wfile.flush()
        r, w = self.rfile, self.wfile
        while True:
            head = r.read(2)
            if len(head) < 2:
                self.close_connection = True
                return
            opcode, n = head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", r.read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", r.read(8))[0]
            mask = r.read(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(r.read(n)))
            if opcode == 9:
                opcode = 10
            if opcode == 8:
                w.write(bytes([0x88, len(data)]) + data)
                w.flush()
                self.close_connection = True
                return
            if n < 126:
                w.write(bytes([0x80 | opcode, n]) + data)
            elif n < 65536:
                w.write(bytes([0x80 | opcode, 126]) + struct.pack("!H", n) + data)
            else:
                w.write(bytes([0x80 | opcode, 127]) + struct.pack("!Q", n) + data)
            w.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
"""


SILENT_SERVER = """
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 8081))
s.listen()
conns = [s.accept() for _ in range(100)]
"""


SILENT_SERVER = """
import socket
s = socket.socket()
s.bind(("127.0.0.1", 8081))
s.listen()
held = [s.accept() for _ in range(100)]
"""


async def start_in_session(sb: Any, command: str) -> None:
    from daytona import SessionExecuteRequest

    session = f"srv-{os.urandom(3).hex()}"
    await sb.process.create_session(session)
    await sb.process.execute_session_command(session, SessionExecuteRequest(command=command, run_async=True))


async def wait_serving(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> httpx.Response:
    """The first answer from the sandbox's server through the link (502 until it listens)."""
    got: list[httpx.Response] = []

    async def ready() -> bool:
        r = await client.get(url, headers=headers)
        got.append(r)
        return r.status_code != 502

    await wait_until(None, ready, f"a server answering at {url}", timeout=15)
    return got[-1]


@pytest.fixture
async def echo(sdk: Any) -> AsyncIterator[tuple[Any, Any]]:
    """A sandbox running the echo server on port 8080, and its preview link (ready)."""
    sb = await make(sdk)
    await sb.fs.upload_file(ECHO_SERVER.encode(), "echo.py")
    await start_in_session(sb, "python3 echo.py 8080")
    link = await sb.get_preview_link(8080)
    async with httpx.AsyncClient(timeout=30) as c:
        await wait_serving(c, link.url, {TOKEN: link.token})
    yield sb, link
    await sb.delete()


async def test_preview_link_serves_http_server_started_in_a_session(sdk: Any, serve: Serve) -> None:
    sb = await make(sdk)
    page = b"<h1>hello from the sandbox</h1>\n"
    await sb.fs.upload_file(page, "site/index.html")
    await start_in_session(sb, "cd site && python3 -m http.server 8000")
    link = await sb.get_preview_link(8000)
    assert link.sandbox_id == sb.id
    assert link.url.startswith(f"{serve.base_url}/preview/{sb.id}/8000")  # the server's own address
    assert link.token and serve.token not in link.token
    async with httpx.AsyncClient(timeout=30) as c:
        first = await wait_serving(c, link.url, {TOKEN: link.token})
        assert first.status_code == 200
        assert first.content == page
        assert first.headers["content-type"] == "text/html"
        missing = await c.get(link.url + "nope.txt", headers={TOKEN: link.token})
        assert missing.status_code == 404  # the sandbox server's own answer, passed through
        again = await sb.get_preview_link(8000)
        assert again.token == link.token  # one token per sandbox, as Daytona's
    await sb.delete()


async def test_methods_bodies_and_headers_pass_through_and_credentials_do_not(echo: Any, serve: Serve) -> None:
    _sb, link = echo
    body = os.urandom(3 * 1024 * 1024 + 17)
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(
            link.url + "upload?x=1&y=%2F",
            content=body,
            headers={TOKEN: link.token, "X-Custom": "kept", "Cookie": "session=abc"},
        )
        assert r.status_code == 201
        got = r.json()
        assert got["method"] == "POST"
        assert got["path"] == "/upload?x=1&y=%2F"
        assert (got["length"], got["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
        assert got["headers"]["x-custom"] == "kept"
        assert got["headers"]["cookie"] == "session=abc"
        assert got["headers"]["x-forwarded-prefix"] == f"/preview/{link.sandbox_id}/8080"
        assert "x-daytona-preview-token" not in got["headers"]  # our credential stays here
        assert r.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b"x" * 1000

        # a streamed body without a length, with the API key as the credential: neither leaks into the sandbox
        streamed = await c.put(link.url + "s", content=chunks(), headers={"Authorization": f"Bearer {serve.token}"})
        assert streamed.status_code == 200
        assert streamed.json()["method"] == "PUT"
        assert "authorization" not in streamed.json()["headers"]
        # the app's own Authorization header (not one of ours) is the app's business
        basic = await c.get(link.url, headers={TOKEN: link.token, "Authorization": "Basic dTpw"})
        assert basic.json()["headers"]["authorization"] == "Basic dTpw"
        for method in ("DELETE", "PATCH"):
            assert (await c.request(method, link.url + "m", headers={TOKEN: link.token})).json()["method"] == method
        head = await c.head(link.url, headers={TOKEN: link.token})
        assert head.status_code == 200 and head.content == b""
        # a root-relative redirect stays under the link
        redirect = await c.get(link.url + "redirect", headers={TOKEN: link.token})
        assert redirect.status_code == 302
        assert redirect.headers["location"] == f"/preview/{link.sandbox_id}/8080/landed"
        # `url + "/path"`, as agent code writes it for Daytona's slash-less URLs, reaches /path
        assert (await c.get(link.url + "/joined", headers={TOKEN: link.token})).json()["path"] == "/joined"


async def test_missing_wrong_and_foreign_credentials_are_refused(echo: Any, serve: Serve) -> None:
    from daytona import AsyncDaytona, DaytonaNotFoundError

    sb, link = echo
    async with httpx.AsyncClient(timeout=30) as c:
        for headers in ({}, {TOKEN: "not-the-token"}, {TOKEN: link.token[:-1]}, {"Authorization": "Bearer nope"}):
            r = await c.get(link.url, headers=headers)
            assert r.status_code == 401, headers
            assert "preview token" in r.json()["message"]
        # another owner's API key does not open my sandbox's link, and their SDK cannot ask for one
        other = await c.get(link.url, headers={"Authorization": f"Bearer {serve.other_token}"})
        assert other.status_code == 401  # as for a sandbox that does not exist: ids reveal nothing
        assert other.json()["message"] == "this preview link's sandbox no longer exists"
        asked = await c.get(
            f"{serve.api_url}/sandbox/{sb.id}/ports/8080/preview-url",
            headers={"Authorization": f"Bearer {serve.other_token}"},
        )
        assert asked.status_code == 404
        assert link.token not in asked.text
    theirs = AsyncDaytona(serve.config(serve.other_token))
    try:
        with pytest.raises(DaytonaNotFoundError):
            await theirs.get(sb.id)
    finally:
        await theirs.close()


async def test_signed_url_needs_no_header_and_stops_working_when_expired(echo: Any) -> None:
    sb, _link = echo
    signed = await sb.create_signed_preview_url(8080, expires_in_seconds=2)
    assert signed.port == 8080 and signed.sandbox_id == sb.id
    assert sb.id not in signed.url  # a signed URL does not name the sandbox
    async with httpx.AsyncClient(timeout=30) as c:
        ok = await c.get(signed.url + "page")
        assert ok.status_code == 200 and ok.json()["path"] == "/page"
        # bound to its port
        other_port = await c.get(signed.url.replace("/8080-", "/8081-"))
        assert other_port.status_code == 401
        forged = await c.get(signed.url.replace(signed.token, signed.token[::-1]))
        assert forged.status_code == 401

        async def expired() -> bool:
            return (await c.get(signed.url)).status_code == 403

        t = time.monotonic()
        await wait_until(None, expired, "the signed URL to expire", timeout=10)
        assert time.monotonic() - t < 5
        r = await c.get(signed.url)
        assert "expired" in r.json()["message"]

        # expiring one by the API ends it at once, and only that one
        a = await sb.create_signed_preview_url(8080, expires_in_seconds=3600)
        b = await sb.create_signed_preview_url(8080)
        await sb.expire_signed_preview_url(8080, a.token)
        assert (await c.get(a.url)).status_code == 403
        assert (await c.get(b.url)).status_code == 200


async def test_deleted_sandbox_link_and_custom_proxy_api_answer_clearly(sdk: Any, serve: Serve) -> None:
    sb = await make(sdk)
    link = await sb.get_preview_link(8080)
    signed = await sb.create_signed_preview_url(8080, expires_in_seconds=600)
    await sb.delete()
    async with httpx.AsyncClient(timeout=30) as c:
        gone = await c.get(link.url, headers={TOKEN: link.token})
        assert gone.status_code == 401  # its token went with it
        assert (await c.get(signed.url)).status_code == 401  # and its signed URLs
        api = await c.get(f"{serve.api_url}/preview/{sb.id}/public", headers={"Authorization": f"Bearer {serve.token}"})
        assert api.status_code == 501
        assert "not supported by sandbench serve" in api.json()["message"]


async def test_concurrent_requests_and_another_sandbox_s_port(echo: Any, sdk: Any) -> None:
    _sb, link = echo
    async with httpx.AsyncClient(timeout=60) as c:
        got = await asyncio.gather(*(c.get(link.url + f"n{i}", headers={TOKEN: link.token}) for i in range(40)))
        assert sorted(r.json()["path"] for r in got) == sorted(f"/n{i}" for i in range(40))
        # the same port of another sandbox of mine, where nothing listens: never the first sandbox's server
        empty = await make(sdk)
        try:
            theirs = await empty.get_preview_link(8080)
            r = await c.get(theirs.url, headers={TOKEN: theirs.token})
            assert r.status_code == 502
            # and one sandbox's token does not open another's link
            assert (await c.get(theirs.url, headers={TOKEN: link.token})).status_code == 401
        finally:
            await empty.delete()


async def test_signed_url_expiry_is_validated(echo: Any) -> None:
    from daytona import DaytonaError

    sb, _link = echo
    with pytest.raises(DaytonaError, match="expiresInSeconds must be from 1"):
        await sb.create_signed_preview_url(8080, expires_in_seconds=0)
    with pytest.raises(DaytonaError, match="port must be from 1 to 65535"):
        await sb.get_preview_link(70000)


async def test_websocket_is_proxied_both_ways(echo: Any) -> None:
    from websockets.asyncio.client import connect

    sb, link = echo
    ws_url = link.url.replace("http://", "ws://") + "ws"
    async with connect(ws_url, additional_headers={TOKEN: link.token}, subprotocols=["echo"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "echo"  # the sandbox server's choice reaches the client
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        big = os.urandom(200_000)
        await ws.send(big)
        assert await ws.recv() == big
    signed = await sb.create_signed_preview_url(8080, expires_in_seconds=60)
    async with connect(signed.url.replace("http://", "ws://")) as ws:
        await ws.send(b"\x00\x01")
        assert await ws.recv() == b"\x00\x01"
    # without the token there is no WebSocket either
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url):
            pass
    assert refused.value.response.status_code == 401


async def test_closed_port_and_stopped_sandbox_answer_clearly(echo: Any) -> None:
    sb, link = echo
    closed = await sb.get_preview_link(8999)
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.get(closed.url, headers={TOKEN: closed.token})
        assert r.status_code == 502
        assert "nothing is listening on port 8999" in r.json()["message"]
        # a port listening in a namespace that is not the sandbox's is not reachable: the serve's own port, say
        own = await sb.get_preview_link(int(link.url.split(":")[2].split("/")[0]))
        assert (await c.get(own.url, headers={TOKEN: own.token})).status_code == 502
        await sb.stop()
        stopped = await c.get(link.url, headers={TOKEN: link.token})
        assert stopped.status_code == 409
        assert "stopped" in stopped.json()["message"]
        await sb.start()
        # a restart resets the standard token, as Daytona's does: ask for the link again
        assert (await c.get(link.url, headers={TOKEN: link.token})).status_code == 401
        fresh = await sb.get_preview_link(8080)
        assert fresh.token != link.token and fresh.url == link.url
        await start_in_session(sb, "python3 echo.py 8080")  # the stop ended the server
        assert (await wait_serving(c, fresh.url, {TOKEN: fresh.token})).status_code == 200


# -- bounds ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def limited() -> Iterator[Serve]:
    flags = ["--preview-max-body-mib", "1", "--preview-max-connections", "2", "--preview-timeout", "2"]
    flags += ["--preview-max-response-mib", "1", "--body-timeout", "2"]
    with running_serve(*flags, other_owner=False) as srv:
        yield srv


@pytest.fixture
async def lim_echo(limited: Serve) -> AsyncIterator[tuple[Any, Any]]:
    from daytona import AsyncDaytona

    client = AsyncDaytona(limited.config())
    sb = await make(client)
    await sb.fs.upload_file(ECHO_SERVER.encode(), "echo.py")
    await start_in_session(sb, "python3 echo.py 8080")
    # a server that accepts and never answers
    await sb.fs.upload_file(SILENT_SERVER.encode(), "silent.py")
    await start_in_session(sb, "python3 silent.py")
    link = await sb.get_preview_link(8080)
    async with httpx.AsyncClient(timeout=30) as c:
        await wait_serving(c, link.url, {TOKEN: link.token})
    yield sb, link
    await sb.delete()
    await client.close()


async def test_body_over_the_cap_is_refused(lim_echo: Any) -> None:
    _sb, link = lim_echo
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(link.url, content=b"x" * (2 * 1024 * 1024), headers={TOKEN: link.token})
        assert r.status_code == 413
        assert "--preview-max-body-mib" in r.json()["message"]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(40):
                yield b"y" * 65536

        streamed = await c.post(link.url, content=chunks(), headers={TOKEN: link.token})
        assert streamed.status_code == 413
        ok = await c.post(link.url, content=b"z" * 1000, headers={TOKEN: link.token})
        assert ok.status_code == 201  # the proxy still works after refusing


async def test_response_over_the_cap_is_cut_never_passed_as_complete(lim_echo: Any) -> None:
    _sb, link = lim_echo
    async with httpx.AsyncClient(timeout=30) as c:
        whole = await c.get(link.url + "bytes/900000", headers={TOKEN: link.token})
        assert whole.status_code == 200 and whole.content == b"b" * 900000
        with pytest.raises(httpx.RemoteProtocolError):  # the connection closed short of Content-Length
            await c.get(link.url + "bytes/3000000", headers={TOKEN: link.token})


async def test_stalled_request_body_gets_408_not_a_hung_proxy(lim_echo: Any) -> None:
    _sb, link = lim_echo
    url = httpx.URL(link.url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = (
        f"POST {url.raw_path.decode()} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n{TOKEN}: {link.token}\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    writer.write(head.encode() + b"0123456789")  # then nothing more
    t = time.monotonic()
    answer = await asyncio.wait_for(reader.read(4096), 20)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive within 2 s" in answer
    assert time.monotonic() - t < 10


async def test_silent_server_times_out_and_connections_are_capped(lim_echo: Any) -> None:
    from websockets.asyncio.client import connect

    sb, link = lim_echo
    silent = await sb.get_preview_link(8081)
    async with httpx.AsyncClient(timeout=30) as c:
        t = time.monotonic()
        r = await c.get(silent.url, headers={TOKEN: silent.token})
        assert r.status_code == 504
        assert "did not answer within 2 s" in r.json()["message"]
        assert time.monotonic() - t < 10
        ws_url = link.url.replace("http://", "ws://")
        async with connect(ws_url, additional_headers={TOKEN: link.token}) as one:
            async with connect(ws_url, additional_headers={TOKEN: link.token}):
                third = await c.get(link.url, headers={TOKEN: link.token})
                assert third.status_code == 429
                assert "--preview-max-connections" in third.json()["message"]
            await one.send("still here")
            assert await one.recv() == "still here"

        async def slots_back() -> bool:  # once the server has seen both WebSockets close
            return (await c.get(link.url, headers={TOKEN: link.token})).status_code == 200

        await wait_until(None, slots_back, "the preview connection slots to be given back", timeout=5)


def test_preview_tokens_are_unguessable_and_distinct() -> None:
    """Standard tokens are per sandbox, signed ones per URL; each is 192 random bits."""
    from services.port_forward import PortForwarder
    from services.server.auth import TokenTable
    from services.server.limits import ServeLimits
    from services.server.preview import PreviewState

    ps = PreviewState(PortForwarder(object()), ServeLimits(), TokenTable({}))  # type: ignore[arg-type]
    a, b = ps.standard_token("me", "s1"), ps.standard_token("me", "s2")
    signed = {ps.sign("me", "s1", 80, 60) for _ in range(50)}
    assert len({a, b, *signed}) == 52
    assert all(len(t) >= 32 for t in (a, b, *signed))
    assert ps.check_standard("s1", a) == "me" and ps.check_standard("s1", b) is None
    assert json.dumps(ps.check_signed(next(iter(signed)), 80).port) == "80"


def test_sync_client_links_work_too(serve: Serve) -> None:
    """The sync `Daytona` client: the same routes, the same answers."""
    from daytona import CreateSandboxFromSnapshotParams, Daytona, SessionExecuteRequest

    d = Daytona(serve.config())
    sb = d.create(CreateSandboxFromSnapshotParams(name=harness.unique()), timeout=30)
    try:
        sb.fs.upload_file(b"sync page\n", "index.html")
        sb.process.create_session("web")
        sb.process.execute_session_command(
            "web", SessionExecuteRequest(command="python3 -m http.server 8000", run_async=True)
        )
        link = sb.get_preview_link(8000)
        signed = sb.create_signed_preview_url(8000, expires_in_seconds=60)
        deadline = time.monotonic() + 15
        with httpx.Client(timeout=30) as c:
            while (r := c.get(link.url + "index.html", headers={TOKEN: link.token})).status_code == 502:
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.05)
            assert (r.status_code, r.content) == (200, b"sync page\n")
            assert c.get(signed.url + "index.html").content == b"sync page\n"
            sb.expire_signed_preview_url(8000, signed.token)
            assert c.get(signed.url).status_code == 403
    finally:
        sb.delete()
