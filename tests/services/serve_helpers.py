"""Starting `sandbench serve` as a real process for tests: a private home, a free port, the token it generated.

Shared by the server's conformance, security and fault suites (through the `serve` fixture in
`test_server_harness.py`) and by the app's end-to-end tests over Daytona (`tests/tui/test_daytona_app.py`), which
start their own server so their sandbox list holds only what they made.

The home is 0711 all the way down, as conftest's `sandbench_home`: in root mode each sandbox runs as its own uid,
and bwrap, running as that uid, must be able to reach the workspace to bind it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daytona import DaytonaConfig

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

    def config(self, token: str | None = None) -> DaytonaConfig:
        from daytona import DaytonaConfig

        return DaytonaConfig(api_key=token or self.token, api_url=self.api_url, target="local")


def serve_env(home: Path) -> dict[str, str]:
    """The server's environment: ours minus any DAYTONA_/SANDBENCH_ variables, plus its private home and config."""
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
    """Start the server; return it and its port once it says it is listening (the first line on stdout)."""
    log = home.parent / "serve.log"
    with open(log, "ab") as log_file:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.server", "--port", "0", *extra],
            cwd=REPO,
            env=env or serve_env(home),
            stdout=subprocess.PIPE,
            stderr=log_file,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        proc.kill()
        proc.wait()
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
    if proc.stdout is not None:
        proc.stdout.close()


@contextlib.contextmanager
def running_serve(*extra: str, other_owner: bool = True) -> Iterator[Serve]:
    """One server in a fresh home, with identity `tester` and (if asked) a second owner `other` from a
    `serve-tokens` file, and `extra` command-line flags; stopped and its home removed on exit (kept log:
    `SANDBENCH_KEEP_SERVE_LOG=path`)."""
    home = make_home()
    other_token = secrets.token_urlsafe(32)
    if other_owner:
        tokens = home / "serve-tokens"
        tokens.write_text(f"# second owner for the isolation tests\n{OTHER} {other_token}\n")
        os.chmod(tokens, 0o600)
    proc, port = start_serve(home, *extra)
    try:
        token = (home / "serve-token").read_text().strip()
        os.environ["NO_PROXY"] = "127.0.0.1,localhost"  # the SDK must never send loopback traffic to a proxy
        base = f"http://127.0.0.1:{port}"
        yield Serve(proc, f"{base}/api", base, token, other_token, home, home.parent / "serve.log")
    finally:
        stop_serve(proc)
        if os.environ.get("SANDBENCH_KEEP_SERVE_LOG"):
            shutil.copy(home.parent / "serve.log", os.environ["SANDBENCH_KEEP_SERVE_LOG"])
        shutil.rmtree(home.parent, ignore_errors=True)


def unique(prefix: str = "sb") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"
