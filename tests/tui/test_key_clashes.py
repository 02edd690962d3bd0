"""No key does two things in one place (issue 11 §4): for every focusable widget of the real app — the sandbox
list, the workspace with its real panes (a file open in the editor, a shell in the terminal) and every dialog and
modal screen — the bindings Textual would try for a key, from the app's priority ones down to the widget and back
up its ancestors, are computed as Textual's own `_binding_chain` does; two different actions on one key there is
a clash. Allowed, and only these: a `Key(fallback=True)` shadowed by a closer binding of its key (escape closes
the innermost thing first), and keys a text field consumes (typing a letter is not a clash with a pane's letter).

A terminal running a program holds the keyboard: only its own keys and the app's `in_terminal` ones apply there.
Also checked: the registry's help and palette read the same actions (no id twice in one help group), and no help
group lists one key for two actions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import key_to_character
from textual.screen import Screen
from textual.widget import Widget

from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import workspace_up
from tui.app import SandbenchApp
from tui.registry import help_groups
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.workspace import WorkspaceScreen
from widgets.keys import REGISTRY

Clash = tuple[str, str, list[str]]  # (context, key, the actions on it)

# Textual's own keys of a focused list or field that win over a screen's key on purpose, each for a reason:
NATIVE = {
    ("Input", "submit"),  # enter finishes the field (the filter, the finder's query): its screen decides what next
    # scrolling a one-line field: Textual skips the action when there is nothing to scroll (SkipAction), so the
    # screen's key runs (the finder's ↑/↓/PgUp/PgDn move its results; ctrl+PgUp/PgDn switch editor tabs)
    ("Input", "scroll_up"),
    ("Input", "scroll_down"),
    ("Input", "page_up"),
    ("Input", "page_down"),
    ("Input", "page_left"),
    ("Input", "page_right"),
    # a focused list moves its own cursor and selects: the same thing its screen's keys do
    ("OptionList", "cursor_up"),
    ("OptionList", "cursor_down"),
    ("OptionList", "page_up"),
    ("OptionList", "page_down"),
    ("OptionList", "select"),  # enter on a list picks the option, which runs the screen's own enter action
    ("SelectOverlay", "cursor_up"),
    ("SelectOverlay", "cursor_down"),
    ("SelectOverlay", "select"),
    ("SandboxTable", "select_cursor"),  # enter selects the row, which opens it: list.open's own meaning
}


def _label(node: DOMNode, binding: Binding) -> str:
    return f"{binding.id or type(node).__name__ + ':' + binding.action}"


def chain_of(widget: Widget, app: SandbenchApp) -> list[tuple[DOMNode, Binding]]:
    """Every (namespace, binding) Textual could run for a key pressed with `widget` focused, as
    `Screen._binding_chain` builds it (keys consumed by a text field removed from its ancestors, the key map
    applied), cut at a modal screen for non-priority bindings (`_modal_binding_chain`), and for a terminal that
    holds the keyboard only its own bindings and the app's `in_terminal` ones (`SandbenchApp._check_bindings`)."""
    nodes = list(widget.ancestors_with_self)
    keymap = dict(app._keymap)
    holds = bool(getattr(widget, "holds_keyboard", False))
    out: list[tuple[DOMNode, Binding]] = []
    consumers: list[DOMNode] = []
    beyond_modal = False
    for node in nodes:
        bindings_map = node._bindings.copy()
        if keymap:
            bindings_map.apply_keymap(keymap)
        for key, binding in bindings_map:
            if any(c.check_consume_key(key, key_to_character(key)) for c in consumers):
                continue
            if beyond_modal and not binding.priority:
                continue
            if holds and node is not widget and binding.id not in app.in_terminal:
                continue
            out.append((node, binding))
        consumers.append(node)
        if node.is_modal:
            beyond_modal = True
    return out


def clashes_in(widget: Widget, app: SandbenchApp, context: str) -> Iterator[Clash]:
    by_key: dict[str, list[tuple[DOMNode, Binding]]] = {}
    for node, binding in chain_of(widget, app):
        by_key.setdefault(binding.key, []).append((node, binding))
    for key, found in by_key.items():
        # dispatch order: priority bindings from the app down, then the rest from the widget up
        ordered = [f for f in reversed(found) if f[1].priority] + [f for f in found if not f[1].priority]
        actions: list[str] = []
        for node, binding in ordered:
            label = _label(node, binding)
            if label not in actions:
                actions.append(label)
        if len(actions) < 2 or not any(REGISTRY.get(a) for a in actions):
            continue  # Textual's own widgets among themselves (Input's copy and the screen's): not ours to name
        shadowed = [(REGISTRY.get(a), a) for a in actions[1:]]
        if all((k is not None and k.fallback) or a.endswith(":screen.copy_text") for k, a in shadowed):
            continue  # fallbacks by design; a screen's "copy selected text" under a field's own copy is one thing
        winner_node, winner = ordered[0]
        # by class or base class: the editor's find field is an Input with the footer's words for enter
        native = {(cls.__name__, winner.action.split("(")[0]) for cls in type(winner_node).__mro__}
        if winner.id is None and native & NATIVE:
            continue
        yield (context, key, actions)


def focusables(screen: Screen[Any]) -> list[Widget]:
    return [w for w in screen.query("*") if w.focusable or w.can_focus or type(w).__name__ == "TerminalView"]


CHECKED: list[str] = []  # every context looked at (the test asserts the panes are among them)


def screen_clashes(app: SandbenchApp, name: str) -> list[Clash]:
    screen = app.screen
    out: list[Clash] = []
    widgets = focusables(screen) or [screen]
    CHECKED.extend(f"{name} > {type(w).__name__}" for w in widgets)
    for widget in widgets:
        out.extend(clashes_in(widget, app, f"{name} > {type(widget).__name__}#{widget.id}"))
    return out


async def _workspace(pilot: Any, app: SandbenchApp, service: SandboxService, box: SandboxInfo) -> WorkspaceScreen:
    await service.write_file(box.id, "main.py", b"print('hi')\n")
    await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
    await pilot.press("enter")
    await wait_until(pilot, lambda: workspace_up(app))
    screen = app.screen
    assert isinstance(screen, WorkspaceScreen)
    editor: Any = screen.pane_widget("editor")
    editor.open_file("main.py")
    await wait_until(pilot, lambda: editor.active_editor is not None)
    terminal: Any = screen.pane_widget("terminal")
    await wait_until(pilot, lambda: any(v.session is not None for v in terminal.views))
    return screen


def _modals(app: SandbenchApp, screen: WorkspaceScreen) -> list[tuple[str, Callable[[], Screen[Any]]]]:
    from services.git_parse import FileStatus
    from tui.screens.changes import ChangesScreen, CheckpointPicker
    from tui.screens.checkpoints import CheckpointsScreen, DiffScreen
    from tui.screens.doctor import DoctorScreen
    from tui.screens.help import HelpScreen
    from tui.screens.processes import ProcessesScreen
    from tui.screens.timeline import TimelineScreen
    from widgets.create_dialog import CreateDialog
    from widgets.dialogs import ChoiceDialog, ConfirmDialog, InputDialog
    from widgets.editor.disk_diff import DiskDiffScreen
    from widgets.error_details import ErrorDetailsScreen, ShownError
    from widgets.fuzzy_finder import FuzzyFinder
    from widgets.git.branches import BranchScreen
    from widgets.git.dialogs import CommitDialog, SecretDialog
    from widgets.git.diff_screen import GitDiffScreen
    from widgets.git.log import CommitScreen, LogScreen
    from widgets.git.stash import StashScreen

    git: Any = screen.pane_widget("git").git  # type: ignore[attr-defined]
    entry = FileStatus(path="main.py", kind="untracked")
    return [
        ("confirm", lambda: ConfirmDialog("t", "m")),
        ("input", lambda: InputDialog("t", "p")),
        ("choice", lambda: ChoiceDialog("t", "m", [("a", "A"), ("b", "B")])),
        ("create", lambda: CreateDialog()),
        ("secret", lambda: SecretDialog("t", "p")),
        ("commit message", lambda: CommitDialog()),
        ("finder", lambda: FuzzyFinder(screen.service, screen.info.id)),
        ("help", lambda: HelpScreen(help_groups(screen))),
        ("doctor", lambda: DoctorScreen(["ok"])),
        ("editor diff", lambda: DiskDiffScreen("t", [])),
        ("git diff", lambda: GitDiffScreen(git, entry, staged=False)),
        ("branches", lambda: BranchScreen(git)),
        ("stashes", lambda: StashScreen(git)),
        ("commit", lambda: CommitScreen(git, "0" * 40)),
        ("log", lambda: LogScreen(git)),
        ("timeline", lambda: TimelineScreen(screen.service, screen.info.id, screen.info.name)),
        ("changes", lambda: ChangesScreen(screen.service, screen.info.id, screen.info.name, screen)),
        ("checkpoints", lambda: CheckpointsScreen(screen.service, screen.info.id, screen.info.name, screen)),
        ("checkpoint picker", lambda: CheckpointPicker([], None, datetime.now(UTC))),
        ("checkpoint diff", lambda: DiffScreen("t", [])),
        ("processes", lambda: ProcessesScreen(screen.service, screen.info, refresh_every=None)),
        ("error details", lambda: ErrorDetailsScreen([ShownError("Git", "l", "l\nm", "c", datetime.now(UTC))])),
    ]


async def test_no_key_does_two_things_anywhere(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    box = await service.create(SandboxSpec(name="box"))
    app = make_app()  # the real panes
    found: list[Clash] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        found += screen_clashes(app, "sandbox list")
        screen = await _workspace(pilot, app, service, box)
        found += screen_clashes(app, "workspace")
        for name, make in _modals(app, screen):
            modal = make()
            app.push_screen(modal)
            await wait_until(pilot, lambda modal=modal: app.screen is modal and modal.is_mounted)  # type: ignore[misc]
            found += screen_clashes(app, name)
            modal.dismiss(None)
            await wait_until(pilot, lambda: app.screen is screen)
    for context in ("Explorer", "CodeEditor", "TerminalView", "_TabBar", "StatusList", "Input", "OptionList"):
        assert any(c.endswith(context) for c in CHECKED), context
    assert not found, "keys that do two things:\n" + "\n".join(f"  {c}: {k} → {' / '.join(a)}" for c, k, a in found)


def test_every_registered_action_has_a_group_people_know_and_a_description() -> None:
    import tui.screens.workspace  # noqa: F401  (imports every pane, so every table is registered)

    bad = [k.id for k in REGISTRY if not k.description or not k.group_name or k.group_name[0].islower()]
    assert not bad
    assert len(REGISTRY) > 120  # the app, the screens and every pane: one registry


async def test_help_never_lists_a_key_twice_in_a_group(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    box = await service.create(SandboxSpec(name="box"))
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _workspace(pilot, app, service, box)
        groups = help_groups(screen)
        for title, entries in groups:
            keys = [k for e in entries for k in e.keys]
            assert len(keys) == len(set(keys)), (title, sorted(k for k in keys if keys.count(k) > 1))
            ids = [e.id for e in entries]
            assert len(ids) == len(set(ids))
        texts = " ".join(f"{title} {e.keys_label} {e.key.description}" for title, entries in groups for e in entries)
        for internal in ("Page Left", "^pgup", "SandboxTable", "Focus Next"):
            assert internal not in texts
