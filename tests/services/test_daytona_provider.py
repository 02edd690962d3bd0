"""DaytonaProvider against misbehaving servers: error mapping to one-line service errors, bounded retries of
idempotent calls on 5xx and dropped connections (never of create), the key kept out of messages and logs, exec's
command string built by `shlex.join` only, and no Daytona configured → a clear error.

The fake servers here speak just enough of the wire protocol (daytona-wire.md §3) for the call under test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from services.config import Config, DaytonaConfig
from services.daytona import DaytonaProvider
from services.errors import (
    FileNotFound,
    OperationTimeout,
    PermissionDenied,
    ProviderError,
    SandbenchError,
    SandboxNotFound,
)
from services.exec_mark import APP_ENV
from services.models import SandboxSpec, SandboxState
from services.server.wire import sandbox_dto

pytestmark = pytest.mark.timeout(60)
KEY = "k3y-" + "s" * 40


def dto(base: str, sid: str = "sb1", state: str = "started") -> dict[str, Any]:
    from datetime import UTC, datetime

    from services.models import Isolation, Resources, SandboxInfo

    now = datetime.now(UTC)
    info = SandboxInfo(
        sid,
        sid,
        SandboxState.STARTED,
        "local",
        "tester",
        {"sandbench.owner": "tester"},
        Resources(),
        15,
        now,
        now,
        Isolation.FULL,
    )
    d = sandbox_dto(info, f"{base}/toolbox")
    d["state"] = state
    return d


class Fake:
    """An aiohttp server whose handler for each route is a test-supplied function; counts calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[Any] = []
        self.handlers: dict[tuple[str, str], Callable[[web.Request], Any]] = {}
        self.base = ""
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        raw = await request.read()
        self.bodies.append(json.loads(raw) if raw.strip() else None)
        for (method, prefix), fn in self.handlers.items():
            if request.method == method and request.path.startswith(prefix):
                result = fn(request)
                if asyncio.iscoroutine(result):
                    result = await result
                return result  # type: ignore[no-any-return]
        return web.json_response({"message": "no route", "statusCode": 404}, status=404)

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p.startswith(prefix))


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    f = Fake()
    await f.start()
    yield f
    assert f.runner is not None
    await f.runner.cleanup()


def provider_for(url: str, key: str | None = KEY) -> DaytonaProvider:
    cfg = Config(identity="tester", data_dir=Path("/nonexistent"), daytona=DaytonaConfig(key, f"{url}/api", "local"))
    return DaytonaProvider(cfg)


def flaky(times: int, status: int, ok: Callable[[web.Request], web.Response]) -> Callable[[web.Request], web.Response]:
    left = [times]

    def handler(request: web.Request) -> web.Response:
        if left[0] > 0:
            left[0] -= 1
            return web.json_response({"message": "upstream hiccup", "statusCode": status}, status=status)
        return ok(request)

    return handler


async def test_5xx_on_an_idempotent_call_is_retried(fake: Fake) -> None:
    fake.handlers[("GET", "/api/sandbox/sb1")] = flaky(2, 503, lambda r: web.json_response(dto(fake.base)))
    p = provider_for(fake.base)
    info = await p.get("sb1")
    assert info.state is SandboxState.STARTED
    assert fake.count("GET", "/api/sandbox/sb1") == 3
    await p.close()


async def test_persistent_5xx_gives_up_with_one_line(fake: Fake, caplog: pytest.LogCaptureFixture) -> None:
    fake.handlers[("GET", "/api/sandbox/")] = flaky(99, 500, lambda r: web.json_response({}))
    p = provider_for(fake.base)
    t = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await p.get("sb1")
    assert time.monotonic() - t < 5  # bounded backoff
    assert fake.count("GET", "/api/sandbox/") == 4
    msg = str(info.value)
    assert "\n" not in msg and "500" in msg and "Traceback" not in msg
    assert KEY not in msg and KEY not in caplog.text
    await p.close()


async def test_create_is_never_retried(fake: Fake) -> None:
    fake.handlers[("POST", "/api/sandbox")] = flaky(1, 502, lambda r: web.json_response(dto(fake.base)))
    p = provider_for(fake.base)
    with pytest.raises(ProviderError):
        await p.create(SandboxSpec(name="once"), "tester")
    assert fake.count("POST", "/api/sandbox") == 1
    await p.close()


async def test_create_sends_private_offline_owner_labelled(fake: Fake) -> None:
    fake.handlers[("POST", "/api/sandbox")] = lambda r: web.json_response(dto(fake.base))
    p = provider_for(fake.base)
    await p.create(SandboxSpec(name="box", labels={"a": "b"}, auto_stop_minutes=5, ephemeral=True), "tester")
    body = fake.bodies[-1]
    assert body["public"] is False
    assert body["networkBlockAll"] is True
    assert body["labels"]["sandbench.owner"] == "tester" and body["labels"]["a"] == "b"
    assert (body["name"], body["autoStopInterval"], body["autoDeleteInterval"]) == ("box", 5, 0)
    await p.create(SandboxSpec(name="net", network=True), "tester")
    posts = [b for (m, path), b in zip(fake.calls, fake.bodies, strict=True) if (m, path) == ("POST", "/api/sandbox")]
    assert posts[-1]["networkBlockAll"] is False
    await p.close()


async def test_errors_map_to_service_types(fake: Fake, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.handlers[("GET", "/api/sandbox/gone")] = lambda r: web.json_response(
        {"message": "sandbox gone not found", "statusCode": 404}, status=404
    )
    fake.handlers[("GET", "/api/sandbox/locked")] = lambda r: web.json_response(
        {"message": "bad key", "statusCode": 401}, status=401
    )
    p = provider_for(fake.base)
    with pytest.raises(SandboxNotFound):
        await p.get("gone")
    with pytest.raises(PermissionDenied) as denied:
        await p.get("locked")
    assert "DAYTONA_API_KEY" in str(denied.value) and KEY not in str(denied.value)
    assert KEY not in caplog.text
    await p.close()


async def test_missing_key_is_a_clear_error() -> None:
    p = provider_for("http://127.0.0.1:9", key=None)
    with pytest.raises(ProviderError, match="DAYTONA_API_KEY"):
        await p.list()
    await p.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_server_is_one_line() -> None:
    p = provider_for(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderError) as info:
        await p.get("sb1")
    assert "cannot reach" in str(info.value) or "Daytona" in str(info.value)
    assert "\n" not in str(info.value)
    await p.close()


async def test_slow_server_still_works(fake: Fake) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)  # latency injected on loopback
        return web.json_response(dto(fake.base))

    fake.handlers[("GET", "/api/sandbox/sb1")] = slow
    p = provider_for(fake.base)
    assert (await p.get("sb1")).id == "sb1"
    await p.close()


async def test_exec_command_is_shlex_join_and_maps_fields(fake: Fake) -> None:
    fake.handlers[("GET", "/api/sandbox/sb1")] = lambda r: web.json_response(dto(fake.base))
    fake.handlers[("GET", "/toolbox/sb1/user-home-dir")] = lambda r: web.json_response({"dir": "/home/daytona"})
    fake.handlers[("POST", "/toolbox/sb1/process/execute")] = lambda r: web.json_response(
        {"exitCode": 3, "result": "out"}
    )
    p = provider_for(fake.base)
    argv = ["printf", "%s", "it's; $(rm -rf /)", "a b"]
    r = await p.exec("sb1", argv, cwd="sub/dir", env={"A": "1"}, timeout=2.5)
    assert (r.exit_code, r.stdout) == (3, b"out")
    body = fake.bodies[-1]
    assert body["command"] == shlex.join(argv)
    assert shlex.split(body["command"]) == argv
    # the app's mark rides beside the caller's variables (services/exec_mark.py: sandbench serve shows it as the app's)
    assert (body["cwd"], body["envs"], body["timeout"]) == ("/home/daytona/sub/dir", {"A": "1", APP_ENV: "1"}, 3)
    await p.close()


async def test_exec_timeout_is_exit_124(fake: Fake) -> None:
    fake.handlers[("GET", "/api/sandbox/sb1")] = lambda r: web.json_response(dto(fake.base))
    fake.handlers[("GET", "/toolbox/sb1/user-home-dir")] = lambda r: web.json_response({"dir": "/home/daytona"})
    fake.handlers[("POST", "/toolbox/sb1/process/execute")] = lambda r: web.json_response(
        {"message": "timed out", "code": "PROCESS_EXECUTION_TIMEOUT", "source": "DAYTONA_DAEMON", "statusCode": 408},
        status=408,
    )
    p = provider_for(fake.base)
    r = await p.exec("sb1", ["sleep", "9"], timeout=1)
    assert r.timed_out and r.exit_code == 124
    assert fake.count("POST", "/toolbox/sb1/process/execute") == 1  # exec is not idempotent: never retried
    await p.close()


async def test_file_errors(fake: Fake) -> None:
    fake.handlers[("GET", "/api/sandbox/sb1")] = lambda r: web.json_response(dto(fake.base))
    fake.handlers[("GET", "/toolbox/sb1/user-home-dir")] = lambda r: web.json_response({"dir": "/home/daytona"})
    fake.handlers[("GET", "/toolbox/sb1/files/info")] = lambda r: web.json_response(
        {"message": "no such file", "code": "FILE_NOT_FOUND", "source": "DAYTONA_DAEMON", "statusCode": 404},
        status=404,
    )
    p = provider_for(fake.base)
    with pytest.raises(FileNotFound):
        await p.stat("sb1", "x.txt")
    with pytest.raises(SandbenchError):
        await p.read_file("sb1", "x.txt", limit=10)
    assert ("GET", "/toolbox/sb1/files/info") in fake.calls
    await p.close()


async def test_request_timeout_maps_to_operation_timeout_or_provider_error(fake: Fake) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.json_response({})

    fake.handlers[("POST", "/api/sandbox")] = hang
    p = provider_for(fake.base)
    with pytest.raises((OperationTimeout, ProviderError)):
        await _with_timeout(p)
    await p.close()


async def _with_timeout(p: DaytonaProvider) -> None:
    from daytona import CreateSandboxFromSnapshotParams

    d = await p._daytona()
    await p._call("create", lambda: d.create(CreateSandboxFromSnapshotParams(name="slow"), timeout=1), idempotent=False)
