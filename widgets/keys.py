"""The one registry of actions: every key of the app as data (DESIGN §7 "keys are data", issue 15 "Keys").

Each `Key` is one action: a stable `id` (what `[keymap]` names), the default keys, the Textual action it runs, a
short description (footer, palette, help), a tooltip (the longer help line), the group people know it by (the
pane or screen: "Explorer", "Git", "Terminal tabs"), and where it appears: `show` (footer), `palette` (the command
palette: off for cursor movement), `help` (the help screen). Screens, the app and every widget build their
`BINDINGS` with `bindings(KEYS)`, which also records each `Key` here, so the help screen, the palette, the footer
and `[keymap]` read one table and cannot drift.

This module is data only (it imports nothing of the app): widgets import it, and so does `tui` (the app's and the
screens' own tables live in `tui/keymap.py`); `tui/registry.py` answers "which actions apply here".

Reading a group: the id's first part names it (`editor.save` → "Editor"); a `Key` can say otherwise (`group=`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from textual.binding import Binding, BindingType

# The names people know, by an id's first part. Sub-contexts (a git dialog, the terminal's tab bar) set their own.
GROUPS: dict[str, str] = {
    "app": "App",
    "list": "Sandbox list",
    "workspace": "Workspace",
    "screen": "Workspace",
    "explorer": "Explorer",
    "editor": "Editor",
    "terminal": "Terminal",
    "git": "Git",
    "diff": "Git: diff",
    "finder": "Find file",
    "dialog": "Dialogs",
    "help": "Help",
    "doctor": "Doctor",
    # sub-contexts, by an id's first two parts (`git.branches.new`)
    "git.commit_dialog": "Git: commit message",
    "git.diff": "Git: diff",
    "git.branches": "Git: branches",
    "git.stash": "Git: stashes",
    "git.commit": "Git: commit",
    "git.log": "Git: log",
    "git.conflict": "Git: conflicts",
    "git.identity": "Git: name and email",
    "search": "Search in files",
    "replace": "Search: replace",
    "terminal.list": "Terminal list",
}


@dataclass(frozen=True)
class Key:
    id: str
    keys: str
    action: str
    description: str
    tooltip: str = ""
    show: bool = True  # in the footer
    priority: bool = False
    in_terminal: bool = False  # runs even while a terminal holds the keyboard (which otherwise takes every key)
    palette: bool = True  # offered by the command palette (cursor movement is not)
    help: bool = True  # listed on the help screen
    group: str = ""  # the group people know it by; default: from the id's first part (GROUPS)
    # Escape-style keys that close "the innermost thing": a closer binding of the same key wins on purpose
    # (escape closes the find bar before it restores a zoomed layout). The clash test allows these, nothing else.
    fallback: bool = False

    @property
    def group_name(self) -> str:
        if self.group:
            return self.group
        parts = self.id.split(".")
        if len(parts) > 2 and ".".join(parts[:2]) in GROUPS:
            return GROUPS[".".join(parts[:2])]
        return GROUPS.get(parts[0], parts[0].capitalize())

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.description,
            show=self.show,
            priority=self.priority,
            tooltip=self.tooltip,
            id=self.id,
        )


class Registry:
    """Every `Key` that a `bindings()` call has declared, by id. Ids are unique: a second, different `Key` with an
    id already taken is a programming error, raised at import."""

    def __init__(self) -> None:
        self._keys: dict[str, Key] = {}

    def add(self, key: Key) -> None:
        known = self._keys.get(key.id)
        if known is not None and known != key:
            raise ValueError(f"two different actions share the id {key.id!r}")
        self._keys[key.id] = key

    def get(self, binding_id: str | None) -> Key | None:
        return self._keys.get(binding_id) if binding_id else None

    def ids(self) -> set[str]:
        return set(self._keys)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)


REGISTRY = Registry()


def bindings(keys: Iterable[Key]) -> list[BindingType]:
    """The `BINDINGS` of a class, from its `Key` table; records each `Key` in the registry."""
    out: list[BindingType] = []
    for key in keys:
        REGISTRY.add(key)
        out.append(key.binding())
    return out
