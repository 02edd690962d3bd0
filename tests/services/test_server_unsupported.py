"""Conformance, the rest of the SDK's surface (issue 12): every route the SDK's generated clients can call is either
served or answered 501 "… is not supported by sandbench serve" naming the feature — never a bare 404 (which the SDK
raises as DaytonaNotFoundError, as if a sandbox were missing) or 405 — and the SDK calls that one machine cannot give
(TTL, auto-pause, network settings, computer use, LSP, regions, organisations, webhooks...) say so at once. Also:
the PTY create of older SDKs (`POST .../process/pty`, SDK 0.190) works beside the WebSocket create-connect.

The routes come from the installed SDK itself (`daytona_api_client` and `daytona_toolbox_api_client` api modules),
so a route a newer SDK adds is checked without editing this file.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.services import test_server_harness as harness
from tests.services.test_server_harness import Serve, unique

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = [pytest.mark.timeout(300), pytest.mark.bwrap]

NOT_SUPPORTED = "is not supported by sandbench serve"
ROUTE_RE = re.compile(r"method='(\w+)',\s*resource_path='([^']+)'")
# calls that change the sandbox under test go last, the delete of it very last
LATE = ("/stop", "/archive")


def sdk_routes(package: str) -> list[tuple[str, str]]:
    """(method, path template) of every operation in a generated client package's api modules."""
    api = Path(importlib.import_module(f"{package}.api").__file__ or "").parent
    found: set[tuple[str, str]] = set()
    for module in sorted(api.glob("*_api.py")):
        found.update(ROUTE_RE.findall(module.read_text()))
    return sorted(found)


def fill(template: str, sandbox_id: str) -> str:
    values = {"sandboxIdOrName": sandbox_id, "sandboxId": sandbox_id, "port": "3000", "interval": "5"}
    values |= {"ttlMinutes": "5", "isPublic": "false"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), template)


def test_the_sdk_has_the_routes_this_suite_expects() -> None:
    control, toolbox = sdk_routes("daytona_api_client"), sdk_routes("daytona_toolbox_api_client")
    assert len(control) > 100 and len(toolbox) > 80
    for route in [("POST", "/sandbox/{sandboxIdOrName}/ttl/{ttlMinutes}"), ("GET", "/regions"), ("GET", "/config")]:
        assert route in control
    for route in [("POST", "/process/pty"), ("POST", "/lsp/start"), ("GET", "/system/metrics")]:
        assert route in toolbox


async def test_no_sdk_route_answers_a_bare_404_or_405(sdk: Any, serve: Serve) -> None:
    sb = await sdk.create(harness_params(), timeout=30)
    calls = [("api", m, p) for m, p in sdk_routes("daytona_api_client")]
    calls += [("toolbox", m, p) for m, p in sdk_routes("daytona_toolbox_api_client")]
    # state changes of the sandbox under test last, and its delete at the very end
    calls.sort(key=lambda c: (c[2] == "/sandbox/{sandboxIdOrName}" and c[1] == "DELETE", c[2].endswith(LATE)))
    headers = {"Authorization": f"Bearer {serve.token}", "Content-Type": "application/json"}
    made: list[str] = []
    bad: list[str] = []
    statuses: dict[int, int] = {}
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for plane, method, template in calls:
            path = fill(template, sb.id)
            url = f"{serve.api_url}{path}" if plane == "api" else f"{serve.base_url}/toolbox/{sb.id}{path}"
            body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
            started = time.monotonic()
            async with http.request(method, url, headers=headers, data=body) as resp:
                status, text = resp.status, await resp.text()
            what = f"{method} {template} -> {status}: {text[:160]}"
            statuses[status] = statuses.get(status, 0) + 1
            assert time.monotonic() - started < 15, what
            data: dict[str, Any] = {}
            if resp.content_type == "application/json":
                parsed = await asyncio.to_thread(__import__("json").loads, text)
                data = parsed if isinstance(parsed, dict) else {}
            if status == 200 and plane == "api" and method == "POST" and isinstance(data.get("id"), str):
                if template in ("/sandbox", "/sandbox/{sandboxIdOrName}/fork"):
                    made.append(data["id"])
            message = str(data.get("message", ""))
            if status == 405:
                bad.append(what)
            elif status == 404 and (not str(data.get("code")).endswith("NOT_FOUND") or message in ("", "Not Found")):
                # a 404 is the SDK's typed not-found of something named (a file, a repo, a session), never the
                # router's "Not Found"
                bad.append(what)
            elif status == 501 and (NOT_SUPPORTED not in message or message.startswith(f"{method} ")):
                bad.append(what)  # a 501 must name the feature, not just echo the route
            elif status == 500:
                bad.append(what)
    for sandbox_id in made:
        if sandbox_id != sb.id:
            await (await sdk.get(sandbox_id)).delete()
    assert statuses.get(200, 0) >= 20, statuses  # the routes served were reached, with a real sandbox
    assert not bad, "\n".join(bad)


def harness_params() -> Any:
    from daytona import CreateSandboxFromSnapshotParams

    return CreateSandboxFromSnapshotParams(name=unique())


async def _refused(call: Any, feature: str) -> str:
    from daytona import DaytonaError, DaytonaNotFoundError

    started = time.monotonic()
    with pytest.raises(DaytonaError) as err:
        await call
    assert time.monotonic() - started < 5
    assert not isinstance(err.value, DaytonaNotFoundError), err.value
    text = str(err.value)
    assert f"{feature}" in text and NOT_SUPPORTED in text, text
    return text


async def test_sdk_calls_one_machine_cannot_serve_say_so(sdk: Any) -> None:
    from daytona import Resources

    sb = await sdk.create(harness_params(), timeout=30)
    await _refused(sb.set_ttl(30), "TTL (set_ttl)")
    await _refused(sb.set_auto_pause_interval(10), "auto-pause")
    await _refused(sb.update_network_settings(network_block_all=True), "update_network_settings")
    await _refused(sb.pause(), "pausing")
    await _refused(sb.resize(Resources(cpu=2)), "resiz")
    await _refused(sb.create_ssh_access(), "SSH access")
    await _refused(sb.update_secrets({"K": "v"}), "secrets")
    await _refused(sb.computer_use.start(), "computer use")
    await _refused(sb.computer_use.screenshot.take_full_screen(), "computer use")
    lsp = sb.create_lsp_server("typescript", "/home/sandbox")  # python is passed through (test_server_lsp)
    await _refused(lsp.start(), "LSP for 'typescript'")
    await _refused(lsp.document_symbols("/home/sandbox/a.ts"), "LSP for 'typescript'")
    assert (await sb.process.exec("echo still-fine")).result.strip() == "still-fine"
    await sb.delete()


async def test_account_wide_features_say_so(serve: Serve) -> None:
    headers = {"Authorization": f"Bearer {serve.token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for path, feature in [
            ("/regions", "regions and organisations"),
            ("/organizations", "regions and organisations"),
            ("/webhooks/organizations/o/initialization-status", "webhooks"),
            ("/organizations/o/gpu-capacity", "regions and organisations"),
            ("/nothing-the-sdk-knows", "GET /api/nothing-the-sdk-knows"),
        ]:
            async with http.get(serve.api_url + path, headers=headers) as resp:
                assert resp.status == 501
                body = await resp.json()
                assert body["message"].startswith(f"{feature} {NOT_SUPPORTED}"), body
        async with http.get(serve.api_url + "/regions") as resp:
            assert resp.status == 401  # nothing about what exists before the token is checked


async def test_an_api_url_without_its_api_says_where_the_api_is(serve: Serve) -> None:
    from daytona import AsyncDaytona, DaytonaConfig, DaytonaError

    client = AsyncDaytona(DaytonaConfig(api_key=serve.token, api_url=serve.base_url, target="local"))
    try:
        with pytest.raises(DaytonaError) as err:
            [s async for s in client.list()]
    finally:
        await client.close()
    text = str(err.value)
    assert "sandbench serve's API is under /api" in text, text
    assert f"set the API URL (DAYTONA_API_URL) to {serve.api_url}" in text, text


def test_sdk_calls_one_machine_cannot_serve_with_the_sync_client(serve: Serve) -> None:
    from daytona import Daytona, DaytonaError, DaytonaNotFoundError

    d = Daytona(serve.config())
    sb = d.create(harness_params(), timeout=30)
    try:
        for call, feature in [
            (lambda: sb.set_ttl(30), "TTL"),
            (lambda: sb.update_network_settings(network_block_all=False), "network settings"),
            (lambda: sb.create_lsp_server("javascript", "/home/sandbox").start(), "LSP for 'javascript'"),
        ]:
            with pytest.raises(DaytonaError, match=f"{feature}.*{NOT_SUPPORTED}") as err:
                call()
            assert not isinstance(err.value, DaytonaNotFoundError)
    finally:
        sb.delete()


# -- the PTY create of older SDKs -----------------------------------------------------------------------------------
async def test_pty_created_by_post_as_sdk_0_190_does(sdk: Any, serve: Serve) -> None:
    """SDK 0.190's `create_pty_session`: `POST .../process/pty` `{id, cwd, envs, cols, rows, lazyStart}` (201
    `{"sessionId"}`), then the WebSocket `.../process/pty/{id}/connect`. Sent here by the installed SDK's own
    generated client, then connected with the SDK's `connect_pty_session`."""
    from daytona_toolbox_api_client_async import ApiClient, Configuration, ProcessApi, PtyCreateRequest

    from tests.services.test_server_sdk import Collector

    sb = await sdk.create(harness_params(), timeout=30)
    await sb.fs.create_folder("/home/sandbox/work", "755")
    client = ApiClient(Configuration(host=f"{serve.base_url}/toolbox/{sb.id}"))
    client.default_headers["Authorization"] = f"Bearer {serve.token}"
    try:
        api = ProcessApi(client)
        req = PtyCreateRequest(
            id="old", cwd="/home/sandbox/work", envs={"P": "v190"}, cols=90, rows=20, lazy_start=True
        )
        created = await api.create_pty_session(req)
        assert created.session_id == "old"
        info = await sb.process.get_pty_session_info("old")
        assert (info.cols, info.rows, info.active) == (90, 20, True)
        out = Collector()
        h = await sb.process.connect_pty_session("old", on_data=out)
        await h.send_input("echo got-$P; pwd; stty size\n")
        await out.wait_for(b"got-v190")
        await out.wait_for(b"/home/sandbox/work")
        await out.wait_for(b"20 90")
        with pytest.raises(Exception, match="already exists"):
            await api.create_pty_session(PtyCreateRequest(id="old"))
        with pytest.raises(Exception, match="PTY session id"):
            await api.create_pty_session(PtyCreateRequest(id="../bad"))
        await h.send_input("exit 3\n")
        assert (await asyncio.wait_for(h.wait(), 10)).exit_code == 3
        # the current form still works beside it
        h2 = await sb.process.create_pty_session(id="new", on_data=Collector())
        await h2.send_input("exit\n")
        assert (await asyncio.wait_for(h2.wait(), 10)).exit_code == 0
    finally:
        await client.close()
        await sb.delete()


def test_health_as_the_sdk_reads_it(serve: Serve) -> None:
    from daytona_api_client import ApiClient, Configuration, HealthApi

    client = ApiClient(Configuration(host=serve.api_url))
    client.default_headers["Authorization"] = f"Bearer {serve.token}"
    with client:
        assert HealthApi(client).health_controller_check().status == "ok"
        HealthApi(client).health_controller_live()  # 200, no body the SDK reads
