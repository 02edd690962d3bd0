"""Maximise, resize and collapse the workspace's panes: `PaneSizes`, a base of `WorkspaceScreen` (its keys are in
`tui/keymap.py`'s `WORKSPACE_KEYS` with the others)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

if TYPE_CHECKING:
    from tui.screens.workspace import WorkspaceScreen


class PaneSizes(Screen[None]):
    """f11 / alt+m maximise, the resize keys, and collapsing a pane (focus moves out of a collapsed one)."""

    def action_toggle_maximize(self) -> None:
        ws = cast("WorkspaceScreen", self)
        if ws.maximized is not None:
            ws.minimize()
            return
        pane = ws.focused_pane or "editor"
        ws.maximize(ws.frame(pane), container=False)

    def action_resize_sidebar(self, delta: int) -> None:
        ws = cast("WorkspaceScreen", self)
        width = ws.frame("explorer").outer_size.width or 24
        ws._user_sizes["explorer"] = max(12, min(width + delta, ws.size.width - 20))
        ws._apply_user_sizes()

    def action_resize_terminal(self, delta: int) -> None:
        ws = cast("WorkspaceScreen", self)
        height = ws.frame("terminal").outer_size.height or 8
        ws._user_sizes["terminal"] = max(3, min(height + delta, ws.size.height - 6))
        ws._apply_user_sizes()

    def action_toggle_pane(self, pane: str) -> None:
        ws = cast("WorkspaceScreen", self)
        frame = ws.frame(pane)
        collapse = not frame.has_class("-collapsed")
        if collapse and ws.maximized is frame:
            ws.minimize()
        if collapse and pane == "editor":
            return  # the editor is the one pane that always stays
        was_focused = ws.focused_pane == pane
        frame.set_class(collapse, "-collapsed")
        if collapse and was_focused:
            ws.action_focus_pane("editor")
        elif not collapse:
            ws.action_focus_pane(pane)
