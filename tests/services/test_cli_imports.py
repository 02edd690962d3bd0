"""What a `sandbench` command-line process imports: only what its verb needs. The daytona SDK alone costs a process
over a second of CPU (aiohttp under it a quarter of one), and the suite starts hundreds of CLI processes, so a
verb that makes no Daytona call must not load it; nor does any verb load the app (Textual), the server or the
highlighter. The SDK is imported on the provider's first real call (`DaytonaProvider._daytona`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The CLI's `main()` in a fresh interpreter, as the console script runs it; then the names of every module loaded,
# into the file named by the first argument (stdout is the verb's own).
CHILD = """
import sys
from tui.cli import main
out, argv = sys.argv[1], sys.argv[2:]
try:
    code = main(argv)
except SystemExit as exit:
    code = exit.code
with open(out, "w") as f:
    f.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""

SDK = {"daytona", "daytona_api_client", "daytona_api_client_async", "daytona_toolbox_api_client_async", "aiohttp"}
NEVER = {"textual", "tui.app", "pygments", "services.server", "services.server.app", "rich"}


def modules_of(tmp_path: Path, *argv: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / "modules.txt"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    return done, set(out.read_text().split())


@pytest.fixture
def cli_env(sandbench_home: Path) -> dict[str, str]:
    """A fresh home, and no Daytona key or URL from the caller's environment."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DAYTONA_")}


def test_help_and_a_local_ls_load_no_sdk_app_or_server(tmp_path: Path, cli_env: dict[str, str]) -> None:
    done, mods = modules_of(tmp_path, "--help", env=cli_env)
    assert done.returncode == 0 and "usage: sandbench" in done.stdout, done.stderr
    assert not (SDK | NEVER | {"services.local.provider"}) & mods, sorted((SDK | NEVER) & mods)

    done, mods = modules_of(tmp_path, "ls", env=cli_env)
    assert done.returncode == 0 and done.stdout.startswith("NAME"), done.stderr
    assert "services.local.provider" in mods  # the list is the real one: ls did build the local provider
    assert not (SDK | NEVER) & mods, sorted((SDK | NEVER) & mods)


def test_daytona_verbs_that_make_no_call_load_no_sdk(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """`--provider daytona` with no key: the provider is built, refuses in one line before any call, and neither
    the SDK nor aiohttp was loaded for that; `--help` with the provider chosen loads nothing of it either."""
    done, mods = modules_of(tmp_path, "--provider", "daytona", "ls", env=cli_env)
    assert done.returncode == 1 and "Daytona is not configured" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert "services.daytona.provider" in mods  # the provider was built: its own imports are what is checked
    assert not (SDK | NEVER) & mods, sorted((SDK | NEVER) & mods)

    done, mods = modules_of(tmp_path, "--provider", "daytona", "ls", "--help", env=cli_env)
    assert done.returncode == 0 and "usage: sandbench ls" in done.stdout, done.stderr
    assert not (SDK | NEVER | {"services.daytona"}) & mods, sorted((SDK | NEVER) & mods)


def test_serve_verbs_that_serve_nothing_load_no_server(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """`serve --help`, a refused flag and `--add-token` answer without importing aiohttp or the server's app (the
    acting-token and flag tests start such processes by the dozen); serving does import it, elsewhere."""
    server = {"aiohttp", "services.server.app", "services.local.provider"}
    done, mods = modules_of(tmp_path, "serve", "--help", env=cli_env)
    assert done.returncode == 0 and "--add-token" in done.stdout, done.stderr
    assert "services.server.cli" in mods
    assert not (server | NEVER - {"services.server"}) & mods, sorted(server & mods)

    done, mods = modules_of(tmp_path, "serve", "--port", "99999", env=cli_env)
    assert done.returncode == 2 and "'99999' is not a port" in done.stderr, done.stderr
    assert not server & mods, sorted(server & mods)

    tokens = tmp_path / "serve-tokens"
    done, mods = modules_of(tmp_path, "serve", "--add-token", "agent", "--tokens-file", str(tokens), env=cli_env)
    assert done.returncode == 0 and len(done.stdout.strip()) >= 32, done.stderr
    assert tokens.read_text().startswith("agent ") and done.stdout.strip() in tokens.read_text()
    assert not server & mods, sorted(server & mods)
