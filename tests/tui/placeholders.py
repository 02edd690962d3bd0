"""Stand-ins for the workspace's panes (explorer, editor, terminal, git) with the real panes' constructor signature
and widget ids, for tests: snapshot and layout tests pin them (`SandbenchApp(panes=PLACEHOLDERS)`) so frames are
deterministic and no sandbox process is needed. The app itself always uses the real panes.

Each is focusable, says what it stands for, and has one binding of its own so the footer, the help screen and the
command palette show pane-specific keys exactly as they will for the real widget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Static

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService


class PanePlaceholder(Static, can_focus=True):
    DEFAULT_CSS = """
    PanePlaceholder {
        height: 1fr;
        width: 1fr;
        content-align: center middle;
        color: $text-muted;
    }
    """
    TITLE: ClassVar[str] = "pane"
    ALLOW_MAXIMIZE = True

    def __init__(self, service: SandboxService, sandbox_id: str, *, id: str | None = None) -> None:
        super().__init__(Text(f"{self.TITLE}\n(coming soon)", justify="center"), id=id)
        self.service = service
        self.sandbox_id = sandbox_id
        self.border_title = self.TITLE

    def action_about(self) -> None:
        self.notify(f"The {self.TITLE.lower()} is a placeholder.", markup=False, timeout=2)


class ExplorerPlaceholder(PanePlaceholder):
    TITLE = "Explorer"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "about", "Refresh files", id="placeholder.explorer.refresh", tooltip="Reload the file tree"),
    ]

    def __init__(
        self, service: SandboxService, sandbox_id: str, *, watch: object = True, id: str | None = None
    ) -> None:
        super().__init__(service, sandbox_id, id=id)  # `watch`: the workspace's shared watcher, unused here


class EditorPlaceholder(PanePlaceholder):
    TITLE = "Editor"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f3", "about", "Find", id="placeholder.editor.find", tooltip="Find in the current file"),
    ]

    def open_file(self, path: str) -> None:
        """The real editor's entry point; the placeholder just says what it would open."""
        self.update(Text(f"Editor\n(would open {path})", justify="center"))


class TerminalPlaceholder(PanePlaceholder):
    TITLE = "Terminal"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f7", "about", "New terminal", id="placeholder.terminal.new", tooltip="Open another terminal tab"),
    ]

    def __init__(
        self, service: SandboxService, sandbox_id: str, *, scrollback: int = 10_000, id: str | None = None
    ) -> None:
        super().__init__(service, sandbox_id, id=id)
        self.scrollback = scrollback


class GitPlaceholder(PanePlaceholder):
    TITLE = "Git"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f8", "about", "Commit", id="placeholder.git.commit", tooltip="Commit the staged changes"),
    ]
