"""The service layer is UI-free, and the CLI's non-interactive verbs don't pay for Textual."""

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


def test_services_never_load_textual() -> None:
    mods = _loaded(
        "import services.sandbox_service, services.local.provider, services.factory, services.paths, "
        "services.config, services.audit"
    )
    assert not {m for m in mods if m == "textual" or m.startswith("textual.")}


def test_cli_verbs_do_not_import_textual() -> None:
    mods = _loaded("import tui.cli")
    assert "textual" not in mods and "pygments" not in mods and "daytona" not in mods
