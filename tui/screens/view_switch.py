"""Going from one of the workspace's views straight to another: from the Timeline, Processes, Changes,
Checkpoints or Metrics, the key that opens another view there (shift+f12, shift+f4, f9, shift+f9, f10) closes this
one and opens that one over the same workspace (or list), instead of doing nothing until escape.

`view_keys(prefix, skip)` is a screen's table of those keys (the screen's own close key, and any key it uses for
something else, skipped); `ViewSwitch.action_switch_view` does it, through the screen below's own action (the
workspace's `action_processes`…), so a view opens exactly as its key there opens it.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen

from widgets.keys import Key
from widgets.messages import tell

# view: (key, its name), as the workspace's own keys (tui/keymap.py) open them
VIEWS: dict[str, tuple[str, str]] = {
    "timeline": ("shift+f12", "Timeline"),
    "processes": ("shift+f4", "Processes"),
    "changes": ("f9", "Changes"),
    "checkpoints": ("shift+f9", "Checkpoints"),
    "metrics": ("f10", "Metrics"),
}


def view_keys(prefix: str, group: str, skip: tuple[str, ...] = ()) -> tuple[Key, ...]:
    """The keys of the other views for a screen whose ids start with `prefix` (`skip`: views not offered here)."""
    return tuple(
        Key(
            f"{prefix}.to_{view}",
            key,
            f"switch_view('{view}')",
            name,
            f"Close this view and show the {name} view of the same sandbox",
            show=False,
            group=group,
        )
        for view, (key, name) in VIEWS.items()
        if view not in skip
    )


class ViewSwitch:
    """For a screen over the workspace or the list: `switch_view(VIEW)` closes it and opens VIEW from below."""

    def leave(self) -> None:
        """Close this view (a screen with something to let go of first overrides it)."""
        screen: Any = self
        screen.dismiss(None)

    def action_switch_view(self, view: str) -> None:
        screen: Any = self
        assert isinstance(screen, Screen)
        stack = screen.app.screen_stack
        below = stack[-2] if len(stack) >= 2 and stack[-1] is screen else None
        opener = getattr(below, f"action_{view}", None)
        if not callable(opener):
            name = VIEWS.get(view, ("", view))[1]
            tell(screen, f"the {name} view opens from the workspace: escape, then its key there", timeout=3)
            return
        self.leave()
        opener()
