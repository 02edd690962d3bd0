"""The file explorer pane (DESIGN §4): a lazy tree of a sandbox's workspace, with file operations, git markers,
live refresh and the fuzzy finder.

Why not Textual's `Tree`/`DirectoryTree`: they build one node object per entry and (DirectoryTree) `stat` every
entry, 1.29 s for a 10,000-entry folder. This widget keeps the listings the service returns (`FileEntry` already
knows its kind) and a flat list of visible rows, and draws through the line API only the rows on screen, so a
folder of any size costs one `list_dir` and one pass to flatten.

Flow (DESIGN §7): keys → actions → workers that call the service and post small messages → handlers that change
state. Workers never touch the tree's state; a failed worker goes to the app's one error route
(`ReportWorkerErrors`), which shows one line. Names are sandbox data: rendered literally with non-printable
characters escaped (`explorer_text`).

Split by job: the flat row model and git marks are explorer_rows.py (pure), the file operations and their dialogs
explorer_ops.py (`ExplorerFileOps`); this module keeps the state, the listing workers, drawing and navigation.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping

from rich.segment import Segment
from rich.style import Style
from textual import events, on
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.strip import Strip

from services import paths
from services.errors import FileNotFound
from services.models import FileEntry
from services.sandbox_service import SandboxService
from services.watch import ChangeBatch, WatchHub
from widgets.cursor_list import CursorList
from widgets.explorer_ops import ExplorerFileOps
from widgets.explorer_rows import GIT_CLASSES, Row, flatten, folder_marks, ignored_under
from widgets.explorer_text import name_runs
from widgets.fuzzy_finder import FuzzyFinder
from widgets.keys import Key, bindings
from widgets.messages import tell


def _fit(segments: list[Segment], width: int, style: Style, end_style: Style) -> Strip:
    """The row cut to `width`, ending in `…` when the name did not fit (a cut name must not pass for a whole one)."""
    strip = Strip(segments)
    if strip.cell_length <= width or width < 2:
        return strip.crop_extend(0, width, style)
    return Strip.join([strip.crop(0, width - 1), Strip([Segment("…", end_style)])])


class Explorer(ExplorerFileOps, CursorList, can_focus=True):  # ExplorerFileOps brings ReportWorkerErrors
    """A lazy tree of one sandbox's workspace. Posts `Explorer.FileOpenRequested` when a file is opened."""

    DEFAULT_CSS = """
    Explorer {
        height: 1fr;
        overflow-x: hidden;
        background: $surface;
    }
    Explorer > .explorer--cursor { background: $block-cursor-blurred-background; }
    Explorer:focus > .explorer--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: bold;
    }
    Explorer > .explorer--dir { color: $text-primary; text-style: bold; }
    Explorer > .explorer--symlink { color: $text-accent; text-style: italic; }
    Explorer > .explorer--escape { color: $text-warning; text-style: reverse; }
    Explorer > .explorer--dim { color: $text-muted; }
    Explorer > .explorer--git-modified { color: $text-warning; }
    Explorer > .explorer--git-added { color: $text-success; }
    Explorer > .explorer--git-untracked { color: $text-success; text-style: italic; }
    Explorer > .explorer--git-deleted { color: $text-error; }
    Explorer > .explorer--git-renamed { color: $text-accent; }
    Explorer > .explorer--git-conflict { color: $text-error; text-style: bold; }
    Explorer > .explorer--git-ignored { color: $text-muted; }
    """

    COMPONENT_CLASSES = {
        "explorer--cursor",
        "explorer--dir",
        "explorer--symlink",
        "explorer--escape",
        "explorer--dim",
        *GIT_CLASSES.values(),
    }

    BINDINGS = bindings(
        (
            Key("explorer.open", "enter", "open", "Open", "Open the file, or expand/collapse the folder"),
            Key("explorer.new_file", "n", "new_file", "New file", "Create a file in the current folder"),
            Key("explorer.new_folder", "N,shift+n", "new_folder", "New folder", "Create a folder here"),
            Key("explorer.rename", "r,f2", "rename", "Rename", "Rename the selected file or folder"),
            Key("explorer.move", "m", "move", "Move", "Move the selection to another path"),
            Key("explorer.delete", "d,delete", "delete", "Delete", "Delete the selection (asks first)"),
            Key("explorer.copy_path", "y", "copy_path", "Copy path", "Copy the selection's path"),
            Key("explorer.refresh", "ctrl+r,R", "refresh", "Refresh", "Re-list the open folders"),
            Key("explorer.toggle_hidden", "full_stop,h", "toggle_hidden", "Hidden", "Show or hide dot-files"),
            Key("explorer.cursor_up", "up", "cursor_up", "Up", show=False, palette=False, help=False),
            Key("explorer.cursor_down", "down", "cursor_down", "Down", show=False, palette=False, help=False),
            Key("explorer.page_up", "pageup", "page_up", "Page up", show=False, palette=False, help=False),
            Key("explorer.page_down", "pagedown", "page_down", "Page down", show=False, palette=False, help=False),
            Key("explorer.first", "home", "first", "First", show=False, palette=False, help=False),
            Key("explorer.last", "end", "last", "Last", show=False, palette=False, help=False),
            Key("explorer.collapse", "left", "collapse", "Collapse", "Collapse, or go up", show=False, palette=False),
            Key("explorer.expand", "right", "expand", "Expand", "Expand, or go in", show=False, palette=False),
            Key("explorer.toggle", "space", "toggle_folder", "Toggle", "Expand or collapse", show=False, palette=False),
        )
    )

    class FileOpenRequested(Message):
        """The user asked to open a file (enter, double click, or the fuzzy finder). `path` is workspace-relative."""

        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

    # -- internal messages: workers report, handlers change state ------------------------------------------
    class _Listed(Message, bubble=False):
        def __init__(self, path: str, entries: list[FileEntry] | None, *, from_watch: bool = False) -> None:
            super().__init__()
            self.path = path
            self.entries = entries  # None: the folder is gone
            self.from_watch = from_watch

    class _ListFailed(Message, bubble=False):
        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

    class _Changed(Message, bubble=False):
        def __init__(self, dirs: set[str]) -> None:
            super().__init__()
            self.dirs = dirs

    class _Done(Message, bubble=False):
        """A file operation finished: re-list these folders; put the cursor on `reveal` once it shows."""

        def __init__(self, relist: Iterable[str], reveal: str | None = None) -> None:
            super().__init__()
            self.relist = list(dict.fromkeys(relist))
            self.reveal = reveal

    show_hidden: var[bool] = var(False)

    def __init__(
        self,
        service: SandboxService,
        sandbox_id: str,
        *,
        id: str | None = "explorer",
        classes: str | None = None,
        watch: bool | WatchHub = True,
        show_git: bool = False,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.service = service
        self.sandbox_id = sandbox_id
        # follow the workspace's changes: through the workspace's shared watcher when it hands one over (one
        # watcher per workspace), else through one of its own
        self.watch_enabled = bool(watch)
        self._hub = watch if isinstance(watch, WatchHub) else None
        self._unwatch: Callable[[], None] | None = None
        self.show_git = show_git  # `.git` stays hidden even when dot-files are shown, unless asked for
        self._listings: dict[str, list[FileEntry]] = {}
        self._expanded: set[str] = {""}
        self._loading: set[str] = set()
        self._rows: list[Row] = []
        self._index: dict[str, int] | None = None
        self._pending_reveal: str | None = None
        self._git: dict[str, str] = {}
        self._git_dirs: dict[str, str] = {}
        self._ignored: frozenset[str] = frozenset()
        self.cursor = 0
        # Counters the tests and benchmarks read: listings applied (any cause), listings caused by the watcher,
        # change batches received.
        self.listings_applied = 0
        self.watch_refreshes = 0
        self.watch_batches = 0

    # -- public API -----------------------------------------------------------------------------------------
    @property
    def rows(self) -> list[Row]:
        """The visible rows, top to bottom."""
        return self._rows

    @property
    def expanded(self) -> frozenset[str]:
        return frozenset(self._expanded)

    @property
    def cursor_entry(self) -> FileEntry | None:
        if 0 <= self.cursor < len(self._rows):
            return self._rows[self.cursor].entry
        return None

    @property
    def is_loading(self) -> bool:
        return bool(self._loading)

    def set_git_status(self, mapping: Mapping[str, str], *, ignored: Collection[str] = ()) -> None:
        """Colour names by git status. `mapping`: workspace-relative path → one-letter code (M, A, D, ?, U, R, ...).
        Folders holding changed paths are marked with the most urgent code beneath them. `ignored`: paths git
        ignores, shown muted, and beneath an ignored folder everything (git names `node_modules/` once, never its
        files); an ignored path does not mark the folders above it (they hold it, they are not ignored)."""
        self._git = {p: (c[:1] or "M") for p, c in mapping.items()}
        self._git_dirs = folder_marks(self._git)
        self._ignored = frozenset(ignored)
        self.refresh()

    def is_ignored(self, path: str) -> bool:
        """Whether git ignores `path`: it or a folder above it was reported ignored."""
        return ignored_under(path, self._ignored)

    def reveal(self, path: str) -> None:
        """Expand the folders above `path` (listing them as needed) and put the cursor on it."""
        self._pending_reveal = path
        parent = paths.parent(path)
        chain = []
        while parent:
            chain.append(parent)
            parent = paths.parent(parent)
        for folder in reversed(chain):
            self._expanded.add(folder)
            if folder not in self._listings:
                self._list(folder)
        self._rebuild()

    def reload(self) -> None:
        """Re-list every expanded folder."""
        for folder in sorted(self._expanded):
            if folder == "" or folder in self._listings:
                self._list(folder)

    def _operation_done(self, relist: list[str], reveal: str | None = None) -> None:
        self.post_message(self._Done(relist, reveal=reveal))

    def _open_file(self, path: str) -> None:
        self.post_message(self.FileOpenRequested(path))

    # -- lifecycle ------------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._list("")
        if self.watch_enabled:
            hub = self._hub or WatchHub(self.service, self.sandbox_id)
            self._unwatch = hub.subscribe(self._on_batch, dirs=lambda: list(self._expanded))
            if self._hub is None:
                self.run_worker(hub.run(), group="explorer-watch", exit_on_error=False, name="watch")

    def on_unmount(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def _on_batch(self, batch: ChangeBatch) -> None:
        # content-only changes (a log file growing) would re-list for nothing: only membership changes count
        if batch.dirs:
            self.post_message(self._Changed(set(batch.dirs)))

    # -- listing --------------------------------------------------------------------------------------------
    def _list(self, path: str, *, from_watch: bool = False) -> None:
        self._loading.add(path)

        async def work() -> None:  # a factory, not a coroutine object: an exclusive worker superseded before it
            await self._list_worker(path, from_watch)  # starts must not leave an un-awaited coroutine behind

        self.run_worker(
            work,  # type: ignore[arg-type]  # Textual types async factories as Coroutine[None, None, T]
            group=f"explorer-list:{path}",
            exclusive=True,  # a newer listing of the same folder supersedes an older one
            exit_on_error=False,
            name=f"list {path!r}",
        )

    async def _list_worker(self, path: str, from_watch: bool) -> None:
        try:
            entries: list[FileEntry] | None = await self.service.list_dir(self.sandbox_id, path, details=False)
        except FileNotFound:
            entries = None
        except BaseException:
            self.post_message(self._ListFailed(path))
            raise
        self.post_message(self._Listed(path, entries, from_watch=from_watch))

    @on(_Listed)
    def _on_listed(self, message: _Listed) -> None:
        path = message.path
        self._loading.discard(path)
        self.listings_applied += 1
        if message.from_watch:
            self.watch_refreshes += 1
        if message.entries is None:
            self._forget(path)
            if path == "":
                self._listings[""] = []
        else:
            old = self._listings.get(path)
            self._listings[path] = message.entries
            if old:
                # folders that vanished from this listing take their cached subtrees with them
                now = {e.path for e in message.entries if e.kind == "dir"}
                for e in old:
                    if e.kind == "dir" and e.path not in now:
                        self._forget(e.path)
        self._rebuild()

    @on(_ListFailed)
    def _on_list_failed(self, message: _ListFailed) -> None:
        self._loading.discard(message.path)
        self.refresh()

    def _forget(self, path: str) -> None:
        prefix = path + "/"
        for key in [k for k in self._listings if k == path or k.startswith(prefix)]:
            del self._listings[key]
        self._expanded -= {k for k in self._expanded if k == path or k.startswith(prefix)}
        self._expanded.add("")

    @on(_Changed)
    def _on_changed(self, message: _Changed) -> None:
        self.watch_batches += 1
        for folder in sorted(message.dirs):
            if folder in self._expanded and (folder == "" or self._is_listed_chain(folder)):
                self._list(folder, from_watch=True)
            elif folder in self._listings:
                del self._listings[folder]  # collapsed: list afresh when it is next opened

    def _is_listed_chain(self, folder: str) -> bool:
        return paths.parent(folder) in self._listings

    @on(_Done)
    def _on_done(self, message: _Done) -> None:
        if message.reveal is not None:
            self.reveal(message.reveal)
        for folder in message.relist:
            if folder == "" or folder in self._listings or folder in self._expanded:
                self._list(folder)

    # -- the flat row model ---------------------------------------------------------------------------------
    def _visible(self, entry: FileEntry) -> bool:
        name = entry.name
        if not name.startswith("."):
            return True
        if name == ".git":
            return self.show_hidden and self.show_git
        return self.show_hidden

    def _rebuild(self) -> None:
        before = self.cursor_entry
        rows = flatten(self._listings, self._expanded, self._visible)
        self._rows = rows
        self._index = None
        self.virtual_size = Size(0, len(rows))
        target = self._pending_reveal
        if target is not None and self._find(target) is not None:
            self._pending_reveal = None
            self.move_cursor(self._find(target) or 0)
        elif before is not None:
            idx = self._find(before.path)
            if idx is None:
                idx = self._find(paths.parent(before.path))  # it went away: stay near it
            self.move_cursor(self.cursor if idx is None else idx)
        else:
            self.move_cursor(self.cursor)
        self.refresh()

    def _find(self, path: str) -> int | None:
        if self._index is None:
            self._index = {row.entry.path: i for i, row in enumerate(self._rows)}
        return self._index.get(path)

    def row_count(self) -> int:
        return len(self._rows)

    def watch_show_hidden(self) -> None:
        self._rebuild()

    # -- drawing --------------------------------------------------------------------------------------------
    def _untracked_above(self, path: str) -> str | None:
        """ "?" for an entry inside an untracked folder: git names the folder once (`newdir/`), not what is in it."""
        parent = path.rpartition("/")[0]
        while parent:
            if self._git.get(parent) == "?":
                return "?"
            parent = parent.rpartition("/")[0]
        return None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = int(self.scroll_y) + y
        if index >= len(self._rows):
            if index == 0:
                dim = base + self.get_component_rich_style("explorer--dim")
                text = " loading…" if "" in self._loading else " (empty)"
                return Strip([Segment(text, dim)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        row = self._rows[index]
        entry = row.entry
        style = base
        is_cursor = index == self.cursor
        if is_cursor:
            style = style + self.get_component_rich_style("explorer--cursor")
        segments = [Segment("  " * row.depth, style)]
        is_dir = entry.kind == "dir"
        code = (self._git_dirs.get(entry.path) or self._git.get(entry.path)) if is_dir else self._git.get(entry.path)
        if code is None:
            code = self._untracked_above(entry.path)
        if code is None and self._ignored and ignored_under(entry.path, self._ignored):
            code = "!"  # muted, without a marker: ignored is not a change (VS Code shows it so)
        if is_dir:
            icon = "▾ " if entry.path in self._expanded else "▸ "
            name_style = style + self.get_component_rich_style("explorer--dir")
        elif entry.kind == "symlink":
            icon = "↪ "
            name_style = style + self.get_component_rich_style("explorer--symlink")
        else:
            icon = "  "
            name_style = style
        if code is not None and code in GIT_CLASSES:
            name_style = name_style + self.get_component_rich_style(GIT_CLASSES[code])
        if is_cursor:
            name_style = name_style + self.get_component_rich_style("explorer--cursor")
        segments.append(Segment(icon, style))
        escape_style = name_style + self.get_component_rich_style("explorer--escape")
        for text, is_escape in name_runs(entry.name):
            segments.append(Segment(text, escape_style if is_escape else name_style))
        if is_dir and entry.path in self._loading:
            segments.append(Segment(" …", style + self.get_component_rich_style("explorer--dim")))
        if code is None or code == "!":
            return _fit(segments, width, style, name_style)
        marker = f" {'•' if is_dir else code} "
        main = _fit(segments, max(0, width - len(marker)), style, name_style)
        return Strip.join([main, Strip([Segment(marker, name_style)])])

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()

    # -- mouse ----------------------------------------------------------------------------------------------
    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_y) + event.y
        if not 0 <= index < len(self._rows):
            return
        self.move_cursor(index)
        if self._rows[index].entry.kind == "dir":
            self.action_toggle_folder()
        elif event.chain >= 2:
            self.action_open()

    # -- navigation (the moves themselves are CursorList's) ----------------------------------------------------
    def _set_expanded(self, path: str, expand: bool) -> None:
        if expand:
            self._expanded.add(path)
            self._list(path)  # cached or not: list afresh (polling sees only expanded folders)
        else:
            self._expanded.discard(path)
        self._rebuild()

    def action_toggle_folder(self) -> None:
        entry = self.cursor_entry
        if entry is not None and entry.kind == "dir":
            self._set_expanded(entry.path, entry.path not in self._expanded)

    def action_expand(self) -> None:
        entry = self.cursor_entry
        if entry is None or entry.kind != "dir":
            return
        if entry.path not in self._expanded:
            self._set_expanded(entry.path, True)
        elif self.cursor + 1 < len(self._rows) and self._rows[self.cursor + 1].depth > self._rows[self.cursor].depth:
            self.move_cursor(self.cursor + 1)

    def action_collapse(self) -> None:
        entry = self.cursor_entry
        if entry is None:
            return
        if entry.kind == "dir" and entry.path in self._expanded:
            self._set_expanded(entry.path, False)
            return
        parent = paths.parent(entry.path)
        if parent:
            idx = self._find(parent)
            if idx is not None:
                self.move_cursor(idx)

    def action_open(self) -> None:
        entry = self.cursor_entry
        if entry is None:
            return
        if entry.kind == "dir":
            self.action_toggle_folder()
        else:
            self.post_message(self.FileOpenRequested(entry.path))

    def action_refresh(self) -> None:
        self.reload()

    def action_toggle_hidden(self) -> None:
        self.show_hidden = not self.show_hidden
        tell(self, "Showing hidden files" if self.show_hidden else "Hiding hidden files", timeout=1.5)

    def action_find(self) -> None:
        self.app.push_screen(FuzzyFinder(self.service, self.sandbox_id), self._found)

    def _found(self, path: str | None) -> None:
        if path:
            self.reveal(path)
            self.post_message(self.FileOpenRequested(path))
