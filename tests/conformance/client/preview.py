"""Conformance checks, preview links: a web server started in the sandbox reached through the URL (and token)
`get_preview_link` hands out, and through a signed URL until it is expired."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from tests.conformance.client import Ctx, check

PORT = 8123


def serve_http(c: Ctx, sb: Any) -> None:
    """A static web server on PORT in the sandbox, answering with a file this check wrote."""
    from daytona import SessionExecuteRequest

    c.do(sb.fs.upload_file(f"hello from {c.dir}\n".encode(), f"{c.dir}/index.html"))
    c.do(sb.process.create_session(c.dir))
    cmd = f"cd {c.dir} && exec python3 -m http.server {PORT} --bind 127.0.0.1"
    c.do(sb.process.execute_session_command(c.dir, SessionExecuteRequest(command=cmd, run_async=True)))


def fetch_when_up(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """The first answer that is not the proxy's "nothing listens on that port yet" (502), while the web server
    in the sandbox starts."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = fetch(url, headers)
        if status != 502 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.05)


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes to a proxy
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@check(
    "sandbox.get_preview_link",
    notes={"sandbox.get_preview_link": "served by serve itself, token-checked (x-daytona-preview-token)"},
)
def preview_link(c: Ctx) -> None:
    sb = c.make()
    serve_http(c, sb)
    link = c.do(sb.get_preview_link(PORT))
    assert link.url.startswith("http") and link.token
    status, body = fetch_when_up(link.url.rstrip("/") + "/index.html", {"x-daytona-preview-token": link.token})
    assert (status, body) == (200, f"hello from {c.dir}\n".encode())
    status, _ = fetch(link.url.rstrip("/") + "/index.html")
    assert status in (401, 403), status


@check(
    "sandbox.create_signed_preview_url",
    "sandbox.expire_signed_preview_url",
)
def signed_preview_url(c: Ctx) -> None:
    sb = c.make()
    serve_http(c, sb)
    signed = c.do(sb.create_signed_preview_url(PORT, expires_in_seconds=60))
    status, body = fetch_when_up(signed.url.rstrip("/") + "/index.html")
    assert (status, body) == (200, f"hello from {c.dir}\n".encode())
    c.do(sb.expire_signed_preview_url(PORT, signed.token))
    deadline = time.monotonic() + 5
    while fetch(signed.url.rstrip("/") + "/index.html")[0] == 200:
        assert time.monotonic() < deadline, "the expired signed URL still answers"
        time.sleep(0.05)
