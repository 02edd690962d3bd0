"""Port forwarding: a TCP connection from the host to a port a sandbox listens on, UI-free.

`PortForwarder.connect(sandbox_id, port)` returns a connected, non-blocking socket to the listener on `port`
inside the sandbox — for `sandbench serve`'s preview links (services/server/preview.py), and for the app's
"forward a port" (a host listener piping each connection through `connect`). Callers check ownership first (the
forwarder takes an id the caller may use); the forwarder checks that the sandbox runs and that something listens.

Local sandboxes only: each process tree of a local sandbox has its own network namespace, reached through a
namespace helper (services/local/netns.py). Helpers are kept per namespace and dropped when their namespace is no
longer one of the sandbox's, or when they died idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket

from services.errors import NotRunning, NotSupported, SandbenchError
from services.local import netns
from services.models import SandboxState
from services.provider import Provider

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0


class PortClosed(SandbenchError):
    """Nothing listens on the port inside the sandbox (or the listener refused the connection)."""

    title = "Port closed"
    http_status = 502
    http_code = "PORT_CLOSED"


class ForwardUnsupported(NotSupported):
    """Port forwarding asked of a sandbox it cannot reach (not a local one)."""


def check_port(port: int) -> int:
    from services.errors import InvalidInput

    if not 1 <= port <= 65535:
        raise InvalidInput(f"port must be from 1 to 65535, not {port}")
    return port


class PortForwarder:
    """Connections into local sandboxes' ports (see the module docstring)."""

    def __init__(self, provider: Provider):
        self.provider = provider
        self._helpers: dict[int, netns.NsSocketHelper] = {}  # netns inode → helper
        self._by_sandbox: dict[str, set[int]] = {}
        self._starting: dict[int, asyncio.Task[netns.NsSocketHelper]] = {}
        self._where: dict[tuple[str, int], netns.Listener] = {}  # (sandbox, port) → where it listens

    def _launcher(self) -> object:
        launcher = getattr(self.provider, "launcher", None)
        if launcher is None or not hasattr(launcher, "live_pids"):
            raise ForwardUnsupported("port forwarding reaches local sandboxes only")
        return launcher

    async def find(self, sandbox_id: str, port: int) -> tuple[netns.Listener, bool]:
        """The listener on `port` in the (running) sandbox, and whether it was remembered rather than looked up;
        PortClosed when there is none. Looking up reads the namespaces' socket tables (~10 ms on a busy host: the
        kernel walks its whole connection table), so the answer is kept while its namespace lives."""
        check_port(port)
        launcher = self._launcher()
        info = await self.provider.get(sandbox_id)
        if info.state is not SandboxState.STARTED:
            self.invalidate(sandbox_id)
            raise NotRunning(f"sandbox {info.name!r} is {info.state}: nothing listens on its ports")
        pids = launcher.live_pids(sandbox_id)  # type: ignore[attr-defined]
        live = netns.namespaces(pids)
        await self._drop_gone(sandbox_id, set(live))
        known = self._where.get((sandbox_id, port))
        if known is not None and known.netns in live:
            return dataclasses.replace(known, pid=live[known.netns]), True
        found = await asyncio.to_thread(netns.listeners, pids, port)
        if not found:
            self._where.pop((sandbox_id, port), None)
            raise PortClosed(
                f"nothing is listening on port {port} in sandbox {info.name!r}: start a server on that port "
                f"inside the sandbox (e.g. python3 -m http.server {port})"
            )
        self._where[(sandbox_id, port)] = found[0]
        return found[0], False

    def invalidate(self, sandbox_id: str, port: int | None = None) -> None:
        """Forget where the sandbox's port (or every port) listens: the next connection looks again."""
        for key in [k for k in self._where if k[0] == sandbox_id and (port is None or k[1] == port)]:
            del self._where[key]

    async def _drop_gone(self, sandbox_id: str, live: set[int]) -> None:
        """Close helpers of namespaces the sandbox no longer has: they would keep a dead namespace alive."""
        known = self._by_sandbox.get(sandbox_id)
        if not known:
            return
        for ino in list(known - live):
            known.discard(ino)
            helper = self._helpers.pop(ino, None)
            if helper is not None:
                await helper.close()

    async def _helper(self, sandbox_id: str, listener: netns.Listener) -> netns.NsSocketHelper:
        helper = self._helpers.get(listener.netns)
        if helper is not None and helper.alive:
            return helper
        task = self._starting.get(listener.netns)
        if task is None:  # one start per namespace, however many connections ask at once
            task = asyncio.ensure_future(netns.NsSocketHelper.start(listener.pid, listener.netns))
            self._starting[listener.netns] = task
            task.add_done_callback(lambda _t: self._starting.pop(listener.netns, None))
        helper = await asyncio.shield(task)
        self._helpers[listener.netns] = helper
        self._by_sandbox.setdefault(sandbox_id, set()).add(listener.netns)
        return helper

    async def new_socket(self, sandbox_id: str, port: int) -> tuple[socket.socket, tuple[str, int], bool]:
        """An unconnected, non-blocking socket inside the namespace listening on `port`, the address to connect it
        to there (for clients that connect sockets themselves, such as aiohttp's `socket_factory`), and whether
        that listener was remembered (a refused connection then deserves one more look: `invalidate`)."""
        listener, remembered = await self.find(sandbox_id, port)
        helper = await self._helper(sandbox_id, listener)
        try:
            sock = await helper.new_socket(listener.family)
        except SandbenchError:
            # a helper that exited idle between our look and our ask: once more with a fresh one
            self._helpers.pop(listener.netns, None)
            helper = await self._helper(sandbox_id, listener)
            sock = await helper.new_socket(listener.family)
        return sock, (listener.address, port), remembered

    async def connect(self, sandbox_id: str, port: int, *, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
        """A connected, non-blocking socket to `port` inside the sandbox."""
        for _attempt in range(2):
            sock, address, remembered = await self.new_socket(sandbox_id, port)
            try:
                await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, address), timeout)
                return sock
            except (OSError, TimeoutError) as exc:
                sock.close()
                self.invalidate(sandbox_id, port)
                if remembered and isinstance(exc, OSError):
                    continue  # the server moved (restarted in another process tree): look again
                why = "timed out" if isinstance(exc, TimeoutError) else "was refused"
                raise PortClosed(f"the connection to port {port} in the sandbox {why}") from None
            except BaseException:
                sock.close()
                raise
        raise PortClosed(f"the connection to port {port} in the sandbox was refused")

    async def open_connection(
        self, sandbox_id: str, port: int, *, limit: int = 2**16
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """`connect`, as asyncio streams."""
        sock = await self.connect(sandbox_id, port)
        try:
            return await asyncio.open_connection(sock=sock, limit=limit)
        except BaseException:
            sock.close()
            raise

    async def forget(self, sandbox_id: str) -> None:
        """The sandbox stopped or went away: its helpers go now rather than when idle."""
        self.invalidate(sandbox_id)
        for ino in self._by_sandbox.pop(sandbox_id, set()):
            helper = self._helpers.pop(ino, None)
            if helper is not None:
                await helper.close()

    async def close(self) -> None:
        for sandbox_id in list(self._by_sandbox):
            await self.forget(sandbox_id)
        for task in list(self._starting.values()):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
