"""Faults between DaytonaProvider and a real `sandbench serve`: the server killed mid-operation and restarted, and a
PTY WebSocket dropped by the network (a TCP proxy that cuts every connection). The provider says what happened in
one line, and recovers when the server does; a terminal reconnects to the same shell."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.config import Config, DaytonaConfig
from services.daytona import DaytonaProvider
from services.errors import ProviderError
from services.models import SandboxSpec
from tests.conftest import read_until, wait_until
from tests.services.test_server_harness import IDENTITY, make_home, start_serve, stop_serve

pytestmark = pytest.mark.timeout(120)


def provider(url: str, token: str) -> DaytonaProvider:
    cfg = Config(identity=IDENTITY, daytona=DaytonaConfig(api_key=token, api_url=f"{url}/api", target="local"))
    return DaytonaProvider(cfg)


async def test_server_killed_mid_operation_and_restarted() -> None:
    home = make_home()
    proc, port = start_serve(home)
    token = (home / "serve-token").read_text().strip()
    p = provider(f"http://127.0.0.1:{port}", token)
    try:
        info = await p.create(SandboxSpec(name=f"f-{secrets.token_hex(3)}"), IDENTITY)
        await p.write_file(info.id, "a.txt", b"before")
        stop_serve(proc)  # SIGTERM; the server goes away between two calls
        with pytest.raises(ProviderError) as err:
            await p.read_file(info.id, "a.txt", limit=100)
        assert "\n" not in str(err.value) and token not in str(err.value)
        # plain words, not aiohttp's (`ssl:default [Connect call failed ('127.0.0.1', …)]`)
        assert f"cannot reach Daytona at 127.0.0.1:{port} during stat: nothing answers there" in str(err.value)
        assert "ssl:" not in str(err.value) and "('127.0.0.1'" not in str(err.value)
        proc, _ = start_serve(home, "--port", str(port))  # same port, same data: the sandbox is still there
        assert (await p.read_file(info.id, "a.txt", limit=100)).data == b"before"
        await p.delete(info.id)
    finally:
        await p.close()
        stop_serve(proc)
        shutil.rmtree(home.parent, ignore_errors=True)


class Proxy:
    """A loopback TCP proxy whose live connections can be cut at once (a flaky network, not a dead server)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.conns: set[asyncio.StreamWriter] = set()
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.refusing = False  # the network still down: new connections are cut at once

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.conns.update((writer, up_w))

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            with contextlib.suppress(Exception):
                w.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        self.conns.discard(writer)
        self.conns.discard(up_w)

    def cut(self) -> None:
        for w in list(self.conns):
            transport = w.transport
            transport.abort()
        self.conns.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def served() -> AsyncIterator[tuple[Any, str]]:
    home = make_home()
    proc, port = start_serve(home)
    yield port, (home / "serve-token").read_text().strip()
    stop_serve(proc)
    shutil.rmtree(home.parent, ignore_errors=True)


@contextlib.asynccontextmanager
async def shell_behind_a_proxy(served: tuple[int, str]) -> AsyncIterator[tuple[Proxy, Any, bytearray]]:
    """A Daytona terminal reached through a `Proxy`, its shell holding X=42 (shown as `one-42` in the output
    collected so far); after the block the shell must exit with 3 when asked."""
    port, token = served
    proxy = Proxy(port)
    await proxy.start()
    p = provider(f"http://127.0.0.1:{proxy.port}", token)
    try:
        info = await p.create(SandboxSpec(name=f"f-{secrets.token_hex(3)}"), IDENTITY)
        term = await p.open_terminal(info.id, 80, 24)
        out = bytearray()
        await term.write(b"X=$((6*7)); echo one-$X\n")
        await read_until(term, out, b"one-42", 15)
        yield proxy, term, out
        await term.write(b"exit 3\n")
        assert await asyncio.wait_for(term.wait(), 15) == 3
        await p.delete(info.id)
    finally:
        await p.close()
        await proxy.close()


@pytest.mark.bwrap
async def test_dropped_pty_websocket_reconnects_to_the_same_shell(served: tuple[int, str]) -> None:
    async with shell_behind_a_proxy(served) as (proxy, term, out):
        proxy.cut()  # every TCP connection dies: the WebSocket and the SDK's pooled HTTP ones
        # the terminal notices the cut and reconnects on its own, once
        reconnected = lambda: term.reconnects >= 1 and term.status == "connected"  # noqa: E731
        await wait_until(None, reconnected, "the terminal to reconnect", timeout=15)
        assert term.reconnects == 1
        await term.write(b"echo two-$X\n")  # same shell: X is still set
        await read_until(term, out, b"two-42", 15)


@pytest.mark.bwrap
async def test_keys_typed_while_the_terminal_reconnects_reach_the_shell(served: tuple[int, str]) -> None:
    """Typing while the link is down is not lost: the keys wait for the reconnect and reach the same shell, in
    order (they were dropped with a debug line)."""
    async with shell_behind_a_proxy(served) as (proxy, term, out):
        proxy.refusing = True
        proxy.cut()
        await wait_until(None, lambda: term.status == "reconnecting", "the terminal to see the drop", timeout=15)
        typed = [asyncio.ensure_future(term.write(key)) for key in (b"echo ", b"thr", b"ee-$X", b"\n")]
        proxy.refusing = False
        await wait_until(None, lambda: term.status == "connected", "the terminal to reconnect", timeout=20)
        await asyncio.gather(*typed)
        await read_until(term, out, b"three-42", 15)
