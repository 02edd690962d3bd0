"""`sandbench serve` as a real process, for the conformance, security and contract suites — and the tests of the
command itself (token file, `--print-env`).

The `serve` fixture starts one server per test session on 127.0.0.1 with a free port and a private
SANDBENCH_HOME (0711, as conftest's `sandbench_home`), identity `tester`, and a second owner `other` from a
`serve-tokens` file. Other modules import the fixtures from here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.config import Config, DaytonaConfig
from services.daytona import DaytonaProvider
from services.errors import SandbenchError
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.services.serve_helpers import (
    IDENTITY,
    OTHER,
    REPO,
    Serve,
    make_home,
    running_serve,
    serve_env,
    start_serve,
    stop_serve,
    unique,
)

__all__ = [
    "IDENTITY",
    "OTHER",
    "REPO",
    "Serve",
    "daytona_config",
    "dbox",
    "dservice",
    "make_home",
    "sdk",
    "serve",
    "serve_env",
    "start_serve",
    "stop_serve",
    "unique",
]


@pytest.fixture(scope="session")
def serve() -> Iterator[Serve]:
    with running_serve() as srv:
        yield srv


def daytona_config(srv: Serve, data_dir: Path, identity: str = IDENTITY) -> Config:
    """The app's config for the DaytonaProvider pointed at the server, as `identity`."""
    return Config(
        identity=identity,
        data_dir=data_dir,
        daytona=DaytonaConfig(api_key=srv.token, api_url=srv.api_url, target="local"),
    )


@pytest.fixture
async def dservice(serve: Serve, sandbench_home: Path) -> AsyncIterator[SandboxService]:
    """The real SandboxService over the DaytonaProvider, driving the server through the real SDK."""
    sandbench_home.mkdir(parents=True, exist_ok=True)
    cfg = daytona_config(serve, sandbench_home)
    svc = SandboxService(DaytonaProvider(cfg), cfg)
    yield svc
    await svc.close()


@pytest.fixture
async def dbox(dservice: SandboxService) -> AsyncIterator[SandboxInfo]:
    """A fresh sandbox on the server through `dservice`, deleted afterwards (if the test left it)."""
    info = await dservice.create(SandboxSpec(name=unique("d")))
    yield info
    with contextlib.suppress(SandbenchError):
        await dservice.delete(info.id)


@pytest.fixture
async def sdk(serve: Serve) -> AsyncIterator[object]:
    """The unmodified SDK client, pointed at the server."""
    from daytona import AsyncDaytona

    client = AsyncDaytona(serve.config())
    yield client
    await client.close()


# -- tests of the command itself --------------------------------------------------------------------------------
def test_print_env_and_token_file() -> None:
    home = make_home()
    try:
        env = serve_env(home)
        cmd = [sys.executable, "-m", "services.server", "--print-env", "--port", "4567"]
        out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=True).stdout
        token_file = home / "serve-token"
        token = token_file.read_text().strip()
        assert out.strip() == f"DAYTONA_API_URL=http://127.0.0.1:4567/api DAYTONA_API_KEY={token}"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert len(token) >= 40
        again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=True).stdout
        assert again == out  # made once, then reused
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)


def test_print_env_names_the_running_servers_port_and_a_bad_host_is_refused_first() -> None:
    home = make_home()
    try:
        env = serve_env(home)
        cmd = [sys.executable, "-m", "services.server", "--print-env"]
        proc, port = start_serve(home)  # --port 0: the kernel picks
        try:
            out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=True)
            assert out.stdout.startswith(f"DAYTONA_API_URL=http://127.0.0.1:{port}/api "), out.stdout
        finally:
            stop_serve(proc)
        # stopped: its URL is gone with it, and the default is printed again
        out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=True)
        assert out.stdout.startswith("DAYTONA_API_URL=http://127.0.0.1:3986/api "), out.stdout
        bad = [sys.executable, "-m", "services.server", "--host", "999.1.1.1", "--port", "0"]
        res = subprocess.run(bad, cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
        assert res.returncode == 2
        assert "--host '999.1.1.1' is not an IP address or a host name this machine can resolve" in res.stderr
        assert "listening" not in res.stdout + res.stderr and "not loopback" not in res.stderr
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)


def test_readable_token_file_is_refused() -> None:
    home = make_home()
    try:
        (home / "serve-token").write_text(secrets.token_urlsafe(32))
        os.chmod(home / "serve-token", 0o644)
        cmd = [sys.executable, "-m", "services.server", "--print-env"]
        res = subprocess.run(cmd, cwd=REPO, env=serve_env(home), capture_output=True, text=True, timeout=30)
        assert res.returncode != 0
        assert "chmod 600" in res.stderr
        assert res.stdout == ""
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)


def test_token_never_logged(serve: Serve) -> None:
    time.sleep(0.1)
    assert serve.token not in serve.log.read_text()


def test_home_matches_the_sandbox_home() -> None:
    from services.local.launch import SANDBOX_HOME
    from services.server.wire import HOME

    assert HOME == SANDBOX_HOME


def test_workspace_path_mapping() -> None:
    from services.errors import PathRejected
    from services.server.wire import workspace_path

    assert workspace_path("/home/sandbox/a/b") == ("a/b", "/home/sandbox")
    assert workspace_path("/home/sandbox") == ("", "/home/sandbox")
    assert workspace_path("/home/daytona/x") == ("x", "/home/daytona")
    assert workspace_path("a/./b") == ("a/b", "")
    assert workspace_path(None) == ("", "")
    for bad in ("/etc/passwd", "/home/sandboxer/x", "../x", "/home/sandbox/../../etc", "a/\x00b", "/"):
        with pytest.raises(PathRejected):
            workspace_path(bad)
