"""Forwarding a sandbox's port to localhost: a listener on 127.0.0.1 (an ephemeral port, or the one asked for)
whose every connection is piped to the port inside the sandbox through `PortForwarder` (services/port_forward.py,
what `serve`'s preview links use), UI-free. A provider whose ports are reached through preview links (Daytona:
`PreviewLinks`) gets an HTTP forward through the port's link instead (services/forwards_preview.py: HTTP and
WebSockets only, bounded there).

Bounded: at most `MAX_PER_SANDBOX` forwards per sandbox and `MAX_CONNECTIONS` connections per forward (more are
closed at once). A forward lives until it is closed, its sandbox stops (`close_sandbox`), or the app closes
(`close_all`). The listener is on loopback only; like `ssh -L`, any local user of this machine can connect to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.errors import InvalidInput, SandbenchError
from services.forwards_preview import PreviewLinks, PreviewProxy, answers
from services.port_forward import PortClosed, PortForwarder, check_port
from services.provider import Provider

log = logging.getLogger(__name__)

MAX_PER_SANDBOX = 4
MAX_CONNECTIONS = 32
CHUNK = 64 * 1024
HOST = "127.0.0.1"


@dataclass
class Forward:
    sandbox_id: str
    port: int  # inside the sandbox
    local_port: int
    server: asyncio.Server = field(repr=False)
    connections: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    via: str = "tcp"  # "tcp": every connection piped to the port; "preview": HTTP through the port's preview link
    closer: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.local_port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}/"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class PortForwards:
    """The open forwards of one service (see the module docstring)."""

    def __init__(self, provider: Provider) -> None:
        self.forwarder = PortForwarder(provider)
        self._open: dict[tuple[str, int], Forward] = {}
        # forwards being opened, one task per port: a second open of the same port awaits the first, other ports
        # do not wait (a preview link's fetch and probe may take CONNECT_TIMEOUT against a silent server)
        self._opening: dict[tuple[str, int], asyncio.Task[Forward]] = {}

    def list(self, sandbox_id: str) -> list[Forward]:
        return sorted((f for (sid, _p), f in self._open.items() if sid == sandbox_id), key=lambda f: f.port)

    def get(self, sandbox_id: str, port: int) -> Forward | None:
        return self._open.get((sandbox_id, port))

    @property
    def via_preview(self) -> bool:
        """Ports are reached through preview links (HTTP only), not as TCP."""
        return isinstance(self.forwarder.provider, PreviewLinks)

    async def open(
        self, sandbox_id: str, port: int, local_port: int = 0, *, what: str = "", probe: bool = True
    ) -> Forward:
        """A forward of `port` (the one already open, if any) on `local_port` of 127.0.0.1 (0: any free one).
        Checks first that something listens there (a preview-link forward: with `probe`, one HEAD request through
        the link; without, the caller saw the port listening)."""
        check_port(port)
        if local_port:
            check_port(local_port)
        key = (sandbox_id, port)
        known = self._open.get(key)
        if known is not None:
            return known
        task = self._opening.get(key)
        if task is None:
            opening = sum(1 for sid, _p in self._opening if sid == sandbox_id)
            if len(self.list(sandbox_id)) + opening >= MAX_PER_SANDBOX:
                raise InvalidInput(
                    f"at most {MAX_PER_SANDBOX} ports of one sandbox are forwarded at once: close one first"
                )
            task = asyncio.ensure_future(self._start(sandbox_id, port, local_port, what, probe))
            self._opening[key] = task
            task.add_done_callback(lambda _t: self._opening.pop(key, None))
        # shielded: a caller that gives up does not cancel the open another caller of the same port awaits
        return await asyncio.shield(task)

    async def _start(self, sandbox_id: str, port: int, local_port: int, what: str, probe: bool) -> Forward:
        if self.via_preview:
            fwd = await self._open_preview(sandbox_id, port, local_port, what or f"port {port}", probe)
            self._open[(sandbox_id, port)] = fwd
            return fwd
        await self.forwarder.find(sandbox_id, port)  # PortClosed, NotRunning: said before a listener exists
        holder: list[Forward] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            fwd = holder[0]
            task = asyncio.current_task()
            if len(fwd.connections) >= MAX_CONNECTIONS or task is None:
                writer.close()
                return
            fwd.connections.add(task)
            try:
                await self._serve(fwd, reader, writer)
            finally:
                fwd.connections.discard(task)

        server = await _listening(asyncio.start_server(handle, HOST, local_port), local_port)
        local_port = server.sockets[0].getsockname()[1]
        fwd = Forward(sandbox_id, port, local_port, server)
        holder.append(fwd)
        self._open[(sandbox_id, port)] = fwd
        return fwd

    async def _open_preview(self, sandbox_id: str, port: int, local_port: int, what: str, probe: bool) -> Forward:
        provider = self.forwarder.provider
        assert isinstance(provider, PreviewLinks)

        def link() -> Awaitable[tuple[str, str]]:
            return provider.preview_link(sandbox_id, port)

        url, token = await link()
        if probe and not await answers(url, token):
            raise PortClosed(
                f"nothing answers on port {port} through its preview link ({what}): start a server on that port "
                f"inside the sandbox (e.g. python3 -m http.server {port}); a preview link carries HTTP only"
            )
        proxy = PreviewProxy(link, url, token, what=what)
        server = await _listening(proxy.listen(HOST, local_port), local_port)
        bound = server.sockets[0].getsockname()[1]
        return Forward(sandbox_id, port, bound, server, via="preview", closer=proxy.close)

    async def _serve(self, fwd: Forward, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            inner_r, inner_w = await self.forwarder.open_connection(fwd.sandbox_id, fwd.port)
        except SandbenchError as exc:
            log.info("forward of port %s of %s: %s", fwd.port, fwd.sandbox_id, exc)
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, inner_w), _pipe(inner_r, writer))
        finally:
            for w in (inner_w, writer):
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()

    async def close(self, sandbox_id: str, port: int) -> bool:
        fwd = self._open.pop((sandbox_id, port), None)
        if fwd is None:
            return False
        fwd.server.close()
        for task in list(fwd.connections):
            task.cancel()
        await asyncio.gather(*fwd.connections, return_exceptions=True)
        if fwd.closer is not None:
            await fwd.closer()
        with contextlib.suppress(Exception):
            await fwd.server.wait_closed()
        return True

    async def close_sandbox(self, sandbox_id: str) -> None:
        for fwd in self.list(sandbox_id):
            await self.close(sandbox_id, fwd.port)
        await self.forwarder.forget(sandbox_id)

    async def close_all(self) -> None:
        opening = list(self._opening.values())
        for task in opening:
            task.cancel()
        await asyncio.gather(*opening, return_exceptions=True)
        for sid, port in list(self._open):
            await self.close(sid, port)
        await self.forwarder.close()


async def _listening(starting: Awaitable[asyncio.Server], local_port: int) -> asyncio.Server:
    """The listener `starting` makes; a local port someone else holds is said plainly."""
    try:
        return await starting
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInput(f"port {local_port} of {HOST} is in use: choose another local port") from None
        raise
