"""Running conformance checks: one SDK client of each kind (sync, async) per server, each with an event loop
thread for its coroutines, and the `Ctx` a check gets — `do()` to wait for a call of either client, the shared
sandbox, sandboxes of its own, PTY sessions with their output, and `refused()` for the calls serve must refuse.

Imports only the standard library and `daytona` (it runs in the oldest SDK's venv too).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.conformance.client import CLIENTS, Check, missing_calls, sdk_version, surface


class Loop:
    """One event loop on its own thread for a client's whole life: the async SDK's sessions are bound to the loop
    that made them, and checks are plain functions that wait for each call."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="conformance-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Output:
    """Bytes or text arriving from a PTY or a log stream on another thread, waited for by content."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.cond = threading.Condition()

    def __call__(self, chunk: bytes | str) -> None:
        with self.cond:
            self.data += chunk.encode() if isinstance(chunk, str) else chunk
            self.cond.notify_all()

    def text(self) -> str:
        with self.cond:
            return self.data.decode(errors="replace")

    def wait_for(self, needle: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while needle.encode() not in self.data:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{needle!r} not in output: {bytes(self.data)[-400:]!r}")
                self.cond.wait(left)


@dataclass
class Pty:
    """A PTY session of either client and what it printed."""

    handle: Any
    out: Output
    reader: threading.Thread | None = None


@dataclass
class Client:
    """One SDK client of one kind against one server, and the sandbox its checks share."""

    kind: str
    api_url: str
    token: str
    loop: Loop
    d: Any
    shared: Any = None

    @classmethod
    def open(cls, kind: str, api_url: str, token: str) -> Client:
        from daytona import AsyncDaytona, Daytona, DaytonaConfig

        cfg = DaytonaConfig(api_key=token, api_url=api_url, target="local")
        loop = Loop()  # the sync client has coroutines too (get_session_command_logs_async)
        if kind == "sync":
            return cls(kind, api_url, token, loop, Daytona(cfg))

        async def build() -> Any:
            return AsyncDaytona(cfg)

        return cls(kind, api_url, token, loop, loop.run(build()))

    def close(self) -> None:
        if self.kind == "async":
            with contextlib.suppress(Exception):
                self.loop.run(self.d.close(), timeout=10)
        self.loop.close()


@dataclass
class Ctx:
    """What a check gets: the client, a folder of its own in the shared sandbox, and helpers that hide the one
    difference between the clients (whether a call must be awaited)."""

    client: Client
    check: Check
    dir: str = ""
    made: list[Any] = field(default_factory=list)

    @property
    def sync(self) -> bool:
        return self.client.kind == "sync"

    @property
    def d(self) -> Any:
        return self.client.d

    @property
    def version(self) -> str:
        return sdk_version()

    def do(self, value: Any, timeout: float = 60.0) -> Any:
        """A sync call's result as it is; an async call's coroutine run to its end."""
        if inspect.isawaitable(value):

            async def wait() -> Any:
                return await value

            return self.client.loop.run(wait(), timeout)
        return value

    def items(self, iterable: Any) -> list[Any]:
        """Everything an iterator (sync) or async iterator (async) yields, e.g. `daytona.list()`'s pages."""
        if hasattr(iterable, "__aiter__"):

            async def collect() -> list[Any]:
                return [x async for x in iterable]

            return self.do(collect())
        return list(iterable)

    def sandbox(self) -> Any:
        """The sandbox this client's checks share (made once per server)."""
        if self.client.shared is None:
            from daytona import CreateSandboxFromSnapshotParams

            params = CreateSandboxFromSnapshotParams(name=unique("shared"))
            self.client.shared = self.do(self.d.create(params, timeout=30))
        return self.client.shared

    def make(self, **kw: Any) -> Any:
        """A new sandbox of this check's own (deleted when the check ends)."""
        from daytona import CreateSandboxFromSnapshotParams

        kw.setdefault("name", unique("sb"))
        sb = self.do(self.d.create(CreateSandboxFromSnapshotParams(**kw), timeout=30))
        self.made.append(sb)
        return sb

    def sh(self, sb: Any, command: str, cwd: str | None = None) -> str:
        """Run a setup command in the sandbox; its output, after asserting it succeeded."""
        r = self.do(sb.process.exec(command, cwd=cwd))
        assert r.exit_code == 0, (command, r.exit_code, r.result)
        return str(r.result)

    def raises(self, exc: type[BaseException] | tuple[type[BaseException], ...], value: Any) -> BaseException:
        """`value` (a call made as `lambda: c.do(...)`) raises `exc`; the exception, for its message."""
        try:
            value()
        except exc as e:
            return e
        raise AssertionError(f"expected {exc}, the call succeeded")

    def refused(
        self, call: Callable[[], Any], feature: str | None = None, limit: float = 3.0, bare: bool = False
    ) -> str:
        """The call fails at once (within `limit` s) with a 501 that says it is not supported by sandbench serve
        (and names `feature`); its message. The error is the SDK's `DaytonaError`, or for the services whose SDK
        code wraps nothing (secrets, warm pools) the generated client's exception with the body serve sent.
        `bare`: a call whose SDK code reports only the HTTP status of a streamed response (never the body), so
        only the 501 can be asserted."""
        t = time.monotonic()
        err = self.raises(Exception, call)
        took = time.monotonic() - t
        status = getattr(err, "status_code", None) or getattr(err, "status", None)
        msg = str(err) if status or not hasattr(err, "body") else f"{err} {err.body}"
        if hasattr(err, "body") and getattr(err, "status_code", None) is None:
            msg = f"{err.body}"  # the generated client's exception: its text is headers; the body says why
        if bare and status is None:
            assert "501" in msg, msg
        else:
            assert status == 501, (type(err).__name__, status, msg)
            assert "not supported by sandbench serve" in msg, msg
            if feature is not None:
                assert feature.lower() in msg.lower(), (feature, msg)
        assert "Traceback" not in msg and "sandbench-serve-" not in msg, msg  # no trace, no host path
        assert took < limit, f"refusal took {took:.1f} s"
        return msg

    def pty(self, sb: Any, pid: str, connect: bool = False, **kw: Any) -> Pty:
        """Create (or connect to) PTY session `pid`, collecting its output, for either client."""
        out = Output()
        p = sb.process
        if self.sync:
            handle = p.connect_pty_session(pid) if connect else p.create_pty_session(id=pid, **kw)
            handle.wait_for_connection()

            def read() -> None:
                with contextlib.suppress(Exception):
                    for chunk in handle:
                        out(chunk)

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            return Pty(handle, out, reader)
        if connect:
            handle = self.do(p.connect_pty_session(pid, on_data=out))
        else:
            handle = self.do(p.create_pty_session(id=pid, on_data=out, **kw))
        return Pty(handle, out)

    def pty_exit(self, t: Pty, timeout: float = 10.0) -> int | None:
        """The exit code of a PTY session that is ending: the sync handle's reader sees the end of the stream."""
        if self.sync:
            assert t.reader is not None
            t.reader.join(timeout)
            assert not t.reader.is_alive(), "the PTY stream did not end"
            code: int | None = t.handle.exit_code
            return code
        result = self.do(t.handle.wait(), timeout)
        ended: int | None = result.exit_code
        return ended

    def cleanup(self) -> None:
        for sb in self.made:
            with contextlib.suppress(Exception):
                self.do(sb.delete(), timeout=30)
        self.made.clear()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def run(client: Client, chk: Check) -> str:
    """Run one check with `client`: "absent" (its calls are not in this SDK client), else "passed" or the check's
    exception propagates."""
    if missing_calls(chk, surface_cached(client.kind)):
        return "absent"
    ctx = Ctx(client, chk, dir=f"{chk.name}-{client.kind}-{secrets.token_hex(2)}")
    try:
        chk.fn(ctx)
    finally:
        ctx.cleanup()
    return "passed"


_SURFACE: dict[str, set[str]] = {}


def surface_cached(kind: str) -> set[str]:
    if kind not in _SURFACE:
        _SURFACE[kind] = surface(kind)
    return _SURFACE[kind]


@contextlib.contextmanager
def clients(api_url: str, token: str) -> Iterator[dict[str, Client]]:
    opened = {kind: Client.open(kind, api_url, token) for kind in CLIENTS}
    try:
        yield opened
    finally:
        for c in opened.values():
            c.close()
