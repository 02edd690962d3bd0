"""The frame around each workspace pane (`PaneFrame`: title, size shown when focused, collapse, maximise) and
`Ending`, what ending a workspace ends, for the dialog that asks first."""

from __future__ import annotations

import dataclasses

from textual.containers import Vertical
from textual.widget import Widget

from widgets.sandbox_table import safe_text

TITLES = {"explorer": "Explorer", "editor": "Editor", "terminal": "Terminal", "git": "Git"}


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


@dataclasses.dataclass(frozen=True)
class Ending:
    """What ending a workspace ends, for the dialog that asks first."""

    terminals: int
    running: tuple[str, ...]  # the foreground program of each terminal that runs one (sandbox text)
    unsaved: tuple[str, ...]  # unsaved buffers' paths (sandbox text)
    unknown: int = 0  # terminals whose provider does not say what runs in them (Daytona itself)

    def text(self) -> str:
        parts: list[str] = []
        if self.terminals:
            part = f"ends {_count(self.terminals, 'terminal')}"
            extras: list[str] = []
            if self.running:
                names = ", ".join(safe_text(p) for p in self.running[:3])
                extras.append(f"{len(self.running)} running {names}")
            if self.unknown:
                where = "it" if self.terminals == 1 else f"{self.unknown} of them"
                extras.append(f"a program may be running in {where}")
            if extras:
                part += f" ({'; '.join(extras)})"
            parts.append(part)
        if self.unsaved:
            names = ", ".join(safe_text(u) for u in self.unsaved[:3]) + (", …" if len(self.unsaved) > 3 else "")
            parts.append(f"discards {_count(len(self.unsaved), 'unsaved buffer')} ({names})")
        return ", ".join(parts) or "no terminal is open and nothing is unsaved"


class PaneFrame(Vertical):
    """The box around one pane: its border title, size, collapse (class `-collapsed`) and maximise."""

    ALLOW_MAXIMIZE = True

    def __init__(self, pane: str, child: Widget) -> None:
        super().__init__(child, id=f"pane-{pane}", classes="pane-frame")
        self.pane = pane
        self.border_title = TITLES[pane]

    def on_resize(self) -> None:
        self.show_size()

    def on_descendant_focus(self) -> None:
        self.show_size()

    def on_descendant_blur(self) -> None:
        self.call_after_refresh(self.show_size)  # focus may be moving within the pane

    def on_focus(self) -> None:
        self.show_size()

    def content_cells(self) -> tuple[int, int]:
        """The size the pane's content has: a terminal's is its active shell's (what `stty size` says there)."""
        view = getattr(self.children[0] if self.children else None, "active_view", None)
        size = view.size if isinstance(view, Widget) else self.content_size
        return size.width, size.height

    def show_size(self) -> None:
        """The focused pane says its size at the bottom right of its frame; the others say nothing."""
        if not self.is_attached:
            return
        focused = self.has_focus or self.has_focus_within
        cols, rows = self.content_cells()
        self.border_subtitle = f"{cols}x{rows}" if focused and cols > 0 and rows > 0 else ""

    def hold_focus(self) -> None:
        """Take focus for a pane with nothing focusable in it yet (an editor with no file open), so focus keys
        still land somewhere visible. Focusable only while focused: the frames are not tab stops."""
        self.can_focus = True
        self.focus()

    def on_blur(self) -> None:
        self.can_focus = False
        self.call_after_refresh(self.show_size)
