"""`EditorTabs`: the editor pane — tabs of open files over a `SandboxService`.

Owns: opening files (through `service.read_file` in a worker; binary, over-limit, undecodable and huge-line files
open as read-only views with a banner), dirty tracking and the tab marker, atomic saves with the file's mtime as
a precondition (a `Conflict` asks: overwrite / reload / diff), reloading files changed on disk while clean,
closing with a prompt, go to line, soft wrap; find / replace on the active buffer (the bar and the matching live
in `find.py`, the diff with disk in `disk_diff.py`, a buffer's own edits in `buffer.py`).

Size: one ~630-line widget, because its load, save, conflict and close paths share the buffer table and its workers.

Follows DESIGN §7: service calls run in workers (`exit_on_error=False`, a group per concern); a loaded file comes
back as a message whose handler builds the tab; failed workers, and errors caught here, go to the app's one error
route (`widgets.messages`). Text from the sandbox (names, contents) is shown as plain text, never markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static, TabbedContent, TabPane
from textual.worker import Worker

from services.errors import Conflict, FileNotFound, InvalidInput, SandbenchError, TooLarge
from services.sandbox_service import SandboxService
from services.text import safe_text
from services.watch import ChangeBatch, WatchHub
from widgets.dialogs import ChoiceDialog, InputDialog
from widgets.editor.buffer import Buffer, apply_minimal_edit, end_with_newline, undo_marker
from widgets.editor.content import LoadedFile, classify
from widgets.editor.disk_diff import DiskDiffScreen, disk_diff
from widgets.editor.fileconfig import apply_settings, load_settings
from widgets.editor.find import FindBar, replace_matches, select_match
from widgets.editor.highlight import detect_lexer
from widgets.editor.text_area import CodeEditor
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors, describe, report, tell

if TYPE_CHECKING:
    from collections.abc import Callable

DIRTY = "\u25cf"  # ● before the name of a tab with unsaved changes
RESTAT_AFTER = 1.0  # seconds: re-stat the active file on focus at most this often


class EditorTabs(ReportWorkerErrors, Vertical):
    """Tabs of open files of one sandbox. See the module docstring."""

    BINDINGS = bindings(
        (
            Key("editor.save", "ctrl+s", "save", "Save", "Save the file in the active tab"),
            Key("editor.save_all", "f12,alt+s", "save_all", "Save all", "Save every modified file"),
            Key("editor.close", "ctrl+f4,f4,alt+w", "close_tab", "Close tab", "Close the active tab"),
            Key("editor.find", "ctrl+f", "find", "Find", "Find text in the active file"),
            Key("editor.replace", "ctrl+r", "replace", "Replace", "Find and replace in the active file"),
            Key("editor.find_next", "f3", "find_next", "Find next", "Jump to the next match"),
            Key("editor.find_prev", "shift+f3", "find_prev", "Find prev", "Jump to the previous match"),
            Key("editor.goto_line", "ctrl+g", "goto_line", "Go to line", "Jump to a line number"),
            Key("editor.soft_wrap", "alt+z", "toggle_wrap", "Wrap", "Toggle soft wrap of long lines"),
            Key("editor.next_tab", "ctrl+pagedown", "next_tab", "Next tab", "Show the next tab"),
            Key("editor.prev_tab", "ctrl+pageup", "prev_tab", "Prev tab", "Show the previous tab"),
        )
    )

    DEFAULT_CSS = """
    EditorTabs { height: 1fr; }
    EditorTabs > TabbedContent { height: 1fr; }
    EditorTabs TabPane { padding: 0; height: 1fr; }
    EditorTabs .editor-banner { background: $warning 30%; color: $text; padding: 0 1; height: auto; }
    EditorTabs CodeEditor { height: 1fr; }
    EditorTabs #editor-empty { color: $text-muted; padding: 1 2; }
    """

    class ActiveFileChanged(Message):
        """The active tab changed (None: no tab open)."""

        def __init__(self, path: str | None) -> None:
            super().__init__()
            self.path = path

    class Saved(Message):
        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

    class Loaded(Message):
        """Internal: a worker read a file; the handler builds or refreshes its tab."""

        def __init__(self, loaded: LoadedFile, reload: bool) -> None:
            super().__init__()
            self.loaded = loaded
            self.reload = reload

    def __init__(self, service: SandboxService, sandbox_id: str, *, id: str | None = "editor") -> None:
        super().__init__(id=id)
        self.service = service
        self.sandbox_id = sandbox_id
        self._buffers: dict[str, Buffer] = {}
        self._save_errors: dict[str, str] = {}  # path → why its last save failed (the Save all dialog says)
        self._by_pane: dict[str, Buffer] = {}
        self._loading: set[str] = set()
        self._pane_counter = 0
        self._soft_wrap = False
        self._last_active: str | None = None
        self._unfollow: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("No file open. Open one from the explorer."), id="editor-empty")
        yield TabbedContent(id="editor-tabs")
        yield FindBar(id="editor-find")

    def on_mount(self) -> None:
        self.query_one("#editor-tabs", TabbedContent).display = False
        self._warm_up()

    @work(group="editor-warm", exit_on_error=False)
    async def _warm_up(self) -> None:
        # Pygments builds its file-name tables on the first lookup (~0.1 s): do it now, off the UI loop, not
        # when the first file is opened.
        await asyncio.to_thread(detect_lexer, "warm-up.py", "")

    # -- public API ---------------------------------------------------------------------------------------
    @property
    def active_path(self) -> str | None:
        buf = self._active_buffer()
        return buf.path if buf else None

    @property
    def active_editor(self) -> CodeEditor | None:
        buf = self._active_buffer()
        return buf.editor if buf else None

    def focus(self, scroll_visible: bool = True) -> EditorTabs:
        """Focusing the editor puts the cursor in the active file (alt+2, f6, a pane tab), never on the tab strip
        that comes first in the focus chain; with no file open, the pane itself is focused."""
        editor = self.active_editor
        if editor is not None and editor.focusable:
            editor.focus(scroll_visible)
            return self
        return super().focus(scroll_visible)

    def buffer(self, path: str) -> Buffer | None:
        return self._buffers.get(path)

    @property
    def open_paths(self) -> list[str]:
        return list(self._buffers)

    def has_unsaved(self) -> list[str]:
        """Paths of buffers with unsaved changes (the app asks before quitting)."""
        return [b.path for b in self._buffers.values() if b.dirty]

    def open_file(self, path: str) -> Worker[None] | None:
        """Open `path` (relative to the sandbox root) in a tab, or show its tab if it is open. Returns the
        loading worker (await `worker.wait()` to know when the tab is there), None if nothing had to load."""
        if path in self._buffers:
            self._activate(self._buffers[path])
            return None
        if path in self._loading:
            return None
        self._loading.add(path)
        return self._load(path)

    async def file_changed(self, path: str) -> None:
        """The file changed on disk (the explorer's watcher or the app says so). A clean buffer reloads; a
        modified one is flagged, and saving it will ask."""
        buf = self._buffers.get(path)
        if buf is None or buf.loaded.kind == "diff":
            return
        buf.last_stat = time.monotonic()
        try:
            entry = await self.service.stat(self.sandbox_id, path)
        except FileNotFound:
            if not buf.deleted:
                buf.changed_on_disk = buf.deleted = True
                self._relabel(buf)
                tell(self, f"{safe_text(path)} was deleted on disk; saving will recreate it", severity="warning")
            return
        except SandbenchError as exc:
            report(self, exc)
            return
        if buf.deleted:  # back on disk (recreated, or a checkout brought it back)
            buf.deleted = False
            self._relabel(buf)
        if entry.mtime == buf.mtime:
            return
        if buf.dirty:
            if not buf.changed_on_disk:
                buf.changed_on_disk = True
                tell(self, f"{path} changed on disk; saving will ask what to do", severity="warning")
            return
        await self._reload(path)

    def follow_changes(self, hub: WatchHub) -> None:
        """Hear the workspace's change batches (the workspace's one watcher): an open file changed or deleted on
        disk is checked at once, in the background, so its tab says so before it is next viewed."""
        if self._unfollow is None:
            self._unfollow = hub.subscribe(self._on_batch, dirs=self._open_dirs)

    def _open_dirs(self) -> list[str]:
        return sorted({os.path.dirname(p) for p in self._buffers})

    def _on_batch(self, batch: ChangeBatch) -> None:
        touched = [p for p in self._buffers if p in batch.paths or os.path.dirname(p) in batch.dirs]
        if touched:
            self._check_files(touched)

    @work(group="editor-watch", exit_on_error=False)
    async def _check_files(self, paths: list[str]) -> None:
        for path in paths:
            await self.file_changed(path)

    def on_unmount(self) -> None:
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None

    # -- loading ------------------------------------------------------------------------------------------
    @work(group="editor-load", exit_on_error=False)
    async def _load(self, path: str) -> None:
        try:
            await self._reload(path, reload=False)
        finally:
            self._loading.discard(path)

    async def _read(self, path: str) -> LoadedFile:
        """Read and classify a file (classification and lexer sniffing run in a thread)."""
        limit = self.service.config.read_limit
        try:
            data = await self.service.read_file(self.sandbox_id, path)
        except TooLarge:
            data = await self.service.read_file(self.sandbox_id, path, head=True)
            return await asyncio.to_thread(
                classify, path, data.data, size=data.size, mtime=data.mtime, truncated=True, limit=limit
            )
        loaded = await asyncio.to_thread(
            classify, path, data.data, size=data.size, mtime=data.mtime, truncated=data.truncated, limit=limit
        )
        if loaded.read_only:
            return loaded
        return apply_settings(loaded, await load_settings(self.service, self.sandbox_id, path))

    @on(Loaded)
    async def _loaded(self, message: Loaded) -> None:
        loaded = message.loaded
        existing = self._buffers.get(loaded.path)
        if existing is not None:
            if message.reload:
                await self._replace_view(existing, loaded)
            else:
                self._activate(existing)
            return
        await self._add_tab(loaded)

    async def _add_tab(self, loaded: LoadedFile, *, activate: bool = True) -> Buffer:
        self._pane_counter += 1
        pane_id = f"editor-pane-{self._pane_counter}"
        editor = self._make_editor(loaded)
        children: list[Static | CodeEditor] = []
        if loaded.notice:
            children.append(Static(Text(loaded.notice), classes="editor-banner"))
        children.append(editor)
        pane = TabPane(self._label(loaded.path, False), *children, id=pane_id)
        buf = Buffer(loaded.path, pane_id, loaded, editor, loaded.mtime)
        buf.saved_marker = undo_marker(editor)
        self._buffers[loaded.path] = buf
        self._by_pane[pane_id] = buf
        tabs = self.query_one("#editor-tabs", TabbedContent)
        tabs.display = True
        self.query_one("#editor-empty", Static).display = False
        await tabs.add_pane(pane)
        tabs.get_tab(pane_id).tooltip = Text(safe_text(loaded.path))
        if activate:
            self._activate(buf)
        return buf

    def _make_editor(self, loaded: LoadedFile) -> CodeEditor:
        editor: CodeEditor
        if loaded.kind == "binary":
            from widgets.editor.hexview import HexView

            editor = HexView(loaded.raw)
        else:
            editor = CodeEditor(
                loaded.text,
                lexer=loaded.lexer,
                read_only=loaded.read_only,
                soft_wrap=self._soft_wrap and loaded.kind != "long",
                indent_type=loaded.indent_type,
                indent_width=loaded.indent_width,
            )
        editor.shown_name = safe_text(loaded.path)  # ctrl+z on a read-only view names the file, as ctrl+s does
        return editor

    async def _replace_view(self, buf: Buffer, loaded: LoadedFile) -> None:
        """Show new contents for an open buffer (a reload). Text → text keeps the editor (and its undo
        history: the reload is one undoable edit of just the lines that differ); anything else rebuilds it."""
        if not buf.read_only and not loaded.read_only:
            editor = buf.editor
            apply_minimal_edit(editor, loaded.text)
            buf.loaded = loaded
            buf.mtime = loaded.mtime
            buf.saved_marker = undo_marker(editor)
            buf.changed_on_disk = False
            editor.history.checkpoint()
            self._mark_dirty(buf, False)
            return
        pane = self.query_one("#editor-tabs", TabbedContent).get_pane(buf.pane_id)
        await pane.remove_children()
        editor = self._make_editor(loaded)
        if loaded.notice:
            await pane.mount(Static(Text(loaded.notice), classes="editor-banner"))
        await pane.mount(editor)
        buf.editor = editor
        buf.loaded = loaded
        buf.mtime = loaded.mtime
        buf.saved_marker = undo_marker(editor)
        buf.changed_on_disk = False
        self._mark_dirty(buf, False)

    async def _reload(self, path: str, *, reload: bool = True) -> None:
        """Read `path` and post it as `Loaded` (`reload`: into its open tab); a refusal is reported."""
        try:
            loaded = await self._read(path)
        except SandbenchError as exc:
            report(self, exc)
            return
        self.post_message(self.Loaded(loaded, reload=reload))

    # -- tabs ---------------------------------------------------------------------------------------------
    @staticmethod
    def _label(path: str, dirty: bool, deleted: bool = False) -> Content:
        # the name as the explorer shows it: a newline or control character as a visible escape, never a cut
        name = safe_text(os.path.basename(path) or path)
        label = Content(f"{DIRTY} {name}" if dirty else name)
        return label.stylize("strike") if deleted else label

    def _relabel(self, buf: Buffer) -> None:
        with contextlib.suppress(Exception):  # the tab may be being removed
            tab = self.query_one("#editor-tabs", TabbedContent).get_tab(buf.pane_id)
            tab.label = self._label(buf.path, buf.dirty, buf.deleted)
            path = safe_text(buf.path)
            tab.tooltip = Text(f"{path} (deleted on disk)" if buf.deleted else path)

    def _active_buffer(self) -> Buffer | None:
        try:
            tabs = self.query_one("#editor-tabs", TabbedContent)
        except Exception:
            return None
        return self._by_pane.get(tabs.active)

    def _activate(self, buf: Buffer) -> None:
        tabs = self.query_one("#editor-tabs", TabbedContent)
        tabs.active = buf.pane_id
        buf.editor.focus()
        self._announce_active()

    def _announce_active(self) -> None:
        path = self.active_path
        if path != self._last_active:
            self._last_active = path
            self.post_message(self.ActiveFileChanged(path))

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        self._announce_active()

    def _mark_dirty(self, buf: Buffer, dirty: bool) -> None:
        if buf.dirty == dirty:
            return
        buf.dirty = dirty
        self._relabel(buf)

    @on(CodeEditor.Changed)
    def _editor_changed(self, event: CodeEditor.Changed) -> None:
        for buf in self._by_pane.values():
            if buf.editor is event.text_area:
                self._mark_dirty(buf, undo_marker(buf.editor) is not buf.saved_marker)
                break

    def on_descendant_focus(self) -> None:
        buf = self._active_buffer()
        if buf is not None and time.monotonic() - buf.last_stat > RESTAT_AFTER:
            buf.last_stat = time.monotonic()
            self._restat(buf.path)

    @work(group="editor-stat", exclusive=True, exit_on_error=False)
    async def _restat(self, path: str) -> None:
        await self.file_changed(path)

    async def _remove(self, buf: Buffer) -> None:
        tabs = self.query_one("#editor-tabs", TabbedContent)
        self._buffers.pop(buf.path, None)
        self._by_pane.pop(buf.pane_id, None)
        await tabs.remove_pane(buf.pane_id)
        if not self._buffers:
            tabs.display = False
            self.query_one("#editor-empty", Static).display = True
        else:
            active = self._active_buffer()
            if active is not None:
                active.editor.focus()
        self._announce_active()

    # -- saving -------------------------------------------------------------------------------------------
    async def save(self, path: str, *, force: bool = False) -> bool:
        """Save one buffer; True if it was written. Asks on a conflict (call from a worker: it may show a
        dialog)."""
        buf = self._buffers.get(path)
        if buf is None:
            return False
        if buf.read_only:
            tell(self, f"{path} is open read-only: not saved", severity="warning")
            self._save_errors[path] = "open read-only"
            return False
        editor = buf.editor
        if buf.loaded.final_newline:
            end_with_newline(editor)
        text = buf.loaded.newline.join(editor.document.lines)  # the file's own line endings, never converted
        marker = undo_marker(editor)
        editor.history.checkpoint()  # edits typed while saving start a new batch: the marker stays exact
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            report(self, InvalidInput(f"{path}: text cannot be encoded as UTF-8; not saved", title="Not saved"))
            self._save_errors[path] = "cannot be encoded as UTF-8"
            return False
        while True:
            try:
                entry = await self.service.write_file(
                    self.sandbox_id, path, data, expected_mtime=None if force else buf.mtime
                )
            except Conflict:
                choice = await self.app.push_screen_wait(
                    ChoiceDialog(
                        "File changed on disk",
                        f"{path} changed on disk since it was opened. Overwrite it with the editor's text, reload "
                        "it from disk (your edits stay undoable), or see the differences first?",
                        [("overwrite", "Overwrite"), ("reload", "Reload"), ("diff", "Diff")],
                    )
                )
                if choice == "overwrite":
                    force = True
                    continue
                if choice == "reload":
                    await self._reload(path)
                    return False
                if choice == "diff":
                    await self._show_diff(path, text)
                    continue
                self._save_errors[path] = "changed on disk"
                return False
            except SandbenchError as exc:
                report(self, exc)
                self._save_errors[path] = describe(exc)
                return False
            break
        self._save_errors.pop(path, None)
        buf.mtime = entry.mtime
        buf.saved_marker = marker
        buf.changed_on_disk = False
        if buf.deleted:  # saving recreated it
            buf.deleted = False
            self._relabel(buf)
        buf.last_stat = time.monotonic()
        self._mark_dirty(buf, undo_marker(editor) is not marker)
        self.post_message(self.Saved(path))
        return True

    async def _show_diff(self, path: str, text: str) -> None:
        try:
            disk = await self.service.read_file(self.sandbox_id, path)
            disk_text = disk.data.decode("utf-8", "replace")
        except FileNotFound:
            disk_text = ""
        except SandbenchError as exc:
            report(self, exc)
            return

        files = await asyncio.to_thread(disk_diff, path, disk_text, text)
        await self.app.push_screen_wait(DiskDiffScreen(f"{path}: disk → editor", files))

    @work(group="editor-save", exit_on_error=False)
    async def _save_worker(self, paths: list[str]) -> None:
        for path in paths:
            await self.save(path)

    def action_save(self) -> None:
        buf = self._active_buffer()
        if buf is not None:
            self._save_worker([buf.path])

    def action_save_all(self) -> None:
        dirty = [b.path for b in self._buffers.values() if b.dirty and not b.read_only]
        if dirty:
            self._save_worker(dirty)

    # -- closing ------------------------------------------------------------------------------------------
    def action_close_tab(self) -> None:
        buf = self._active_buffer()
        if buf is not None:
            self.close_file(buf.path)

    @work(group="editor-close", exit_on_error=False)
    async def close_file(self, path: str) -> None:
        """Close a tab; asks save / discard / cancel when it has unsaved changes."""
        buf = self._buffers.get(path)
        if buf is None:
            return
        if buf.dirty:
            from widgets.unsaved_dialog import UnsavedDialog

            async def save() -> list[str]:
                # from the dialog, which stays open (and says why) when the file could not be written
                return [] if await self.save(path) else [self.unsaved_reason(path)]

            choice = await self.app.push_screen_wait(
                UnsavedDialog("Close tab", f"{path} has unsaved changes.", [path], save=save, then="close the tab")
            )
            if choice not in ("saved", "discard"):
                return
            buf = self._buffers.get(path)  # the tab may have gone meanwhile (its file deleted)
            if buf is None:
                return
        await self._remove(buf)

    def unsaved_reason(self, path: str) -> str:
        """`path`, with why its last save failed when that is known: "notes.txt (permission denied)"."""
        why = self._save_errors.get(path)
        return f"{path} ({why})" if why else path

    # -- find / replace -----------------------------------------------------------------------------------
    def action_find(self) -> None:
        self._open_find(replace=False)

    def action_replace(self) -> None:
        self._open_find(replace=True)

    def _open_find(self, *, replace: bool) -> None:
        editor = self.active_editor
        if editor is None:
            return
        if replace and editor.read_only:
            replace = False
        self.query_one(FindBar).open(replace=replace, initial=editor.selected_text)

    def action_find_next(self) -> None:
        self.find(self.query_one(FindBar).query_text, forward=True)

    def action_find_prev(self) -> None:
        self.find(self.query_one(FindBar).query_text, forward=False)

    @on(FindBar.Find)
    def _find_requested(self, event: FindBar.Find) -> None:
        self.find(event.query, forward=event.forward)

    @on(FindBar.Closed)
    def _find_closed(self) -> None:
        editor = self.active_editor
        if editor is not None:
            editor.focus()

    def find(self, query: str, *, forward: bool = True) -> bool:
        """Select the next (previous) match of `query` after (before) the cursor, wrapping around. Smart
        case: a query with no capitals matches any case."""
        editor = self.active_editor
        bar = self.query_one(FindBar)
        if editor is None or not query or "\n" in query:
            return False
        row = select_match(editor, query, forward)
        bar.set_status("no match" if row is None else f"line {row + 1}")
        return row is not None

    @on(FindBar.Replace)
    def _replace_requested(self, event: FindBar.Replace) -> None:
        if event.all:
            self.replace_all(event.query, event.replacement)
        else:
            self.replace_next(event.query, event.replacement)

    def replace_next(self, query: str, replacement: str) -> bool:
        """Replace the selected match (if the selection is one) and select the next one."""
        editor = self.active_editor
        if editor is None or editor.read_only or not query:
            return False
        selected = editor.selected_text
        fold = query.islower()
        if selected and (selected.lower() == query.lower() if fold else selected == query):
            start, end = sorted(editor.selection)
            editor.replace(replacement, start, end)
        return self.find(query, forward=True)

    def replace_all(self, query: str, replacement: str) -> int:
        """Replace every match, as one undoable edit per changed line range. Returns the count."""
        editor = self.active_editor
        if editor is None or editor.read_only or not query or "\n" in query:
            return 0
        count = replace_matches(editor, query, replacement)
        self.query_one(FindBar).set_status(f"{count} replaced")
        return count

    # -- go to line, wrap, tab switching ------------------------------------------------------------------
    def action_goto_line(self) -> None:
        if self.active_editor is not None:
            self._goto_line_worker()

    @work(group="editor-dialog", exclusive=True, exit_on_error=False)
    async def _goto_line_worker(self) -> None:
        editor = self.active_editor
        if editor is None:
            return
        count = editor.document.line_count

        def validate(value: str) -> str | None:
            return None if _parse_line(value, count) is not None else f"a line number from 1 to {count}"

        answer = await self.app.push_screen_wait(
            InputDialog("Go to line", f"Line (1-{count}), or line:column", validate=validate)
        )
        if isinstance(answer, str) and (target := _parse_line(answer, count)) is not None:
            editor.go_to_line(*target)
            editor.focus()

    def action_toggle_wrap(self) -> None:
        buf = self._active_buffer()
        if buf is None:
            return
        if buf.loaded.kind == "long":
            tell(self, "This view is already folded", severity="information")
            return
        self._soft_wrap = not buf.editor.soft_wrap
        buf.editor.soft_wrap = self._soft_wrap

    def action_next_tab(self) -> None:
        self._cycle(1)

    def action_prev_tab(self) -> None:
        self._cycle(-1)

    def _cycle(self, step: int) -> None:
        panes = [b.pane_id for b in self._by_pane.values()]
        current = self._active_buffer()
        if not panes or current is None:
            return
        ordered = [p.id for p in self.query_one("#editor-tabs", TabbedContent).query(TabPane) if p.id in panes]
        index = ordered.index(current.pane_id) if current.pane_id in ordered else 0
        target = self._by_pane[str(ordered[(index + step) % len(ordered)])]
        self._activate(target)

    def hides_in_footer(self, action: str) -> bool:
        """Save is not offered on a read-only view (binary, too large, undecodable), yet ctrl+s there still says
        why nothing was saved (widgets/footer.py asks this)."""
        active = self._active_buffer()
        return action == "save" and active is not None and active.read_only

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needs_buffer = {
            "save",
            "close_tab",
            "find",
            "replace",
            "find_next",
            "find_prev",
            "goto_line",
            "toggle_wrap",
            "next_tab",
            "prev_tab",
        }
        if action in needs_buffer and not self._buffers:
            return None
        active = self._active_buffer()
        if action == "replace" and active is not None and active.read_only:
            return False  # a read-only view (binary, too large, undecodable): nothing to replace
        if action == "save_all" and not self.has_unsaved():
            return None
        return True


def _parse_line(value: str, count: int) -> tuple[int, int] | None:
    parts = value.strip().split(":")
    try:
        line = int(parts[0])
        column = int(parts[1]) if len(parts) > 1 and parts[1] else 1
    except ValueError:
        return None
    if len(parts) > 2 or not 1 <= line <= count or column < 1:
        return None
    return line, column
