"""The first frame of the list must not pay for the workspace or the provider: `tui.app` loads no editor, terminal,
SDK, provider or service (issue 14: the provider is built after the first frame, `run_app` passes a `build`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_app_import_leaves_heavy_modules_for_later() -> None:
    code = "import sys, tui.app\nprint('\\n'.join(sys.modules))"
    mods = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
        ).stdout.split()
    )
    heavy = {
        "pygments",
        "pyte",
        "daytona",
        "tui.screens.workspace",
        "widgets.editor",
        "widgets.terminal",
        "widgets.explorer",
        # the provider and the service are built after the first frame, in a thread
        "services.sandbox_service",
        "services.sandbox_core",  # the service's parts all build on it
        "services.factory",
        "services.local",
        "services.local.provider",
        "services.daytona",
        "daytona_api_client",
        "aiohttp",
        "services.metrics",
        "tui.list_metrics",
    }
    assert not heavy & mods, sorted(heavy & mods)


FIRST_FRAME_CHILD = r"""
import sys
from services import config as config_mod
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen

class FirstFrame(SandbenchApp):
    def _build_service(self) -> None:
        # the app starts the build after the first frame's refresh: what is loaded here, the frame had
        screen = self.screen
        shown = str(screen.query_one("#list-empty").render()) if isinstance(screen, SandboxListScreen) else "-"
        print("FRAME", shown, file=sys.stderr, flush=True)
        print("\n".join(sys.modules), flush=True)
        self.exit(0)  # the build never starts

def build():
    from services.factory import make_service  # as run_app does

    return make_service(cfg)

cfg = config_mod.load()
FirstFrame(None, cfg, build=build).run(headless=True, size=(80, 24))
"""


def test_first_frame_is_drawn_before_the_provider_is_imported(tmp_path: Path) -> None:
    """The app as `run_app` starts it: when the build starts (after the first frame's refresh), the list says it is
    loading and no module of the provider, the service or the workspace has been imported (they load in the build
    thread, after it)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SANDBENCH_HOME": str(tmp_path / "home"),
        "SANDBENCH_CONFIG": str(tmp_path / "none.toml"),
    }
    out = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME_CHILD],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert "FRAME loading sandboxes…" in out.stderr
    mods = set(out.stdout.split())
    late = {
        "services.sandbox_service",
        "services.sandbox_core",  # the service's parts all build on it
        "services.factory",
        "services.local",
        "services.local.provider",
        "daytona",
        "aiohttp",
        "pygments",
        "tui.screens.workspace",
        "tui.list_metrics",
    }
    assert not late & mods, sorted(late & mods)
