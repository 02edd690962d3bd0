"""The CLI's non-interactive verbs don't pay for Textual, Pygments or the SDK (a start-up cost, not layering:
that services/ never imports Textual is an import contract, `[tool.importlinter]` in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _loaded(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return set(out.stdout.split())


def test_cli_verbs_do_not_import_textual() -> None:
    mods = _loaded("import tui.cli")
    assert "textual" not in mods and "pygments" not in mods and "daytona" not in mods
