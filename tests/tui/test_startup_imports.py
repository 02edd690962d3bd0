"""The first frame of the list must not pay for the workspace: `tui.app` loads no editor, terminal or SDK."""

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
    }
    assert not heavy & mods
