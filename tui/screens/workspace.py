"""The workspace on one sandbox: explorer left, editor centre, terminal below, git panel right (DESIGN §4).

Under `NARROW` columns the git panel folds into a tab beside the editor. Under `TABS_WIDTH` columns or
`TABS_HEIGHT` rows (80x24) the layout is tabbed: one pane at a time takes the whole body, so the terminal gets
a real share (18 rows at 80x24, not 4), with a row of tabs above (`PaneTabs`) and alt+1..4, f6 to switch. The
layout key (`workspace.layout`, ctrl+backslash or shift+f11) switches between tiles and tabs at any size, and the
choice sticks. The panes are never re-parented for any of this: they stay where `compose` put them and CSS classes
on the screen
(`-narrow`, `-git-tab`, `-tabs`, `-tab-PANE`) show or hide them, so no pane loses its state when the window
resizes; a terminal shown at a new size resizes its PTY (the program gets SIGWINCH).

The focused pane's frame shows its size at the bottom right (a terminal's: the columns and rows its program
sees), so a resize or a layout change says what it gave.

Each pane sits in a `PaneFrame` (`#pane-explorer`, ...) that owns the pane's size, collapse and maximise; the pane
widget inside keeps its id (`#explorer`, `#editor`, `#terminal`, `#git`). The panes are imported directly: a broken
pane is an import error, never a silent stand-in (tests may pass others through `panes`).

The screen outlives a trip back to the list: `alt+0` (`workspace.back`) hides it with everything in it alive, and
opening the sandbox again shows this same instance (`tui/workspaces.py` keeps it). Escape never leaves: it
belongs to the focused pane (and restores a zoomed layout). Ending the workspace is `workspace.close`, which says
what ends first (`ending`).

This module is imported when a sandbox is first opened, not at start-up (the list's first frame does not need it).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Tab, Tabs

from services.config import Config
from services.models import SandboxInfo, SandboxState
from services.sandbox_service import SandboxService
from services.terminal import foreground_program
from services.watch import WatchHub
from tui.compositor import RowCroppedCompositor
from tui.heap import settle_heap
from tui.keymap import WORKSPACE_KEYS, bindings
from tui.messages import BranchChanged, CloseWorkspace, LeaveWorkspace, SandboxChanged, WorkInFlight
from tui.screens.focus_keys import FocusMoveKeys
from tui.screens.layout_rule import terminal_would_shrink
from tui.screens.pane_frame import TITLES, Ending, PaneFrame
from tui.screens.pane_sizes import PaneSizes
from tui.workspace_actions import WorkspaceActions
from widgets.editor import EditorTabs
from widgets.explorer import Explorer
from widgets.footer import FittedFooter
from widgets.git.panel import GitPanel
from widgets.messages import tell
from widgets.pane_tabs import PaneTabs
from widgets.sandbox_table import owner_of, safe_text
from widgets.status_bar import StatusBar
from widgets.terminal import TerminalPane, TerminalView

log = logging.getLogger(__name__)

NARROW = 120  # below this many columns the git panel becomes a tab beside the editor
TABS_WIDTH = 100  # below this many columns, or
TABS_HEIGHT = 30  # this many rows, one pane at a time: tiled, the terminal would get a handful of rows
PANES = ("explorer", "editor", "terminal", "git")


# WorkspaceActions (a Screen): find file, run file, snapshot, stop, doctor — tui/workspace_actions.py
class WorkspaceScreen(WorkspaceActions, PaneSizes, inherit_bindings=False):  # WorkspaceActions reports worker errors
    BINDINGS = bindings(WORKSPACE_KEYS)
    ALLOW_IN_MAXIMIZED_VIEW = "StatusBar, Footer"
    # No auto focus: Textual's ("*") put the keyboard on the editor's tab strip, the first focusable, when the
    # screen was shown again without a focused widget; `on_screen_resume` puts it back in the pane it was in.
    AUTO_FOCUS = ""
    PANE_ORDER: ClassVar[tuple[str, ...]] = PANES

    def __init__(
        self,
        service: SandboxService,
        info: SandboxInfo,
        config: Config,
        *,
        panes: Mapping[str, Callable[..., Widget]] | None = None,
    ) -> None:
        super().__init__(classes="workspace")  # one per live workspace: an id would clash
        self._compositor = RowCroppedCompositor()  # an echo renders the rows it changed, not every pane whole
        self._focus_keys = FocusMoveKeys(self)
        # `panes` overrides pane classes by name (snapshot tests pin placeholders so frames are deterministic)
        self.pane_classes: dict[str, Callable[..., Widget]] = {
            "explorer": Explorer,
            "editor": EditorTabs,
            "terminal": TerminalPane,
            "git": GitPanel,
            **(panes or {}),
        }
        self.service = service
        self.info = info
        self.config = config
        self._unsubscribe: Callable[[], None] | None = None
        self._last_focus: dict[str, Widget] = {}
        self._last_pane = "editor"  # the pane the keyboard was last in (shown again, the keyboard goes back there)
        self._lit: str | None = None  # the pane whose frame is lit as focused (`watch_focused`)
        self._open_files: set[str] = set()  # the editor's tabs at the last settle: a shrink means one was closed
        self._settle: bool | None = None  # a settle is due after the next refresh; True: one that releases
        self._shown = False
        self._layout_choice: str | None = None  # "tabs" or "tiles" once the layout key chose; None: by size
        self._tab = "editor"  # the pane shown in the tabbed layout
        self._user_sizes: dict[str, int] = {}  # explorer width, terminal height set with the resize keys (tiles)

    # -- layout --------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # one watcher for the whole workspace (services/watch.WatchHub), run from on_mount: the explorer re-lists
        # and the git panel re-runs status from the same coalesced batches
        self.watch_hub = WatchHub(self.service, self.info.id)

        def pane(name: str) -> PaneFrame:
            # the terminal's scrollback length is the user's (config `scrollback`); the explorer hears the shared
            # watcher; the other panes need nothing
            extra: dict[str, Any] = {"scrollback": self.config.scrollback} if name == "terminal" else {}
            if name == "explorer":
                extra["watch"] = self.watch_hub
            return PaneFrame(name, self.pane_classes[name](self.service, self.info.id, id=name, **extra))

        yield PaneTabs([(pane, TITLES[pane], "") for pane in PANES], id="pane-tabs")
        with Horizontal(id="body"):
            yield pane("explorer")
            with Vertical(id="centre"):
                yield Tabs(Tab("Editor", id="tab-editor"), Tab("Git", id="tab-git"), id="centre-tabs")
                with Horizontal(id="upper"):
                    yield pane("editor")
                    yield pane("git")
                yield pane("terminal")
        status = StatusBar(id="status")
        self._show_status(status)
        yield status
        yield FittedFooter(pane=lambda: self.focused_pane)

    @property
    def read_only(self) -> bool:
        """Another owner's sandbox, opened with others shown: the service refuses writes, exec and terminals."""
        return not self.service.owns(self.info)

    def _show_status(self, status: StatusBar) -> None:
        status.show_sandbox(self.info, read_only=self.read_only, owner=owner_of(self.info, self.config.owner_label))

    def on_mount(self) -> None:
        self.call_after_refresh(settle_heap)
        tabs = self.query_one(PaneTabs)
        tabs.set_tabs(self._pane_tabs())
        tabs.hint = self._tabs_hint()
        self._layout_for(self.app.size.width, self.app.size.height)
        self._unsubscribe = self.service.subscribe(self._on_service_state)
        # Focus now, not after a refresh: a deferred first focus ran only once the screen was idle, which in a
        # mode of its own could be after the shell's first output, when alt+3 had already put the keyboard in
        # the terminal, and taking it back sent the next keys to the editor (seen in tmux).
        self._reveal_pane("editor")
        self._focus_into("editor")
        if self.info.state is not SandboxState.STARTED:
            self._ensure_running()
        # git status follows file changes (the shared watcher's batches), not a timer; a polling provider polls
        # the folders both panes name
        follow = getattr(self.pane_widget("git"), "follow_changes", None)
        if callable(follow):
            follow(hub=self.watch_hub)
        # the editor hears the same batches: an open file deleted on disk is marked in the tab strip at once
        follow_editor = getattr(self.pane_widget("editor"), "follow_changes", None)
        if callable(follow_editor):
            follow_editor(self.watch_hub)
        if callable(follow) or isinstance(self.pane_widget("explorer"), Explorer):  # not for stand-in panes
            self.run_worker(self.watch_hub.run(), group="workspace-watch", exit_on_error=False, name="workspace watch")

    def on_screen_resume(self) -> None:
        # shown again (reopened from the list, or a dialog closed): a sandbox stopped meanwhile starts again; the
        # first showing is on_mount's
        if not self._shown:
            self._shown = True
            return
        if self.info.state is not SandboxState.STARTED:
            self._ensure_running()
        if self.focused is None:
            self._focus_into(self._last_pane)

    def on_unmount(self) -> None:
        from tui.screens.search import forget_search

        forget_search(self)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        # the panes were frozen while on screen (tui/heap.py): thaw them so leaving the sandbox frees them
        self.app.call_after_refresh(settle_heap, self.app, release=True)

    def on_resize(self, event: Any) -> None:
        self._layout_for(event.size.width, event.size.height)

    def _layout_for(self, width: int, height: int) -> None:
        if self._layout_choice is None:
            terminal = self.focused_pane == "terminal"  # keeps the whole body until tiles give it enough (layout_rule)
            tabbed = width < TABS_WIDTH or height < TABS_HEIGHT or (terminal and terminal_would_shrink(height))
        else:
            tabbed = self._layout_choice == "tabs"
        narrow = not tabbed and width < NARROW
        if tabbed != self.tabbed:
            self.set_class(tabbed, "-tabs")
            if tabbed:
                self._show_pane_tab(self.focused_pane or self._tab)
            self._apply_user_sizes()
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            if narrow and self._pane_of(self.focused) == "git":
                self._show_tab("git")

    @property
    def narrow(self) -> bool:
        """Tiles, with the git panel as a tab beside the editor."""
        return self.has_class("-narrow")

    @property
    def tabbed(self) -> bool:
        """One pane at a time, as tabs (`-tabs`)."""
        return self.has_class("-tabs")

    def _show_pane_tab(self, pane: str) -> None:
        self._tab = pane
        for name in PANES:
            self.set_class(name == pane, f"-tab-{name}")
        self.query_one(PaneTabs).active = pane

    def _apply_user_sizes(self) -> None:
        """The resize keys' sizes are inline styles, which win over any stylesheet rule: they apply to tiles only,
        and are lifted while the layout is tabbed (where each pane takes the whole body)."""
        for pane, rule in (("explorer", "width"), ("terminal", "height")):
            frame = self.frame(pane)
            size = self._user_sizes.get(pane)
            if size is None or self.tabbed:
                frame.styles.clear_rule(rule)
                frame.refresh(layout=True)
            else:
                setattr(frame.styles, rule, size)

    def _key_of(self, binding_id: str) -> str:
        """The key shown for one of this screen's bindings, after the config's `[keymap]`."""
        bindings_map = self._bindings.copy()
        if self.is_attached and self.app._keymap:
            bindings_map.apply_keymap(self.app._keymap)
        for key, binding in bindings_map:
            if binding.id == binding_id:
                return self.app.get_key_display(Binding(key, "")) if self.is_attached else key
        return ""

    def _tabs_hint(self) -> str:
        """The pane-tab row's hint. While a terminal holds the keyboard its alt+1..4, F6 go to the program (bash
        reads ESC 0 as a readline argument): the hint says to leave it first, unless the `[keymap]` lets the pane
        jumps through (`terminal:`)."""
        hint = f"{self._key_of('workspace.next_pane')} next  {self._key_of('workspace.layout')} tiles "
        if not getattr(self.focused, "holds_keyboard", False):
            return hint
        if "workspace.focus_explorer" in getattr(self.app, "in_terminal", ()):
            return hint
        leave = self.app._keymap.get("terminal.leave", "ctrl+right_square_bracket").split(",")[0].strip()
        # short, as the footer writes keys (^]): a longer hint would push the tabs' own keys off the row
        return f"{self.app.get_key_display(Binding(leave, ''))} first "

    def _pane_tabs(self) -> list[tuple[str, str, str]]:
        return [(pane, TITLES[pane], self._key_of(f"workspace.focus_{pane}")) for pane in PANES]

    @on(PaneTabs.Selected)
    def _pane_tab_clicked(self, event: PaneTabs.Selected) -> None:
        self.action_focus_pane(event.pane)

    def action_toggle_layout(self) -> None:
        """Tiles ↔ tabs, at any size; the choice holds until the key is pressed again."""
        pane = self.focused_pane or self._tab
        self._layout_choice = "tiles" if self.tabbed else "tabs"
        if self.maximized is not None:
            self.minimize()
        self._tab = pane
        self._layout_for(self.size.width or self.app.size.width, self.size.height or self.app.size.height)
        self._reveal_pane(pane)

    def frame(self, pane: str) -> PaneFrame:
        return self.query_one(f"#pane-{pane}", PaneFrame)

    def pane_widget(self, pane: str) -> Widget:
        return self.query_one(f"#{pane}", Widget)

    def _pane_of(self, widget: Widget | None) -> str | None:
        node: Any = widget
        while node is not None and node is not self:
            if isinstance(node, PaneFrame):
                return node.pane
            node = node.parent
        return None

    @property
    def focused_pane(self) -> str | None:
        return self._pane_of(self.focused)

    def _show_tab(self, pane: str) -> None:
        self.set_class(pane == "git", "-git-tab")
        tabs = self.query_one("#centre-tabs", Tabs)
        tab_id = f"tab-{pane}"
        if tabs.active != tab_id:
            tabs.active = tab_id

    @on(Tabs.TabActivated, "#centre-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        pane = "git" if event.tab.id == "tab-git" else "editor"
        self.set_class(pane == "git", "-git-tab")

    def pane_visible(self, pane: str) -> bool:
        frame = self.frame(pane)
        if frame.has_class("-collapsed"):
            return False
        if self.tabbed:
            return pane == self._tab
        if self.narrow and pane in ("editor", "git"):
            return self.has_class("-git-tab") == (pane == "git")
        return True

    # -- focus ---------------------------------------------------------------------------------------------
    def watch_focused(self, focused: Widget | None) -> None:
        """Light the frame of the pane the keyboard is in (`-focused`, styles.tcss) and restyle only the frames
        that changed: the `:focus-within` rule this replaces restyled the whole pane, every widget of every editor
        tab in it, at each focus move, even within the pane (a fifth of the editor-memory test's CPU)."""
        pane = self._pane_of(focused)
        if pane == self._lit:
            return
        # a query, not `frame()`: focus also moves while the screen is being taken down, its frames going
        changed = [frame for frame in self.query(PaneFrame) if frame.pane in (self._lit, pane)]
        for frame in changed:
            frame.set_class(frame.pane == pane, "-focused", update=False)
        self._lit = pane
        if self.is_attached:
            self.app.stylesheet.update_nodes(changed, animate=True)

    def holds_key(self, event: events.Key) -> bool:
        return self._focus_keys.hold(event)

    def on_descendant_focus(self, event: Any) -> None:
        self._focus_keys.landed(self._pane_of(self.focused))
        if self.is_mounted:
            self.query_one(PaneTabs).hint = self._tabs_hint()
        pane = self._pane_of(self.focused)
        if pane is None or self.focused is None:
            return
        self._last_pane = pane
        # the editor's tab strip is never where a jump to the editor lands: the cursor goes in the active file
        if pane == "editor" and isinstance(self.focused, Tabs):
            self._last_focus.pop(pane, None)
            return
        self._last_focus[pane] = self.focused

    def _focus_into(self, pane: str) -> bool:
        remembered = self._last_focus.get(pane)
        # already there (the terminal's tab bar after ctrl+]): the jump asks the pane, which gives the shell the keys
        if (
            remembered is not None
            and remembered is not self.focused
            and remembered.is_attached
            and remembered.focusable
        ):
            remembered.focus()
            return True
        pane_widget = self.pane_widget(pane)
        if type(pane_widget).focus is not Widget.focus:
            # The pane says where its keyboard goes (the terminal: the active shell, not the tab bar that comes
            # first in the focus chain). Its focus() is deferred; fall back to the chain if it found nothing.
            before = self.focused
            pane_widget.focus()
            self.call_after_refresh(self._focus_if_unmoved, pane, before)
            return True
        return self._focus_fallback(pane)

    def _focus_if_unmoved(self, pane: str, before: Widget | None) -> None:
        focused = self.focused
        if focused is not None and (self.frame(pane) in focused.ancestors or focused is not before):
            return  # landed in the pane, or the user has moved on since: leave focus where it is
        self._focus_fallback(pane)

    def _focus_fallback(self, pane: str) -> bool:
        frame = self.frame(pane)
        for widget in self.focus_chain:
            if frame in widget.ancestors:
                widget.focus()
                return True
        frame.hold_focus()
        return True

    def action_focus_pane(self, pane: str) -> None:
        if pane not in PANES:
            return
        if self._pane_of(self.focused) != pane:
            self._focus_keys.start(pane)  # keys typed behind the jump wait for the focus to land (focus_keys.py)
        self._reveal_pane(pane)
        # the tab switch changes display: focus after the next refresh, when the pane is focusable again
        self.call_after_refresh(self._focus_into, pane)

    def _reveal_pane(self, pane: str) -> None:
        """Make the pane visible (restore a maximised other pane, un-collapse, switch the narrow tab)."""
        frame = self.frame(pane)
        if self.maximized is not None and self.maximized is not frame:
            self.minimize()
        if frame.has_class("-collapsed"):
            frame.remove_class("-collapsed")
        if self.tabbed:
            self._show_pane_tab(pane)
        if self.narrow and pane in ("editor", "git"):
            self._show_tab(pane)

    def action_cycle_pane(self, step: int) -> None:
        current = self.focused_pane
        order = [p for p in PANES if not self.frame(p).has_class("-collapsed")]
        if not order:
            return
        index = order.index(current) if current in order else -1
        self.action_focus_pane(order[(index + step) % len(order)])

    # -- back to the list, unsaved work, ending -------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "restore_layout":
            return self.maximized is not None  # otherwise escape goes on to the focused pane, and no further
        if action in ("resize_sidebar", "resize_terminal"):
            return not self.tabbed  # tabs: each pane has the whole body
        return True

    def action_back_to_list(self) -> None:
        """Back to the list. Nothing ends: this screen stays alive in the background (`tui.workspaces`)."""
        self.post_message(LeaveWorkspace())

    def action_close_workspace(self) -> None:
        self.post_message(CloseWorkspace(self.info.id))

    def action_terminal_list(self) -> None:
        for pane in self.query(TerminalPane):
            pane.action_terminal_list()
            return

    async def end_terminals(self) -> None:
        """End every shell of this workspace (closing it on purpose); quitting only detaches them."""
        for pane in self.query(TerminalPane):
            await pane.end_all()

    def action_restore_layout(self) -> None:
        if self.maximized is not None:
            self.minimize()

    def has_unsaved(self) -> list[str]:
        """What would be lost by leaving: asks every widget that has a `has_unsaved()` (list of names or bool)."""
        out: list[str] = []
        for widget in self.query("*"):
            check = getattr(widget, "has_unsaved", None)
            if not callable(check):
                continue
            try:
                answer = check()
            except Exception:
                log.exception("has_unsaved of %r failed", widget)
                answer = [f"{widget.id or type(widget).__name__} (could not check)"]
            if isinstance(answer, bool):
                if answer:
                    out.append(widget.id or type(widget).__name__)
            else:
                out.extend(str(a) for a in answer)
        return out

    def ending(self) -> Ending:
        """What ending this workspace would end: its live terminals (and what runs in them), its unsaved buffers."""
        sessions = [view.session for view in self.query(TerminalView) if view.session is not None]
        running = tuple(p for p in (foreground_program(s) for s in sessions) if p)
        return Ending(len(sessions), running, tuple(self.has_unsaved()))

    async def save_all(self) -> list[str]:
        """Save every unsaved buffer (each pane with `has_unsaved` and `save(path)`); returns what is still
        unsaved, each with why when the pane knows (`unsaved_reason`). Call from a worker: a save may ask (the
        file changed on disk)."""
        for widget in self.query("*"):
            check, save = getattr(widget, "has_unsaved", None), getattr(widget, "save", None)
            if callable(check) and callable(save):
                for path in list(check()):
                    await save(path)
        why: dict[str, str] = {}
        for widget in self.query("*"):
            check, reason = getattr(widget, "has_unsaved", None), getattr(widget, "unsaved_reason", None)
            if callable(check) and callable(reason):
                why.update((p, reason(p)) for p in check())
        return [why.get(p, p) for p in self.has_unsaved()]

    # -- service state, work in flight, branch ---------------------------------------------------------------
    def _on_service_state(self, info: SandboxInfo) -> None:
        if info.id == self.info.id:
            self.post_message(SandboxChanged(info))

    def on_sandbox_changed(self, message: SandboxChanged) -> None:
        self.info = (
            message.info
            if message.info.disk_used_bytes is not None
            else dataclasses.replace(message.info, disk_used_bytes=self.info.disk_used_bytes)
        )
        self._show_status(self.query_one(StatusBar))
        if message.info.state is SandboxState.DELETED:
            tell(self, f"{safe_text(self.info.name)} was deleted", severity="warning")
            self.post_message(CloseWorkspace(self.info.id, ask=False))  # nothing left to save to

    def on_work_in_flight(self, message: WorkInFlight) -> None:
        status = self.query_one(StatusBar)
        if message.text is None:
            status.end(message.key)
        else:
            status.begin(message.key, message.text)

    def on_branch_changed(self, message: BranchChanged) -> None:
        self.query_one(StatusBar).branch = message.branch

    def on_git_panel_status_changed(self, message: Any) -> None:
        """`GitPanel.StatusChanged(status)`: the branch goes to the status bar, the markers and ignored paths to
        the explorer."""
        self.query_one(StatusBar).branch = getattr(message, "branch", None)
        set_markers = getattr(self.pane_widget("explorer"), "set_git_status", None)
        if callable(set_markers):
            set_markers(getattr(message, "markers", {}), ignored=getattr(message, "ignored", frozenset()))

    def on_editor_tabs_saved(self, message: Any) -> None:
        """`EditorTabs.Saved(path)`: the git panel refreshes (it skips this when its watcher reports the write)."""
        notice = getattr(self.pane_widget("git"), "notice_saved", None)
        if callable(notice):
            notice(message.path)

    def on_editor_tabs_active_file_changed(self, message: Any) -> None:
        # a newly opened file brought a document and its highlight state: settle them once it is painted;
        # a closed one was frozen while open, and is only freed by a thawing pass
        open_now = set(getattr(self.pane_widget("editor"), "open_paths", ()))
        closed = bool(self._open_files - open_now)
        self._open_files = open_now
        if self._settle is None:  # tabs closed in a row (or opened) share one pass
            self.call_after_refresh(self._settle_heap)
        self._settle = bool(self._settle) or closed

    def _settle_heap(self) -> None:
        release, self._settle = bool(self._settle), None
        settle_heap(self.app, release=release)

    def on_explorer_file_open_requested(self, message: Any) -> None:
        """`Explorer.FileOpenRequested(path)` → `EditorTabs.open_file(path)`, then the editor has focus.

        A file that has to load focuses its own buffer when its tab is added; focusing the pane here as well raced
        with that and could leave focus on the tab strip (the first focusable in the pane), so typed keys went
        nowhere. Here the pane is only shown, and focused only when the file was already open (no load)."""
        editor = self.pane_widget("editor")
        open_file = getattr(editor, "open_file", None)
        if callable(open_file):
            self._reveal_pane("editor")
            if open_file(message.path) is None:
                self.action_focus_pane("editor")

    def _ensure_running(self) -> None:
        key = f"start:{self.info.id}"
        name = self.info.name

        async def work() -> None:
            self.post_message(WorkInFlight(key, f"starting {name}…"))
            try:
                # read-only: a stopped sandbox of someone else's is not ours to start; the service says so in one
                # line (write=True would answer "no sandbox", the fail-closed reply for writes)
                info = await self.service.ensure_running(self.info.id, write=not self.read_only)
            finally:
                self.post_message(WorkInFlight(key, None))
            self.post_message(SandboxChanged(info))

        self.run_worker(work(), name=f"start {name}", group="ensure-running", exclusive=True, exit_on_error=False)

    def title_text(self) -> Text:
        return Text(safe_text(self.info.name))
