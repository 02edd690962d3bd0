"""Which actions apply here: the registry (widgets/keys.py) read against a live screen, for the command palette,
the help screen and the footer — one answer, so they cannot drift (issue 15 "Keys", issue 11 §4).

`for_context(screen, purpose)`:

- `"footer"`: the focused widget's chain (the widget, its pane, the screen, the app), as Textual dispatches keys,
  the bindings marked `show`, enabled now;
- `"palette"`: every action that applies anywhere on the screen — the focused chain first, then every other pane
  and widget mounted on it, the screen and the app — except cursor movement (`palette=False`) and actions their
  widget disables now (`check_action`);
- `"help"`: every action people look up (`help=True`), enabled or not, for `help_groups`.

An `Entry` is one action where it is bound: its `Key` (the registry's, or one made from a binding that has an id
but no `Key`, so a pane's stray binding still shows), its effective keys after `[keymap]`, and the node whose
namespace runs it. Bindings without an id (Textual's own) are never listed: they are not ours to name.
`run(app, entry)` runs one as if its key were pressed where it lives: a pane's action first focuses that pane.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget

from widgets.keys import REGISTRY, Key

Purpose = Literal["footer", "palette", "help"]

# Groups shown on the help screen of a screen even when no widget of theirs is mounted right now (a dialog of the
# git panel, the fuzzy finder): the rest of the reference, after the live groups. By the screen's class name.
MORE_GROUPS: dict[str, tuple[str, ...]] = {
    "WorkspaceScreen": ("explorer", "editor", "terminal", "git", "diff", "finder", "dialog"),
    "SandboxListScreen": ("dialog",),
}
_PANE_ORDER = ("explorer", "editor", "terminal", "git")


@dataclass(frozen=True)
class Entry:
    key: Key
    keys: tuple[str, ...]  # the effective keys, `[keymap]` applied
    node: DOMNode  # the namespace the action runs in
    enabled: bool = True

    @property
    def id(self) -> str:
        return self.key.id

    @property
    def group(self) -> str:
        return self.key.group_name

    @property
    def keys_label(self) -> str:
        # `N` and `shift+n` are one key to a person (Textual names it either way, by terminal): listed once
        labels = [key_label(k) for k in self.keys if not k.startswith("super+")]
        return ", ".join(dict.fromkeys(labels))


def key_of(binding: Binding) -> Key | None:
    """The registry's `Key` of a live binding, or one made from it when it has an id the registry does not know."""
    if binding.id is None:
        return None
    known = REGISTRY.get(binding.id)
    if known is not None:
        return known
    return Key(binding.id, binding.key, binding.action, binding.description, binding.tooltip, show=binding.show)


def node_entries(node: DOMNode, keymap: dict[str, str]) -> list[Entry]:
    """The actions a node binds itself, one entry per id with all of its effective keys (in declaration order)."""
    bindings_map = node._bindings.copy()
    if keymap:
        bindings_map.apply_keymap(keymap)
    keys: dict[str, list[str]] = {}
    first: dict[str, Key] = {}
    for key, binding in bindings_map:
        registered = key_of(binding)
        if registered is None:
            continue
        first.setdefault(registered.id, registered)
        if key not in keys.setdefault(registered.id, []):
            keys[registered.id].append(key)
    return [Entry(first[i], tuple(k), node, _enabled(node, first[i])) for i, k in keys.items()]


def _enabled(node: DOMNode, key: Key) -> bool:
    action = key.action.split("(", 1)[0].rsplit(".", 1)[-1]
    try:
        # the action's parameters do not matter to any check_action here; an error means "not now"
        return bool(node.check_action(action, ()))
    except Exception:
        return False


def _shown(node: DOMNode) -> bool:
    """Displayed, with every ancestor: the active editor tab's editor before the hidden tabs' ones."""
    current: Any = node
    while isinstance(current, Widget):
        if not current.display:
            return False
        current = current.parent
    return True


def _nodes(screen: Screen[Any], purpose: Purpose) -> Iterator[DOMNode]:
    focused = screen.focused
    chain: list[DOMNode] = list(focused.ancestors_with_self) if focused is not None else [screen, screen.app]
    if purpose == "footer":
        yield from chain
        return
    chain_widgets = [n for n in chain if isinstance(n, Widget) and not isinstance(n, Screen)]
    yield from chain_widgets
    others = [w for w in screen.query("*") if w not in chain_widgets]
    others.sort(key=lambda w: not _shown(w))  # stable: DOM order, the shown ones first
    yield from others
    yield screen
    yield screen.app


def for_context(screen: Screen[Any], purpose: Purpose = "palette") -> list[Entry]:
    """The actions that apply on `screen` for `purpose` (see the module docstring), each once, closest first."""
    keymap = dict(screen.app._keymap)
    out: list[Entry] = []
    seen: set[str] = set()
    for node in _nodes(screen, purpose):
        for entry in node_entries(node, keymap):
            key = entry.key
            if entry.id in seen or not key.description:
                continue
            if purpose == "footer" and (not key.show or not entry.enabled):
                continue
            if purpose == "palette" and (not key.palette or not entry.enabled):
                continue
            if purpose == "help" and not key.help:
                continue
            seen.add(entry.id)
            out.append(entry)
    return out


def pane_of(node: DOMNode) -> str | None:
    """The workspace pane a node sits in (`PaneFrame.pane`), if any."""
    current: Any = node
    while current is not None:
        pane = getattr(current, "pane", None)
        if isinstance(pane, str) and type(current).__name__ == "PaneFrame":
            return pane
        current = current.parent
    return None


def declare_every_key() -> None:
    """Import every widget module, so each `Key` table is in the registry: the help screen's reference lists the
    keys of dialogs not opened yet, whatever happened to be imported before (a test, a code path)."""
    import importlib
    import pkgutil

    import widgets

    for module in sorted(pkgutil.walk_packages(widgets.__path__, "widgets."), key=lambda m: m.name):
        importlib.import_module(module.name)


def help_groups(screen: Screen[Any]) -> list[tuple[str, list[Entry]]]:
    """(group, entries) for the help screen: the focused pane's group first, then the other panes in their order,
    the screen's own, the app's, then the rest of the reference (`MORE_GROUPS`)."""
    entries = for_context(screen, "help")
    focused_pane = pane_of(screen.focused) if screen.focused is not None else None
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.group, []).append(entry)
    keymap = dict(screen.app._keymap)
    seen = {e.id for e in entries}
    declare_every_key()
    for prefix in MORE_GROUPS.get(type(screen).__name__, ()):
        more: dict[str, list[Entry]] = {}
        for key in REGISTRY:
            if key.id.split(".", 1)[0] != prefix or key.id in seen or not key.help or not key.description:
                continue
            seen.add(key.id)
            keys = tuple(k.strip() for k in keymap.get(key.id, key.keys).split(","))
            more.setdefault(key.group_name, []).append(Entry(key, keys, screen))
        # by name: the registry's order is the order modules happened to be imported in
        for name in sorted(more):
            groups.setdefault(name, []).extend(more[name])

    def rank(item: tuple[int, str]) -> tuple[int, int]:
        index, title = item
        if focused_pane is not None and title == _title_of(focused_pane):
            return (0, index)
        return (1, index)

    order = sorted(enumerate(groups), key=rank)
    return [(title, groups[title]) for _, title in order]


def _title_of(pane: str) -> str:
    return {"explorer": "Explorer", "editor": "Editor", "terminal": "Terminal", "git": "Git"}.get(pane, pane)


async def run(app: Any, entry: Entry) -> None:
    """Run `entry` as its key would where it lives. An action of a workspace pane first focuses that pane (so a
    dialog it opens returns there, and "New terminal" from the editor leaves you in the new terminal)."""
    screen = app.screen
    pane = pane_of(entry.node)
    focus = getattr(screen, "action_focus_pane", None)
    if pane is not None and callable(focus) and (screen.focused is None or pane_of(screen.focused) != pane):
        focus(pane)

        async def later() -> None:
            await app.run_action(entry.key.action, entry.node)

        screen.call_after_refresh(later)
        return
    await app.run_action(entry.key.action, entry.node)


KEY_NAMES = {
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "question_mark": "?",
    "full_stop": ".",
    "slash": "/",
    "right_square_bracket": "]",
    "left_square_bracket": "[",
    "escape": "Esc",
    "enter": "Enter",
    "space": "Space",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "home": "Home",
    "end": "End",
    "delete": "Del",
    "backspace": "Backspace",
    "tab": "Tab",
}


def key_label(key: str) -> str:
    """A key as people write it: `ctrl+PgUp`, `shift+F6`, `Esc`, `?`."""
    *mods, last = key.strip().split("+")
    if mods == ["shift"] and len(last) == 1 and last.isalpha():
        return last.upper()  # shift+n is N
    name = KEY_NAMES.get(last, last.upper() if last.startswith("f") and last[1:].isdigit() else last)
    return "+".join([*mods, name])


def keys_in(entries: Iterable[Entry]) -> set[str]:
    return {k for e in entries for k in e.keys}
