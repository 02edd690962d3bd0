"""The footer: what the focused element really does, fitted to the width (issue 11 §2).

Textual's `Footer` shows every binding of the focus chain and lets the row run off the right edge, cut mid-label
(`b Branche▏`), and it showed the terminal pane's tab-bar keys (`n New tab`) while every key went to the shell.
`FittedFooter` keeps Textual's look and its clickable keys, and changes what is chosen:

- **only what works.** While the focused widget `holds_keyboard` (a terminal running a program), the keys that
  work are the focused widget's own (ctrl+] to leave, the scrollback keys) and the bindings the app lets through
  (`App.in_terminal`: what the `[keymap]` marks `terminal:`) — the same rule as
  `SandbenchApp._check_bindings`, read from the same data. Not even the palette key is shown there: ctrl+p is
  the shell's.
- **whole entries, most useful first.** Each entry costs its key, its description and its padding; entries are
  dropped from the least important up until the rest fit beside the palette key, and the kept ones stay in
  Textual's order (nearest the focus first). Importance is per pane (`PRIORITY`): the ids listed there come
  first, in that order; unlisted ones follow in chain order. A focused part of a pane can put its own ids before
  the pane's (`FOOTER_FIRST` on it or a container: the editor's find bar names enter, F3, shift+F3, escape). A
  label is never cut.

- **a mode's own keys.** A focused widget that takes a mode's keys itself, with no binding to show them (a
  terminal's copy mode), says them with `footer_keys()`; while that returns a list, the footer shows it alone.

The footer rebuilds when the bindings change (focus, a pane's state) and when its width changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NamedTuple, cast

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:
    from textual import events
    from textual.dom import DOMNode
    from textual.screen import Screen

# Per pane (`WorkspaceScreen.focused_pane`; None elsewhere), the binding ids most worth their room, best first.
# The help (f1) and the palette list every key, so the footer only needs the ones used all the time; help stays
# within reach in every pane because it is how the rest are found.
PRIORITY: dict[str | None, tuple[str, ...]] = {
    "terminal": (
        # the keyboard in the shell: all that works there
        "terminal.leave",
        "terminal.restart_exited",
        "app.quit",
        "terminal.scroll_back",
        "terminal.scroll_forward",
        # the tab bar (after ctrl+]) and copy mode
        "terminal.enter",
        "terminal.new_tab",
        "terminal.close_tab",
        "terminal.next_tab",
        "terminal.copy_mode",
        "app.help",
        "workspace.next_pane",
        "workspace.layout",
        "workspace.maximize",
    ),
    "explorer": (
        "explorer.open",
        "explorer.new_file",
        "explorer.new_folder",
        "explorer.rename",
        "explorer.delete",
        "explorer.find",
        "app.help",
        "workspace.next_pane",
        "explorer.move",
        "explorer.copy_path",
    ),
    "editor": (
        "editor.save",
        "editor.find",
        "editor.goto_line",
        "editor.close",
        "app.help",
        "workspace.next_pane",
        "editor.replace",
        "editor.undo",
        "editor.redo",
        "editor.save_all",
    ),
    "git": (
        "git.toggle_stage",
        "git.commit",
        "git.diff",
        "git.stage_all",
        "git.discard",
        "git.branches",
        "git.log",
        "app.help",
        "workspace.next_pane",
        "git.push",
        "git.pull",
        "git.init",
    ),
    "list": (
        # the sandbox list: what the selected row does first, then what makes and finds one
        "list.open",
        "list.close_workspace",
        "list.create",
        "list.filter",
        "list.start",
        "list.stop",
        "list.delete",
        "app.help",
        "app.quit",
    ),
    None: (
        "app.help",
        "workspace.next_pane",
        "workspace.layout",
        "workspace.maximize",
        "workspace.back",
        "app.quit",
    ),
}

Entry = tuple[Binding, bool, str]  # (binding, enabled, tooltip)
PALETTE_CLASS = "-command-palette"


class Shown(NamedTuple):
    """One footer entry as built: what its `FooterKey` is made of (the footer compares them to skip a rebuild)."""

    key: str
    display: str
    description: str
    action: str
    disabled: bool
    tooltip: str
    classes: str


def entry_width(key_display: str, description: str, *, palette: bool = False) -> int:
    """Cells one footer entry takes in the default (non-compact) style: ` key ` then `description `; the palette
    key adds its left border and right padding."""
    width = cell_len(key_display) + 2 + (cell_len(description) + 1 if description else 0)
    return width + 2 if palette else width


def fit(entries: list[tuple[str, int]], width: int, order: Iterable[str]) -> set[int]:
    """Which entries (id, width) to keep within `width` cells: by `order`'s ids first, then the rest in their own
    order; an entry that does not fit is skipped and smaller, less important ones may still take the room."""
    rank = {binding_id: i for i, binding_id in enumerate(order)}
    by_importance = sorted(range(len(entries)), key=lambda i: (rank.get(entries[i][0], len(rank)), i))
    kept: set[int] = set()
    used = 0
    for i in by_importance:
        if used + entries[i][1] <= width:
            kept.add(i)
            used += entries[i][1]
    return kept


class FittedFooter(Footer):
    """Textual's footer with truthful, fitted contents (see the module docstring). `pane` names the focused pane
    (the workspace passes its `focused_pane`); `works` says whether a binding of a node works now."""

    def __init__(self, *, pane: Callable[[], str | None] | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._pane = pane or (lambda: None)
        self._width = 0
        self._shown: tuple[Shown, ...] | None = None  # what the keys were built from (None: nothing built yet)

    def _works(self, node: DOMNode, binding: Binding) -> bool:
        hides = getattr(node, "hides_in_footer", None)  # a key that works but is not offered in this state
        if hides is not None and hides(binding.action):
            return False
        focused = self.app.focused
        if not getattr(focused, "holds_keyboard", False):
            return True
        return node is focused or binding.id in getattr(self.app, "in_terminal", ())

    def _first_ids(self) -> tuple[str, ...]:
        """Ids the focused widget or one of its containers puts first (`FOOTER_FIRST`: the editor's find bar)."""
        node = self.app.focused
        while node is not None:
            first = getattr(node, "FOOTER_FIRST", None)
            if first:
                return tuple(first)
            node = node.parent  # type: ignore[assignment]
        return ()

    def _width_now(self) -> int:
        return self.size.width or self.screen.size.width or self.app.size.width

    def _plan(self) -> tuple[Shown, ...]:
        """The entries to show now, in order, the palette key last: what `compose` builds."""
        if not self._bindings_ready:
            return ()
        own = getattr(self.app.focused, "footer_keys", None)
        keys = own() if callable(own) else None
        if keys is not None:
            # a mode whose keys the focused widget takes itself (a terminal's copy mode): those, and nothing else
            return self._own_entries(keys)
        active = self.screen.active_bindings
        by_action: defaultdict[str, list[Entry]] = defaultdict(list)
        for node, binding, enabled, tooltip in active.values():
            if binding.show and self._works(node, binding):
                by_action[binding.action].append((binding, enabled, tooltip))
        shown = [entries[0] for entries in by_action.values()]

        palette: Shown | None = None
        room = self._width_now()
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = active.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None and self._works(found.node, found.binding):
                binding = found.binding
                display = self.app.get_key_display(binding)
                palette = Shown(
                    binding.key,
                    display,
                    binding.description,
                    binding.action,
                    not found.enabled,
                    binding.tooltip or binding.description,
                    PALETTE_CLASS,
                )
                room -= entry_width(display, binding.description, palette=True)

        displays = [self.app.get_key_display(binding) for binding, _, _ in shown]
        sizes = [
            (binding.id or binding.action, entry_width(d, binding.description))
            for (binding, _, _), d in zip(shown, displays, strict=True)
        ]
        kept = fit(sizes, room, self._first_ids() + PRIORITY.get(self._pane(), PRIORITY[None]))
        plan = [
            Shown(binding.key, displays[i], binding.description, binding.action, not enabled, tooltip, "")
            for i, (binding, enabled, tooltip) in enumerate(shown)
            if i in kept
        ]
        return (*plan, palette) if palette is not None else tuple(plan)

    def compose(self) -> ComposeResult:
        self._shown = self._plan()
        for entry in self._shown:
            # The palette key stays compact, as in Textual's footer (it is never bound to the footer's `compact`);
            # the others follow the footer's. Set before mounting, with the class that goes with it, not bound
            # (`data_bind`) as Textual's footer does: a FooterKey starts compact (its default), so binding it
            # restyled it twice on mount (add `-compact`, then remove it), most of a rebuild's cost; and each
            # binding stayed in the footer's watcher list after the key was gone.
            compact = self.compact or entry.classes == PALETTE_CLASS
            key = FooterKey(
                entry.key,
                entry.display,
                entry.description,
                entry.action,
                disabled=entry.disabled,
                tooltip=entry.tooltip,
                classes=f"{entry.classes} -compact" if compact else entry.classes,
            )
            key.set_reactive(FooterKey.compact, compact)
            yield key

    async def recompose(self) -> None:
        """Rebuild only when what is shown changes. Textual asks for a rebuild after every focus move and binding
        change (opening a workspace asked ten times), mostly for the same keys; each rebuild removes and mounts,
        and so styles, every key."""
        if self.is_attached and self._plan() == self._shown:
            return
        await super().recompose()

    def watch_compact(self) -> None:
        if self.is_mounted:
            self._shown = None
            self.call_after_refresh(self.recompose)

    def _own_entries(self, keys: list[tuple[str, str, str]]) -> tuple[Shown, ...]:
        """`(key, as shown, what it does)`, whole, in their order; one that does not fit is left out. Clicking one
        types its key into the focused widget (Textual's FooterKey), which is what takes it."""
        room = self._width_now()
        plan: list[Shown] = []
        for key, display, description in keys:
            width = entry_width(display, description)
            if width <= room:
                room -= width
                plan.append(Shown(key, display, description, "", False, description, ""))
        return tuple(plan)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            if self._bindings_ready:
                self.call_after_refresh(self.recompose)


class OwnFooter:
    """A mixin for modal screens: the screen shows its own keys in a `FittedFooter` at the bottom, instead of the
    dimmed footer of the screen beneath it, whose keys do not work while the modal is up (`n New` under a dialog).
    Mounted after the subclass's compose (Textual runs each class's `on_mount` in the MRO), so no compose repeats it."""

    def on_mount(self) -> None:
        screen = cast("Screen[object]", self)
        if not screen.query(FittedFooter):
            screen.mount(FittedFooter())
