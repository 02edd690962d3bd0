"""The app's and the screens' keys as data (DESIGN §7 "keys are data"), and `[keymap]`.

Each `Key` (widgets/keys.py, the one registry of actions, which every pane's table goes into too) has a stable
`id`, the default keys, the action it runs, a short description, a tooltip and the group people know it by.
Screens and the app build their `BINDINGS` from these tables; the help screen, the command palette and the footer
read the registry (`tui/registry.py`), so they cannot drift. The config file's `[keymap]` table maps ids to
keys (`"workspace.focus_terminal" = "alt+t"`) and is applied with `App.set_keymap` by `apply_keymap`.

Which keys are *priority* matters: a priority binding fires before the focused widget sees the key (help, pane
jumps, maximise work from any pane; the workspace's back and close keys are priority so that the editor never
types the `0` or `q` a terminal's ESC-prefixed alt carries). While a terminal holds the keyboard, though, every
key is the program's but the terminal's own escape, ctrl+] (quit too: ctrl+q is a program's key, XON or emacs'
quoted-insert): the app runs only the bindings marked `in_terminal` (none by default) and the ones the user's
`[keymap]` names with the `terminal:` prefix (`"terminal:workspace.focus_git" = "alt+4"`,
`"terminal:app.quit" = "ctrl+q"`: those keys work in the terminal too, and the program no longer gets them) —
`SandbenchApp._check_bindings` enforces it for every binding in one place. The terminal's own escape, ctrl+]
(`terminal.leave`), is the terminal's binding. ctrl+c, ctrl+d, ctrl+z, ctrl+s, ctrl+a and ctrl+b are deliberately
bound nowhere at app or screen level: they belong to the focused pane.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from widgets.error_details import ERROR_DETAILS_KEY
from widgets.keys import REGISTRY, Key, bindings

if TYPE_CHECKING:
    from textual.app import App


APP_KEYS: tuple[Key, ...] = (
    Key(
        "app.quit",
        "ctrl+q",
        "quit",
        "Quit",
        "Quit sandbench (asks first when there is unsaved work; from a terminal: ctrl+] first)",
        priority=True,  # a focused terminal keeps ctrl+q for its program (`"terminal:app.quit"` gives it back)
    ),
    Key(
        "app.palette",
        "ctrl+p",
        "command_palette",
        "Commands",
        "Commands of the focused pane and the app",
        show=False,  # the footer shows the palette key on its own, at the right
    ),
    Key("app.help", "f1", "help", "Help", "Every key, grouped by pane, starting with the focused one", priority=True),
    Key("app.help_alt", "question_mark", "help", "Help", "Every key, grouped by pane", show=False),
    ERROR_DETAILS_KEY,  # defined beside its screen (widgets/error_details.py): the route names its key
)

LIST_KEYS: tuple[Key, ...] = (
    Key("list.open", "enter", "open", "Open", "Open the selected sandbox in the workspace (starts it if stopped)"),
    # The keys that open a dialog are priority ones, as / is: each runs as the app reads it, so what is typed right
    # behind it (a name, the y of a confirmation) reaches the dialog, never the table's own bindings (`ndx1` fast
    # opened Delete under the Create dialog). Typed in the filter they are letters (SandboxListScreen.check_action).
    Key("list.create", "n", "create", "New", "Create a sandbox", priority=True),
    Key("list.start", "s", "start", "Start", "Start the selected sandbox"),
    Key("list.stop", "x", "stop", "Stop", "Stop the selected sandbox (every process in it ends)", priority=True),
    Key(
        "list.delete", "d", "delete", "Delete", "Delete the selected sandbox and its files (asks first)", priority=True
    ),
    Key(
        "list.archive",
        "a",
        "archive",
        "Archive",
        "Stop the selected sandbox and pack its workspace",
        show=False,
        priority=True,
    ),
    Key(
        "list.snapshot",
        "S",
        "snapshot",
        "Snapshot",
        "Save the selected sandbox's files as a named snapshot",
        show=False,
        priority=True,
    ),
    Key("list.refresh", "r", "refresh", "Refresh", "Reload the list from the provider", show=False),
    Key(
        "list.filter",
        "slash",
        "filter",
        "Filter",
        "Filter the list by name, label or state as you type",
        # priority: it runs as the app reads the key, so the letters typed right behind it reach the field, not
        # the table's bindings (`/dev` fast would otherwise open Delete); typed in the field, / is a character
        priority=True,
    ),
    Key(
        "list.close_workspace",
        "w",
        "close_workspace",
        "Close workspace",
        "End the selected sandbox's open workspace (says what will end and asks first)",
        priority=True,
        # in the footer while the selected sandbox has one (SandboxListScreen.check_action)
    ),
    Key(
        "list.copy_id",
        "c",
        "copy_id",
        "Copy id",
        "Copy the selected sandbox's id to the clipboard (OSC 52)",
        show=False,
    ),
    Key(
        "list.timeline",
        "t",
        "timeline",
        "Timeline",
        "What was done to the selected sandbox through sandbench — commands, file edits, git, checkpoints; by you, the "
        "CLI or an agent — live; what each command changed (not what is typed in a terminal)",
        show=False,  # the footer is full at 80 columns; the help screen and the palette list it
    ),
    Key("list.clear_filter", "escape", "clear_filter", "Clear filter", "Clear the filter", show=False),
    Key(
        "list.toggle_others",
        "o",
        "toggle_others",
        "Others",
        "Show or hide other owners' sandboxes, read-only (needs show_others = true in the config)",
        show=False,
    ),
    Key(
        "list.doctor",
        "D",
        "doctor",
        "Doctor",
        "What isolation new sandboxes get on this machine, why, and the command that fixes each shortfall",
        show=False,
    ),
    Key(
        "list.metrics",
        "m",
        "metrics",
        "Metrics",
        "CPU, memory, pids and disk of the selected sandbox over the last 15 minutes, its limits and limit hits",
        show=False,
    ),
    Key(
        "list.processes",
        "p",
        "processes",
        "Processes",
        "The selected sandbox's processes and listening ports: sort, filter, kill, forward a port",
        show=False,
    ),
    Key(
        "list.adopt",
        "A",
        "adopt",
        "Adopt",
        "Make another owner's sandbox yours by setting your owner label (asks first, names the owner)",
        show=False,
        priority=True,
    ),
)

WORKSPACE_KEYS: tuple[Key, ...] = (
    # Esc never leaves the workspace (it belongs to the panes and to vim in the terminal). Going back to the list
    # ends nothing: the workspace stays alive in the background. Priority, so the editor never types the 0 a
    # terminal's ESC+0 carries; a terminal running a program keeps the key (ctrl+] first, see the docstring).
    Key(
        "workspace.back",
        "alt+0",
        "back_to_list",
        "Sandbox list",
        "Back to the sandbox list; this workspace stays open in the background (from a terminal: ctrl+] first)",
        priority=True,
    ),
    Key(
        "workspace.close",
        "alt+q",
        "close_workspace",
        "Close workspace",
        "End this workspace: its terminals and editor tabs (says what will end and asks first)",
        show=False,
        priority=True,
    ),
    Key(
        "workspace.restore_layout",
        "escape",
        "restore_layout",
        "Restore layout",
        "Restore the layout after zooming a pane",
        show=False,
        fallback=True,  # escape closes the innermost thing first (a find bar, a dialog), then the zoom
    ),
    Key(
        "workspace.focus_explorer",
        "alt+1",
        "focus_pane('explorer')",
        "Explorer",
        "Focus the file explorer",
        show=False,
        priority=True,
    ),
    Key(
        "workspace.focus_editor",
        "alt+2",
        "focus_pane('editor')",
        "Editor",
        "Focus the editor",
        show=False,
        priority=True,
    ),
    Key(
        "workspace.focus_terminal",
        "alt+3",
        "focus_pane('terminal')",
        "Terminal",
        "Focus the terminal",
        show=False,
        priority=True,
    ),
    Key("workspace.focus_git", "alt+4", "focus_pane('git')", "Git", "Focus the git panel", show=False, priority=True),
    Key("workspace.next_pane", "f6", "cycle_pane(1)", "Next pane", "Jump to the next pane", priority=True),
    Key(
        "workspace.prev_pane",
        "shift+f6",
        "cycle_pane(-1)",
        "Previous pane",
        "Jump to the previous pane",
        show=False,
        priority=True,
    ),
    Key(
        "workspace.maximize",
        "f11,alt+m",
        "toggle_maximize",
        "Zoom",
        "Maximise the focused pane, or restore the layout",
        priority=True,
    ),
    # one pane at a time (tabs) or all side by side (tiles), at any size; small windows start with tabs
    Key(
        "workspace.layout",
        "ctrl+backslash,shift+f11",
        "toggle_layout",
        "Layout",
        "Switch between all panes side by side and one pane at a time as tabs (alt+1..4 or f6 pick the tab)",
        priority=True,
    ),
    Key(
        "workspace.sidebar_narrower",
        "alt+left",
        "resize_sidebar(-4)",
        "Sidebar narrower",
        "Make the explorer narrower",
        show=False,
    ),
    Key(
        "workspace.sidebar_wider",
        "alt+right",
        "resize_sidebar(4)",
        "Sidebar wider",
        "Make the explorer wider",
        show=False,
    ),
    Key(
        "workspace.terminal_taller",
        "alt+up",
        "resize_terminal(2)",
        "Terminal taller",
        "Make the terminal taller",
        show=False,
    ),
    Key(
        "workspace.terminal_shorter",
        "alt+down",
        "resize_terminal(-2)",
        "Terminal shorter",
        "Make the terminal shorter",
        show=False,
    ),
    Key(
        "workspace.toggle_explorer",
        "alt+e",
        "toggle_pane('explorer')",
        "Hide explorer",
        "Collapse or restore the explorer",
        show=False,
    ),
    Key(
        "workspace.toggle_terminal",
        "alt+t",
        "toggle_pane('terminal')",
        "Hide terminal",
        "Collapse or restore the terminal",
        show=False,
    ),
    Key(
        "workspace.toggle_git",
        "alt+g",
        "toggle_pane('git')",
        "Hide git",
        "Collapse or restore the git panel",
        show=False,
    ),
    Key(
        "workspace.terminals",
        "shift+f7",
        "terminal_list",
        "Terminals",
        "Shells of this sandbox not shown in a tab (detached ones), with their command and age: attach or end them",
        show=False,
    ),
    Key(
        "workspace.copy_name",
        "alt+c",
        "copy_name",
        "Copy name",
        "Copy the sandbox name to the clipboard (OSC 52)",
        show=False,
    ),
    Key(
        "workspace.search",
        "ctrl+shift+f,f8",
        "search",
        "Search in files",
        "Search (and replace) in every file of the sandbox; the search runs inside it",
        show=False,  # the footer is full at 80 columns; the help screen and the palette list it
        priority=True,  # from any pane (a focused terminal still keeps it: ctrl+] first)
    ),
    # issue 13: what changed since a checkpoint, and the checkpoint tree (tui/screens/changes.py, checkpoints.py)
    Key(
        "workspace.changes",
        "f9",
        "changes",
        "Changes",
        "What changed in the sandbox's files since a checkpoint: diffs, restore a file, a hunk or everything",
        show=False,
        priority=True,  # from any pane (a focused terminal still keeps it: ctrl+] first)
    ),
    Key(
        "workspace.checkpoints",
        "shift+f9",
        "checkpoints",
        "Checkpoints",
        "This sandbox's checkpoint tree: take, diff, restore to or fork from any checkpoint",
        show=False,
        priority=True,
    ),
    # Commands that reach across panes (tui/workspace_actions.py). Not priority: a terminal running a program
    # keeps these keys (ctrl+] first, or the palette); no pane binds them.
    Key(
        "workspace.find_file",
        "ctrl+o",
        "find_file",
        "Find file",
        "Fuzzy-find a file in the workspace and open it (from any pane; from a terminal: ctrl+] first)",
        show=False,
    ),
    Key(
        "workspace.run_file",
        "f5",
        "run_file",
        "Run file",
        "Save and run the editor's file (python3, node, bash/sh, make) in the terminal's ▶ tab, reused each run",
        show=False,
    ),
    Key(
        "workspace.take_checkpoint",
        "ctrl+f9",
        "take_checkpoint",
        "Take checkpoint",
        "Checkpoint this sandbox's files now, with a message: restore it later from Checkpoints (shift+f9)",
        show=False,
    ),
    Key(
        "workspace.snapshot",
        "shift+f5",
        "snapshot",
        "Snapshot",
        "Save this sandbox's files as a named snapshot",
        show=False,
    ),
    Key(
        "workspace.timeline",
        "shift+f12",  # f12 is the editor's "save all"
        "timeline",
        "Timeline",
        "What was done to this sandbox through sandbench — commands, file edits, git, checkpoints; by you, the CLI or "
        "an agent — live; what each command changed; restore (not what is typed in a terminal)",
        show=False,
    ),
    Key(
        "workspace.stop",
        "shift+f8",
        "stop_sandbox",
        "Stop sandbox",
        "Stop this sandbox: its terminals end (says what will end and asks first)",
        show=False,
    ),
    Key(
        "workspace.metrics",
        "f10",
        "metrics",
        "Metrics",
        "CPU, memory, pids and disk of this sandbox over the last 15 minutes, its limits and limit hits",
        show=False,
    ),
    Key(
        "workspace.doctor",
        "shift+f1",
        "doctor",
        "Doctor",
        "What isolation new sandboxes get on this machine, and how to fix each shortfall",
        show=False,
    ),
    Key(
        "workspace.processes",
        "shift+f4",  # shift+f12 is the Timeline's, f10 the Metrics
        "processes",
        "Processes",
        "What runs in this sandbox: the process tree (sort, filter, kill) and its listening ports (forward one)",
        show=False,
    ),
    Key("workspace.focus_next", "tab", "app.focus_next", "Next widget", "Move focus to the next widget", show=False),
    Key(
        "workspace.focus_previous",
        "shift+tab",
        "app.focus_previous",
        "Previous widget",
        "Move focus to the previous widget",
        show=False,
    ),
)

# The search-in-files screen (tui/screens/search.py). The toggles are priority, so a search field never types the
# letter of their alt key; each also has an F-key, for terminals whose alt does not reach the app.
SEARCH_KEYS: tuple[Key, ...] = (
    Key("search.close", "escape,f8", "close", "Back", "Back to the workspace (the search and its results stay)"),
    Key("search.case", "f2,alt+c", "toggle_option('case_sensitive')", "Case", "Match case on or off", priority=True),
    Key("search.word", "f3,alt+w", "toggle_option('whole_word')", "Word", "Whole word on or off", priority=True),
    Key("search.regex", "f4,alt+r", "toggle_option('regex')", "Regex", "Regular expression on or off", priority=True),
    Key(
        "search.replace",
        "ctrl+r",
        "replace",
        "Replace…",
        "Replace in the files found: a preview of each file's changes, confirmed file by file",
    ),
    Key("search.stop", "f10", "stop", "Stop", "Stop the search in flight (its grep is killed)"),
    Key("search.query", "ctrl+f", "focus_query", "Find", "Back to the search field", show=False),
)

# The Metrics screen (tui/screens/metrics.py): the key that opened it closes it again.
METRICS_KEYS: tuple[Key, ...] = (
    Key("metrics.close", "escape,f10,m", "close", "Back", "Back to where the Metrics view was opened from"),
)

# The Processes view (tui/screens/processes.py); the tables' own keys (kill, forward) are in widgets/process_view.py.
PROCESS_KEYS: tuple[Key, ...] = (
    Key(
        "processes.close",
        "escape,shift+f4",
        "close",
        "Back",
        "Back to where the view was opened from",
        group="Processes",
    ),
    Key(
        "processes.sort",
        "f6,s",
        "cycle_sort",
        "Sort",
        "Sort siblings by CPU, memory, pid or age (each press the next)",
        group="Processes",
    ),
    Key(
        "processes.filter",
        "slash,f4",
        "focus_filter",
        "Filter",
        "Filter as you type: words in the command line, user, state or pid (enter back to the list)",
        group="Processes",
    ),
)

# Shared by screens that do not inherit Textual's Screen bindings (which include ctrl+c: see the module docstring).
FOCUS_KEYS: tuple[Key, ...] = (
    Key("screen.focus_next", "tab", "app.focus_next", "Next widget", "Move focus to the next widget", show=False),
    Key(
        "screen.focus_previous",
        "shift+tab",
        "app.focus_previous",
        "Previous widget",
        "Move focus to the previous widget",
        show=False,
    ),
)

ALL_KEYS: tuple[Key, ...] = (
    APP_KEYS + LIST_KEYS + WORKSPACE_KEYS + SEARCH_KEYS + METRICS_KEYS + PROCESS_KEYS + FOCUS_KEYS
)
for _key in ALL_KEYS:  # the registry knows the app's and the screens' keys from start-up
    REGISTRY.add(_key)


__all__ = [
    "ALL_KEYS",
    "APP_KEYS",
    "FOCUS_KEYS",
    "LIST_KEYS",
    "METRICS_KEYS",
    "PROCESS_KEYS",
    "SEARCH_KEYS",
    "WORKSPACE_KEYS",
    "Key",
    "apply_keymap",
    "bindings",
]


def known_ids() -> set[str]:
    """The app's and the screens' ids, and every pane's that has been imported (the registry, widgets/keys.py)."""
    return {k.id for k in ALL_KEYS} | REGISTRY.ids()


TERMINAL_PREFIX = "terminal:"  # a `[keymap]` id with this prefix: the binding applies in the terminal too


def in_terminal_ids() -> frozenset[str]:
    """The bindings that run while a terminal holds the keyboard, before any `[keymap]` adds to them."""
    return frozenset(k.id for k in ALL_KEYS if k.in_terminal)


def apply_keymap(app: App[Any], keymap: Mapping[str, str]) -> tuple[list[str], frozenset[str]]:
    """Apply the config's `[keymap]` with `App.set_keymap`. Returns the ids not defined here (for the log) and the
    ids of the bindings that apply while a terminal holds the keyboard.

    Unknown ids are still passed on: panes owned elsewhere (editor, terminal, git) define their own binding ids,
    and a key map may name them. `"terminal:ID" = "KEYS"` binds ID to KEYS as `"ID" = "KEYS"` does (and wins over
    it), and makes ID's keys work in the terminal too; only the app's and the workspace's ids can be named so (a
    pane's own keys never reach the terminal's chain anyway).
    """
    known = known_ids()
    clean: dict[str, str] = {}
    in_terminal = set(in_terminal_ids())
    unknown: set[str] = set()
    for binding_id, keys in sorted(keymap.items(), key=lambda item: item[0].startswith(TERMINAL_PREFIX)):
        if not keys.strip():
            continue
        keys = keys.replace(" ", "")
        if binding_id.startswith(TERMINAL_PREFIX):
            target = binding_id.removeprefix(TERMINAL_PREFIX)
            if target not in known:
                unknown.add(binding_id)
                continue
            clean[target] = keys
            in_terminal.add(target)
            continue
        clean[binding_id] = keys
        if binding_id not in known:
            unknown.add(binding_id)
    app.set_keymap(clean)
    return sorted(unknown), frozenset(in_terminal)
