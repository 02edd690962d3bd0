"""The workspace imports its panes directly: a broken pane is an error at once, never a silent stand-in."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_broken_pane_import_fails_loudly_instead_of_becoming_a_placeholder() -> None:
    # `sys.modules[name] = None` makes `import name` raise ImportError, as a pane with a broken import would.
    code = "import sys; sys.modules['widgets.git.panel'] = None; import tui.screens.workspace"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert r.returncode != 0 and "widgets.git.panel" in r.stderr


def test_the_workspace_uses_the_real_panes_and_placeholders_live_in_tests() -> None:
    from tui.screens import workspace
    from widgets.editor import EditorTabs
    from widgets.explorer import Explorer
    from widgets.git.panel import GitPanel
    from widgets.terminal import TerminalPane

    assert (workspace.Explorer, workspace.EditorTabs, workspace.TerminalPane, workspace.GitPanel) == (
        Explorer,
        EditorTabs,
        TerminalPane,
        GitPanel,
    )
    assert importlib.util.find_spec("widgets.placeholders") is None
