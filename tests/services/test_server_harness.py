"""`sandbench serve` as a real process, for the conformance, security and contract suites — and the tests of the
command itself (token file, `--print-env`).

The `serve` fixture starts one server per test session on 127.0.0.1 with a free port and a private
SANDBENCH_HOME (0711, as conftest's `sandbench_home`), identity `tester`, and a second owner `other` from a
`serve-tokens` file. Other modules import the fixtures from here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IDENTITY = "tester"
OTHER = "other"


@dataclass
class Serve:
    proc: subprocess.Popen[bytes]
    api_url: str
    base_url: str
    token: str
    other_token: str
    home: Path
    log: Path

    def config(self, token: str | None = None) -> object:
        from daytona import DaytonaConfig

        return DaytonaConfig(api_key=token or self.token, api_url=self.api_url, target="local")


def serve_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "SANDBENCH_"))}
    env.update(
        SANDBENCH_HOME=str(home),
        SANDBENCH_CONFIG=str(home.parent / "config.toml"),
        NO_PROXY="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    return env


def make_home() -> Path:
    base = Path(tempfile.mkdtemp(prefix="sandbench-serve-", dir="/tmp"))
    os.chmod(base, 0o711)
    home = base / "home"
    home.mkdir(mode=0o711)
    (base / "config.toml").write_text(f'identity = "{IDENTITY}"\n')
    return home


def start_serve(home: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    log = home.parent / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.server", "--port", "0", *extra],
        cwd=REPO,
        env=env or serve_env(home),
        stdout=subprocess.PIPE,
        stderr=open(log, "ab"),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"serve did not start: {line!r}\n{log.read_text()[-3000:]}")
    port = int(line.rsplit(":", 1)[1].split("/")[0])
    return proc, port


def stop_serve(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def serve() -> Iterator[Serve]:
    home = make_home()
    other_token = secrets.token_urlsafe(32)
    tokens = home / "serve-tokens"
    tokens.write_text(f"# second owner for the isolation tests\n{OTHER} {other_token}\n")
    os.chmod(tokens, 0o600)
    proc, port = start_serve(home)
    token = (home / "serve-token").read_text().strip()
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    base = f"http://127.0.0.1:{port}"
    yield Serve(proc, f"{base}/api", base, token, other_token, home, home.parent / "serve.log")
    stop_serve(proc)
    if os.environ.get("SANDBENCH_KEEP_SERVE_LOG"):
        shutil.copy(home.parent / "serve.log", os.environ["SANDBENCH_KEEP_SERVE_LOG"])
    shutil.rmtree(home.parent, ignore_errors=True)


@pytest.fixture
async def sdk(serve: Serve) -> AsyncIterator[object]:
    """The unmodified SDK client, pointed at the server."""
    from daytona import AsyncDaytona

    client = AsyncDaytona(serve.config())
    yield client
    await client.close()


def unique(prefix: str = "sb") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


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
