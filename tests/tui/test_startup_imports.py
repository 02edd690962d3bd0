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
