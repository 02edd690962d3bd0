"""Sockets in a local sandbox's network namespaces: which namespace listens on a port, and a socket made inside it.

Every process a local sandbox runs is its own bubblewrap with its own network namespace (`--unshare-net`, see
launch.py), so "port 8000 of the sandbox" means "port 8000 in the namespace of whichever of the sandbox's process
trees listens on it". `listeners` finds it: for each live outer bwrap of the sandbox (`Launcher.live_pids`), its
child is inside the namespaces; `/proc/CHILD/net/tcp{,6}` is that namespace's socket table, listening sockets first.

A listener there cannot be reached from the host's network namespace. `NsSocketHelper` is a small host-side Python
process (our code, never the sandbox's) that joins the namespace — `setns` into its owning user namespace first when
we are not root, which a multi-threaded process such as the server may not do — and then hands back, over a
SOCK_SEQPACKET socketpair, fresh *unconnected* TCP sockets made inside it (SCM_RIGHTS). A socket keeps the network
namespace it was made in, so the server connects it to the sandbox's 127.0.0.1:PORT itself, without the helper ever
touching the network (sockets come in small batches, see `NsSocketHelper.new_socket`). One helper serves one
namespace; it exits when told, when idle for `HELPER_IDLE` seconds (it keeps the namespace alive while it runs), or
when the server dies (PR_SET_PDEATHSIG).

Fail closed: a namespace that is the host's own is never used (that would proxy to the host's services).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import subprocess
import sys
from dataclasses import dataclass

from services.errors import IsolationUnavailable
from services.proc_parse import parse_net_table

log = logging.getLogger(__name__)

NS_GET_USERNS = 0xB701  # <linux/nsfs.h> _IO(0xb7, 0x1)
HELPER_IDLE = 30.0  # seconds a helper with no request waits before exiting (and letting its namespace go)
HELPER_START_TIMEOUT = 5.0
REQUEST_TIMEOUT = 2.0
BATCH = 8  # sockets per request to the helper
TABLE_MAX = 1024 * 1024  # bytes of /proc/PID/net/tcp read: listening sockets come first, so this always has them

# The helper, run as `python -I -S -c HELPER_CODE NETNS_FD USERNS_FD` with its control socket as stdin. It only
# joins the namespace and makes sockets: no network I/O, no file access, nothing read from the sandbox.
HELPER_CODE = r"""
import ctypes, os, select, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG SIGKILL: never outlive the server
libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
if os.getppid() == 1:
    sys.exit(5)
netns, userns = int(sys.argv[1]), int(sys.argv[2])
if userns >= 0 and libc.setns(userns, 0x10000000) != 0:
    sys.exit(3)
if libc.setns(netns, 0x40000000) != 0:
    sys.exit(4)
os.close(netns)
if userns >= 0:
    os.close(userns)
ctl = socket.socket(fileno=0)
ctl.send(b"R")
idle = float(sys.argv[3])
while select.select([ctl], [], [], idle)[0]:
    req = ctl.recv(16)
    if not req:
        break
    fam = socket.AF_INET6 if req[:1] == b"6" else socket.AF_INET
    n = min(max(req[1] if len(req) > 1 else 1, 1), 16)
    made = [socket.socket(fam, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) for _ in range(n)]
    socket.send_fds(ctl, [b"S"], [s.fileno() for s in made])
    for s in made:
        s.close()
"""


@dataclass(frozen=True)
class Listener:
    """A TCP socket listening on a port inside one of a sandbox's network namespaces."""

    netns: int  # the namespace's inode
    pid: int  # a process inside it (for /proc/PID/ns/net)
    family: socket.AddressFamily
    address: str  # where to connect inside: the bound address, a wildcard mapped to loopback


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return []


def host_netns() -> int:
    return os.stat("/proc/self/ns/net").st_ino


def namespaces(outer_pids: list[int]) -> dict[int, int]:
    """netns inode → a pid inside it, for the sandbox whose outer bwrap processes are `outer_pids`. The host's own
    namespace (where the outer bwraps live) is never in the answer."""
    host = host_netns()
    found: dict[int, int] = {}
    for outer in outer_pids:
        for pid in (outer, *_children(outer)):
            try:
                ino = os.stat(f"/proc/{pid}/ns/net").st_ino
            except OSError:
                continue
            if ino != host:
                found.setdefault(ino, pid)
    return found


def _listening(pid: int, port: int) -> list[tuple[socket.AddressFamily, str]]:
    """(family, address to connect to) of the sockets listening on `port` in pid's network namespace."""
    out: list[tuple[socket.AddressFamily, str]] = []
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}", "rb") as f:
                table = f.read(TABLE_MAX).decode("ascii", "replace")
        except OSError:
            continue
        for sock in parse_net_table(table, name):
            if sock.port != port:
                continue
            if name == "tcp":
                wildcard = sock.address == "0.0.0.0"  # noqa: S104 - a wildcard, read
                out.append((socket.AF_INET, "127.0.0.1" if wildcard else sock.address))
            elif ":" not in sock.address:  # an IPv4-mapped IPv6 listener, in its IPv4 form
                out.append((socket.AF_INET, sock.address))
            else:
                out.append((socket.AF_INET6, "::1" if sock.address == "::" else sock.address))
    return out


def listeners(outer_pids: list[int], port: int) -> list[Listener]:
    """Every listener on `port` in the sandbox's namespaces; IPv4 first (what clients of a dev server expect)."""
    found: list[Listener] = []
    for ino, pid in namespaces(outer_pids).items():
        for fam, addr in _listening(pid, port):
            found.append(Listener(ino, pid, fam, addr))
    found.sort(key=lambda li: (li.family != socket.AF_INET, li.address not in ("127.0.0.1", "::1")))
    return found


async def _readable(sock: socket.socket, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(sock.fileno(), ready)
    try:
        await asyncio.wait_for(fut, timeout)
    finally:
        loop.remove_reader(sock.fileno())


class NsSocketHelper:
    """The helper process for one network namespace (see the module docstring)."""

    def __init__(self, netns: int, proc: asyncio.subprocess.Process, ctl: socket.socket):
        self.netns = netns
        self._proc = proc
        self._ctl = ctl
        self._lock = asyncio.Lock()
        self._pool: dict[socket.AddressFamily, list[socket.socket]] = {}
        # when the helper exits (idle, or killed), its spare sockets go too: each would keep the namespace alive
        self._watch = asyncio.ensure_future(self._on_exit())

    async def _on_exit(self) -> None:
        await self._proc.wait()
        self._drop_pool()

    @classmethod
    async def start(cls, pid: int, netns: int) -> NsSocketHelper:
        """A helper inside the network namespace of `pid` (whose inode must be `netns`)."""
        net_fd = user_fd = -1
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            try:
                net_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                if os.fstat(net_fd).st_ino != netns or netns == host_netns():
                    raise IsolationUnavailable("the sandbox's process went away while its port was being reached")
                if os.geteuid() != 0:
                    # the namespace belongs to bwrap's user namespace: join that first (we own it)
                    user_fd = fcntl.ioctl(net_fd, NS_GET_USERNS)
            except OSError as exc:
                log.warning("cannot open the network namespace of pid %s: %s", pid, exc)
                raise IsolationUnavailable("cannot reach the sandbox's network") from exc
            fds = [net_fd] if user_fd < 0 else [net_fd, user_fd]
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-I",
                    "-S",
                    "-c",
                    HELPER_CODE,
                    str(net_fd),
                    str(user_fd),
                    str(HELPER_IDLE),
                    stdin=theirs.fileno(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    pass_fds=fds,
                    env={"PATH": "/usr/bin:/bin"},
                    cwd="/",
                )
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("could not start the namespace helper: %s", exc)
                raise IsolationUnavailable("cannot reach the sandbox's network") from exc
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            for fd in (net_fd, user_fd):
                if fd >= 0:
                    os.close(fd)
        ours.setblocking(False)
        helper = cls(netns, proc, ours)
        try:
            await _readable(ours, HELPER_START_TIMEOUT)
            ready = ours.recv(4)
        except (TimeoutError, OSError):
            ready = b""
        if ready != b"R":
            await helper.close()
            log.warning("namespace helper for pid %s did not start (exit %s)", pid, proc.returncode)
            raise IsolationUnavailable("cannot reach the sandbox's network (see the server log)")
        return helper

    @property
    def alive(self) -> bool:
        return self._proc.returncode is None

    async def new_socket(self, family: socket.AddressFamily) -> socket.socket:
        """A fresh, unconnected, non-blocking TCP socket inside the namespace. Sockets come from the helper in
        batches of `BATCH` (one round trip to another process costs ~1 ms on a loaded machine, ten at the tail);
        the spare ones wait here, unconnected, until asked for or the helper is closed."""
        async with self._lock:
            if not self.alive:
                raise IsolationUnavailable("the sandbox's network helper has exited")
            pool = self._pool.setdefault(family, [])
            if not pool:
                pool.extend(await self._fetch(family))
            sock = pool.pop()
        sock.setblocking(False)
        return sock

    async def _fetch(self, family: socket.AddressFamily) -> list[socket.socket]:
        fds: list[int] = []
        try:
            self._ctl.send((b"6" if family == socket.AF_INET6 else b"4") + bytes([BATCH]))
            while True:
                try:
                    msg, fds, _flags, _addr = socket.recv_fds(self._ctl, 4, BATCH)
                    break
                except BlockingIOError:
                    await _readable(self._ctl, REQUEST_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise IsolationUnavailable("the sandbox's network helper stopped answering") from exc
        if msg != b"S" or not fds:
            for fd in fds:
                os.close(fd)
            await self.close()
            raise IsolationUnavailable("the sandbox's network helper stopped answering")
        return [socket.socket(fileno=fd) for fd in fds]

    def _drop_pool(self) -> None:
        for pool in self._pool.values():
            for sock in pool:
                sock.close()
        self._pool.clear()

    async def close(self) -> None:
        self._drop_pool()
        self._ctl.close()  # EOF: the helper's cue to exit
        if self._proc.returncode is None:
            try:
                await asyncio.wait_for(self._proc.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
                await self._proc.wait()
