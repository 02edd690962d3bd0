"""Security of `sandbench serve`: no token → 401 on every route; paths outside the sandbox refused through the
toolbox; one owner's token cannot see or touch another owner's sandbox."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.config import Config
from tests.services import test_server_harness as harness
from tests.services.test_server_harness import Serve, unique

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = pytest.mark.timeout(120)


def all_routes() -> list[tuple[str, str]]:
    """Every (method, path) the server registers, with placeholders filled in."""
    from services.server.app import build_app
    from services.server.auth import TokenTable

    app = build_app(object(), Config(identity="x", data_dir=Path("/nonexistent")), TokenTable({}))  # type: ignore[arg-type]
    routes = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        path = re.sub(r"\{[^}]+\}", "x", path)
        routes.append(("POST" if route.method == "*" else route.method, path))
    return routes


async def test_no_token_is_401_on_every_route(serve: Serve) -> None:
    routes = all_routes()
    assert len(routes) >= 35
    routes += [("GET", "/api/socket.io/"), ("GET", "/nowhere"), ("POST", "/api/sandbox/x/autostop/5")]
    async with aiohttp.ClientSession() as http:
        for method, path in routes:
            wrong = {"Authorization": "Bearer wrong-token-wrong-token-wrong"}
            for headers in ({}, wrong, {"Authorization": serve.token}):
                async with http.request(method, serve.base_url + path, headers=headers) as resp:
                    assert resp.status == 401, (method, path, headers.keys(), resp.status)
                    if method != "HEAD":
                        body = await resp.json()
                        assert body["statusCode"] == 401


async def test_unknown_token_through_the_sdk(serve: Serve) -> None:
    from daytona import AsyncDaytona, DaytonaAuthenticationError

    client = AsyncDaytona(serve.config("not-the-token-not-the-token-xx"))
    try:
        with pytest.raises(DaytonaAuthenticationError):
            await client.get("anything")
    finally:
        await client.close()


async def test_paths_outside_the_sandbox_are_refused(sdk: Any, serve: Serve) -> None:
    from daytona import CreateSandboxFromSnapshotParams, DaytonaError

    sb = await sdk.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)
    for bad in ("/etc/passwd", "../../../etc/passwd", "/home/sandbox/../../etc/passwd", "/home/other/x", "/"):
        with pytest.raises(DaytonaError) as info:
            await sb.fs.download_file(bad)
        assert info.value.status_code in (400, 403) or "outside" in str(info.value) or "escapes" in str(info.value)
        with pytest.raises(DaytonaError):
            await sb.fs.get_file_info(bad)
        with pytest.raises(DaytonaError):
            await sb.fs.upload_file(b"x", bad)
        with pytest.raises(DaytonaError):
            await sb.fs.list_files(bad)
    with pytest.raises(DaytonaError):
        await sb.fs.move_files("a", "/tmp/escaped")
    # exec may run in any folder, but inside the sandbox: its /etc is the sandbox's, never the host's
    r = await sb.process.exec("pwd; cut -d: -f1 passwd", cwd="/etc")
    assert r.result == "/etc\nsandbox\nnobody\n"
    with pytest.raises(DaytonaError):
        await sb.git.status("/etc")
    with pytest.raises(DaytonaError):
        await sb.fs.search_files("/", "*")
    with pytest.raises(DaytonaError):
        await sb.process.create_pty_session(id="esc", on_data=lambda b: None, cwd="/etc")
    # nothing escaped into the data directory either
    assert not list(serve.home.rglob("escaped"))
    await sb.delete()


async def test_symlink_out_of_the_workspace_is_not_followed(sdk: Any, serve: Serve) -> None:
    from daytona import CreateSandboxFromSnapshotParams, DaytonaError

    sb = await sdk.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)
    ws = serve.home / "sandboxes" / sb.id / "workspace"
    (ws / "link").symlink_to("/etc")
    with pytest.raises(DaytonaError):
        await sb.fs.download_file("link/hostname")
    await sb.delete()


async def test_streamed_transfers_never_follow_a_final_symlink(sdk: Any, serve: Serve) -> None:
    from daytona import CreateSandboxFromSnapshotParams, DaytonaError

    sb = await sdk.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)
    ws = serve.home / "sandboxes" / sb.id / "workspace"
    outside = serve.home.parent / "outside.txt"
    outside.write_text("host file")
    (ws / "out").symlink_to(outside)
    with pytest.raises(DaytonaError, match="symlink"):
        await sb.fs.download_file("out")
    with pytest.raises(DaytonaError, match="symlink"):
        await sb.fs.upload_file(b"through the link", "out")
    assert outside.read_text() == "host file"
    assert (ws / "out").is_symlink()
    await sb.delete()


async def test_other_owner_cannot_see_or_touch(sdk: Any, serve: Serve) -> None:
    from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams, DaytonaNotFoundError

    mine = await sdk.create(CreateSandboxFromSnapshotParams(name=unique(), labels={"secret": "1"}), timeout=30)
    await mine.fs.upload_file(b"private", "p.txt")
    other = AsyncDaytona(serve.config(serve.other_token))
    try:
        assert mine.id not in [s.id async for s in other.list()]
        with pytest.raises(DaytonaNotFoundError):
            await other.get(mine.id)
        with pytest.raises(DaytonaNotFoundError):
            await other.get(mine.name)
        # direct toolbox and lifecycle calls with the other token, bypassing the SDK's get
        headers = {"Authorization": f"Bearer {serve.other_token}", "Content-Type": "application/json"}
        tb = f"{serve.base_url}/toolbox/{mine.id}"
        attempts = [
            ("POST", f"{tb}/files/bulk-download", {"paths": ["p.txt"]}),
            ("GET", f"{tb}/files?path=", None),
            ("POST", f"{tb}/process/execute", {"command": "true"}),
            ("DELETE", f"{tb}/files?path=p.txt&recursive=false", None),
            ("GET", f"{tb}/process/pty", None),
            ("POST", f"{serve.api_url}/sandbox/{mine.id}/stop", None),
            ("PUT", f"{serve.api_url}/sandbox/{mine.id}/labels", {"labels": {"sandbench.owner": "other"}}),
            ("DELETE", f"{serve.api_url}/sandbox/{mine.id}", None),
        ]
        async with aiohttp.ClientSession() as http:
            for method, url, body in attempts:
                async with http.request(method, url, headers=headers, json=body) as resp:
                    text = await resp.text()
                    assert resp.status == 404, (method, url, resp.status)
                    assert "private" not in text
        # a second owner with a sandbox of the same name is a different sandbox
        theirs = await other.create(CreateSandboxFromSnapshotParams(name=mine.name), timeout=30)
        assert theirs.id != mine.id and "sandbench.owner" not in theirs.labels
        await theirs.delete()
    finally:
        await other.close()
    await mine.refresh_data()
    assert mine.state.value == "started"
    assert await mine.fs.download_file("p.txt") == b"private"
    await mine.delete()


async def test_host_detail_in_an_error_never_reaches_the_wire(tmp_path: Path) -> None:
    """An error whose message names host files (the damaged state database) answers with its public form; the
    full message goes to the server's log only."""
    from aiohttp import ClientSession, web
    from aiohttp.test_utils import TestServer

    from services.errors import StateDatabaseDamaged
    from services.server.app import error_middleware

    host_path = tmp_path / "home" / "state.db"

    async def damaged(request: web.Request) -> web.StreamResponse:
        raise StateDatabaseDamaged(host_path, "file is not a database")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/api/sandbox", damaged)
    async with TestServer(app, host="127.0.0.1") as server, ClientSession() as client:
        async with client.get(server.make_url("/api/sandbox")) as resp:
            body = await resp.text()
    assert resp.status >= 400
    assert "doctor --repair" in body and str(tmp_path) not in body and "state.db" not in body
