"""The search-in-files view: query fields, option toggles, and the streamed results grouped by file.

`SearchView` owns the fields (search, replace, files to include and exclude), the toggles (case, whole word,
regex) and one search at a time: a new query cancels the running one (its worker is exclusive, and cancelling it
kills grep in the sandbox: `services.search`). Typing searches after a short pause; enter searches at once.
Results arrive in batches (`SearchView.Batch` messages from the worker) and are appended to `SearchResults`, a
line-API list that only renders the rows on screen, so 10,000 matches cost what one screenful costs.

Everything shown from the sandbox (paths, line text) is data: drawn as `rich.text.Text`/segments, never markup,
with control characters shown as visible escapes. Enter on a match posts `SearchResults.OpenMatch`; the screen
that hosts the view opens the editor there. Replace runs file by file with a preview of each file's diff
(`ReplacePreview`), writes through the service's atomic write and refuses a file changed since the search, or one
with unsaved edits in the editor (refused, not merged: the user saves or discards first, then searches again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Input, Static

from services.errors import Conflict, InvalidInput, SandbenchError
from services.sandbox_service import SandboxService
from services.search import (
    FileReplacement,
    Limits,
    Match,
    SearchQuery,
    SearchSummary,
    apply_replacement,
    plan_replacement,
    search_files,
    validate,
)
from widgets.explorer_text import escape_char, name_runs, plain_name
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors, tell
from widgets.row_scroll import scroll_row_into_view

DEBOUNCE = 0.25  # seconds after the last keystroke before a search starts
LINE_NO_WIDTH = 5


def line_text(text: str, spans: Sequence[tuple[int, int]], match: Style, escape: Style, start: int = 0) -> Text:
    """`text[start:]` as a literal `Text`: spans (offsets into `text`) highlighted, tabs as one space, every other
    non-printable character as a visible escape (offsets mapped so the highlight stays on the match)."""
    out = Text(no_wrap=True, end="")
    offsets: list[int] = []
    pos = 0
    for ch in text[start:]:
        offsets.append(pos)
        if ch == "\t":
            out.append(" ")
            pos += 1
        elif ch.isprintable():
            out.append(ch)
            pos += 1
        else:
            esc = escape_char(ch)
            out.append(esc, escape)
            pos += len(esc)
    offsets.append(pos)
    for a, b in spans:
        a, b = max(a - start, 0), max(b - start, 0)
        if b > a and a < len(offsets):
            out.stylize(match, offsets[a], offsets[min(b, len(offsets) - 1)])
    return out


@dataclass
class FileGroup:
    path: str
    matches: list[Match] = field(default_factory=list)
    collapsed: bool = False


FLUSH_EVERY = 0.05  # seconds between additions to the results list while a search streams in


class SearchResults(ScrollView, can_focus=True):
    """Matches grouped by file: a header row per file (fold with left/right), a row per matching line."""

    DEFAULT_CSS = """
    /* the scrollbar always shown: its appearing with the first screenful would lay the whole screen out again */
    SearchResults { height: 1fr; overflow-x: hidden; overflow-y: scroll; background: $surface; }
    SearchResults > .search-results--cursor { background: $block-cursor-blurred-background; }
    SearchResults:focus > .search-results--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
    }
    SearchResults > .search-results--path { color: $text-primary; text-style: bold; }
    SearchResults > .search-results--dim { color: $text-muted; }
    SearchResults > .search-results--match { background: $warning 40%; text-style: bold; }
    SearchResults > .search-results--escape { color: $text-warning; text-style: reverse; }
    """

    COMPONENT_CLASSES = {
        "search-results--cursor",
        "search-results--path",
        "search-results--dim",
        "search-results--match",
        "search-results--escape",
    }

    BINDINGS = bindings(
        (
            Key("search.open", "enter", "open", "Open", "Open the file in the editor at this match"),
            Key("search.fold", "left", "fold(True)", "Fold", "Fold this file's matches", show=False),
            Key("search.unfold", "right", "fold(False)", "Unfold", "Show this file's matches", show=False),
            Key("search.down", "down", "move(1)", "Down", show=False),
            Key("search.up", "up", "move(-1)", "Up", show=False),
            Key("search.page_down", "pagedown", "page(1)", "Page down", show=False),
            Key("search.page_up", "pageup", "page(-1)", "Page up", show=False),
            Key("search.first", "home", "edge(0)", "First", show=False),
            Key("search.last", "end", "edge(1)", "Last", show=False),
        )
    )

    class OpenMatch(Message):
        def __init__(self, match: Match) -> None:
            super().__init__()
            self.match = match

    class AtTop(Message):
        """Up on the first row: the view gives the keyboard back to the search field."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.groups: list[FileGroup] = []
        self._index: dict[str, int] = {}
        self._rows: list[tuple[int, int]] = []  # (group, match) with match -1 for the file's header
        self.cursor = 0
        self.more_text = ""  # the "N more not shown" row, when there is one

    # -- content --------------------------------------------------------------------------------------------
    @property
    def match_count(self) -> int:
        return sum(len(g.matches) for g in self.groups)

    def clear(self) -> None:
        self.groups, self._index, self._rows, self.cursor, self.more_text = [], {}, [], 0, ""
        self.scroll_to(y=0, animate=False, immediate=True)
        self._resize()

    def add(self, matches: Sequence[Match]) -> None:
        """Append a batch. grep reports a file's lines together, so a match almost always extends the last group
        (rows appended); one for an earlier file (never seen so far) rebuilds the rows."""
        rebuild = False
        first_new = len(self._rows)
        for m in matches:
            gi = self._index.get(m.path)
            if gi is None:
                gi = len(self.groups)
                self._index[m.path] = gi
                self.groups.append(FileGroup(m.path))
                self._rows.append((gi, -1))
            elif gi != len(self.groups) - 1:
                rebuild = True
            group = self.groups[gi]
            group.matches.append(m)
            if not rebuild and not group.collapsed:
                self._rows.append((gi, len(group.matches) - 1))
        if rebuild:
            self._rebuild()
        self._resize(appended_from=None if rebuild else first_new)

    def remove_file(self, path: str) -> None:
        gi = self._index.get(path)
        if gi is None:
            return
        del self.groups[gi]
        self._index = {g.path: i for i, g in enumerate(self.groups)}
        self._rebuild()
        self._resize()

    def _rebuild(self) -> None:
        rows: list[tuple[int, int]] = []
        for gi, group in enumerate(self.groups):
            rows.append((gi, -1))
            if not group.collapsed:
                rows.extend((gi, mi) for mi in range(len(group.matches)))
        self._rows = rows

    def _resize(self, *, appended_from: int | None = None) -> None:
        """After rows changed: the scrollable height, the cursor kept in range, and a repaint — only when the rows
        from `appended_from` on are on screen (a batch landing below the view changes the scrollbar alone)."""
        size = Size(0, len(self._rows) + (1 if self.more_text else 0))
        self.cursor = max(0, min(self.cursor, len(self._rows) - 1))
        if size != self.virtual_size:
            # `virtual_size` is a layout reactive: set plainly, every batch laid out the whole screen (in the
            # workspace, most of a search's time). This list's own size never depends on it (1fr), so set it
            # quietly and update the scrollbars, as Textual does for a resize without layout.
            self.set_reactive(ScrollView.virtual_size, size)
            self._scroll_update(size)
        if appended_from is None or appended_from < self.scroll_offset.y + self.size.height:
            self.refresh()

    def set_more(self, text: str) -> None:
        if text != self.more_text:
            self.more_text = text
            self._resize()

    @property
    def current(self) -> tuple[FileGroup, Match | None] | None:
        if not self._rows:
            return None
        gi, mi = self._rows[self.cursor]
        group = self.groups[gi]
        return group, (group.matches[mi] if mi >= 0 else None)

    # -- keys -----------------------------------------------------------------------------------------------
    def _move_to(self, index: int) -> None:
        self.cursor = max(0, min(index, len(self._rows) - 1))
        scroll_row_into_view(self, self.cursor)
        self.refresh()

    def action_move(self, step: int) -> None:
        if step < 0 and self.cursor == 0:
            self.post_message(self.AtTop())
            return
        self._move_to(self.cursor + step)

    def action_page(self, step: int) -> None:
        self._move_to(self.cursor + step * max(1, self.size.height - 1))

    def action_edge(self, end: int) -> None:
        self._move_to(len(self._rows) - 1 if end else 0)

    def action_fold(self, fold: bool) -> None:
        current = self.current
        if current is None:
            return
        group, _ = current
        if group.collapsed != fold:
            group.collapsed = fold
            gi = self._index[group.path]
            self._rebuild()
            self.cursor = self._rows.index((gi, -1))
            self._resize()
            self._move_to(self.cursor)

    def action_open(self) -> None:
        current = self.current
        if current is None:
            return
        group, match = current
        if match is None:
            if group.collapsed:
                self.action_fold(False)
                return
            match = group.matches[0]
        self.post_message(self.OpenMatch(match))

    # -- drawing --------------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = int(self.scroll_y) + y
        dim = base + self.get_component_rich_style("search-results--dim")
        if index >= len(self._rows):
            if index == len(self._rows) and self.more_text:
                return Strip([Segment(" " + self.more_text, dim)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        gi, mi = self._rows[index]
        group = self.groups[gi]
        cursor = index == self.cursor
        style = base + self.get_component_rich_style("search-results--cursor") if cursor else base
        if cursor:
            dim = dim + self.get_component_rich_style("search-results--cursor")
        escape = style + self.get_component_rich_style("search-results--escape")
        if mi < 0:
            path_style = style + self.get_component_rich_style("search-results--path")
            folder, _, name = group.path.rpartition("/")
            segments = [Segment("▸ " if group.collapsed else "▾ ", style)]
            for text, is_escape in name_runs(name):
                segments.append(Segment(text, escape if is_escape else path_style))
            if folder:
                segments.append(Segment("  ", style))
                for text, is_escape in name_runs(folder):
                    segments.append(Segment(text, escape if is_escape else dim))
            segments.append(Segment(f"  ({len(group.matches)})", dim))
            return Strip(segments).crop_extend(0, width, style)
        match = group.matches[mi]
        number = f"{match.line:>{LINE_NO_WIDTH}}  "
        room = max(1, width - len(number) - 2)
        # a match far to the right of a long line: start the text a little before it, marked with an ellipsis
        start = 0
        if match.spans and match.spans[0][1] > room:
            start = max(0, match.spans[0][0] - room // 3)
        highlight = style + self.get_component_rich_style("search-results--match")
        body = line_text(match.text, match.spans, highlight, escape, start)
        segments = [Segment("  ", style), Segment(number, dim)]
        if start:
            segments.append(Segment("…", dim))
        segments.extend(body.render(self.app.console))
        strip = Strip(segments).crop_extend(0, width, style)
        return strip.apply_style(style)  # the row's base (cursor) under the line's own styles

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()


class ReplacePreview(ModalScreen[str]):
    """One file's replacement as a diff; dismisses with "replace", "skip", "all" (this and the rest) or "cancel"."""

    DEFAULT_CSS = """
    ReplacePreview { align: center middle; background: $background 60%; }
    ReplacePreview > Vertical {
        width: 100; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ReplacePreview #replace-title { text-style: bold; height: auto; }
    ReplacePreview VerticalScroll { height: auto; max-height: 30; }
    ReplacePreview #replace-keys { color: $text-muted; height: 1; }
    """

    BINDINGS = bindings(
        (
            Key("replace.yes", "y,enter", "choose('replace')", "Replace", "Replace in this file"),
            Key("replace.skip", "n", "choose('skip')", "Skip", "Leave this file as it is"),
            Key("replace.all", "a", "choose('all')", "All", "Replace in this file and all the rest"),
            Key("replace.cancel", "escape", "choose('cancel')", "Cancel", "Stop replacing"),
        )
    )

    def __init__(self, plan: FileReplacement, number: int, total: int) -> None:
        super().__init__()
        self.plan = plan
        self.number = number
        self.total = total

    def compose(self) -> ComposeResult:
        title = Text(f"Replace in file {self.number} of {self.total}: ", end="")
        title.append(plain_name(self.plan.path), "bold")
        title.append(f"  ({self.plan.count} {'replacement' if self.plan.count == 1 else 'replacements'})")
        diff = Text(end="")
        for line in self.plan.diff[2:]:  # the ---/+++ header names the file, which the title already does
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan"
            diff.append(plain_name(line) if line[:1] in "+- " else line, style if line[:1] != " " else "")
            diff.append("\n")
        with Vertical():
            yield Static(title, id="replace-title")
            with VerticalScroll():
                yield Static(diff, id="replace-diff")
            yield Static(Text("y/enter replace · n skip · a this and all the rest · esc stop"), id="replace-keys")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class SearchView(ReportWorkerErrors, Vertical):
    """The fields, the toggles, the status line and the results; runs the search and the replace."""

    DEFAULT_CSS = """
    SearchView { height: 1fr; }
    SearchView .search-row { height: 1; }
    SearchView .search-row > .search-label { width: 10; color: $text-muted; }
    SearchView Input { border: none; height: 1; padding: 0 1; width: 1fr; }
    /* Textual's Input:focus draws a tall border: in one row only its top edge would show, hiding the text */
    SearchView Input:focus { border: none; background: $boost; }
    SearchView #search-include, SearchView #search-exclude { width: 1fr; }
    SearchView #search-options { height: 1; color: $text-muted; }
    SearchView #search-status { height: 1; width: 1fr; color: $text-muted; border-top: none; }
    """

    BINDINGS = bindings((Key("search.to_results", "down", "focus_results", "Results", show=False),))

    class Batch(Message):
        def __init__(self, generation: int, matches: list[Match], summary: SearchSummary) -> None:
            super().__init__()
            self.generation = generation
            self.matches = matches
            self.summary = summary

    class Finished(Message):
        def __init__(self, generation: int, summary: SearchSummary) -> None:
            super().__init__()
            self.generation = generation
            self.summary = summary

    class FileReplaced(Message):
        """A file was rewritten by a replace: the host reloads an editor tab showing it."""

        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

    def __init__(
        self,
        service: SandboxService,
        sandbox_id: str,
        *,
        unsaved: Callable[[], Sequence[str]] = lambda: (),
        limits: Limits | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.service = service
        self.sandbox_id = sandbox_id
        self.unsaved = unsaved
        self.limits = limits or Limits()
        self.case_sensitive = False
        self.whole_word = False
        self.regex = False
        self.summary = SearchSummary(done=True)
        self.searched: SearchQuery | None = None  # the query the results are for
        self.generation = 0
        self.searching = False
        self._debounce: Timer | None = None
        # batches arriving faster than FLUSH_EVERY are added to the list together: one repaint, not one a batch
        self._pending: list[Match] = []
        self._pending_summary: SearchSummary | None = None
        self._flush_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="search-row"):
            yield Static("Search", classes="search-label")
            yield Input(placeholder="text to find (enter: search now)", id="search-pattern")
        with Horizontal(classes="search-row"):
            yield Static("Replace", classes="search-label")
            yield Input(placeholder="replacement (regex: $1, $&)  ctrl+r: replace…", id="search-replace")
        with Horizontal(classes="search-row"):
            yield Static("Include", classes="search-label")
            yield Input(placeholder="e.g. *.py, src/**", id="search-include")
            yield Static(" Exclude ", classes="search-label")
            yield Input(placeholder="e.g. node_modules, *.min.js", id="search-exclude")
        yield Static(self._options_text(), id="search-options")
        yield Static(Text("type to search every file of the sandbox"), id="search-status")
        yield SearchResults(id="search-results")

    def on_mount(self) -> None:
        self.query_one("#search-pattern", Input).focus()

    @property
    def results(self) -> SearchResults:
        return self.query_one(SearchResults)

    # -- options --------------------------------------------------------------------------------------------
    def _options_text(self) -> Text:
        out = Text(end="")
        for label, on_, key in (
            ("Aa match case", self.case_sensitive, "F2"),
            ("ab whole word", self.whole_word, "F3"),
            (".* regex", self.regex, "F4"),
        ):
            out.append(f" [{'x' if on_ else ' '}] {label} ", "bold reverse" if on_ else "")
            out.append(f"{key}  ", "dim")
        return out

    def toggle(self, option: str) -> None:
        setattr(self, option, not getattr(self, option))
        self.query_one("#search-options", Static).update(self._options_text())
        if self.query_one("#search-pattern", Input).value:
            self.search_now()

    def query_value(self) -> SearchQuery:
        return SearchQuery(
            self.query_one("#search-pattern", Input).value,
            regex=self.regex,
            case_sensitive=self.case_sensitive,
            whole_word=self.whole_word,
            include=self.query_one("#search-include", Input).value,
            exclude=self.query_one("#search-exclude", Input).value,
        )

    # -- searching ------------------------------------------------------------------------------------------
    @on(Input.Changed, "#search-pattern, #search-include, #search-exclude")
    def _changed(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self.search_now)

    @on(Input.Submitted, "#search-pattern, #search-include, #search-exclude")
    def _submitted(self) -> None:
        self.search_now()

    @on(Input.Submitted, "#search-replace")
    def _replace_submitted(self) -> None:
        self.replace_all()

    def _status(self, text: str) -> None:
        # one row of fixed size: no layout (a layout runs over the workspace under this screen, once per batch)
        self.query_one("#search-status", Static).update(Text(text), layout=False)

    def search_now(self) -> None:
        """Start the search for the fields' current query, cancelling (killing) one in flight."""
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        query = self.query_value()
        if query == self.searched and (self.searching or self.summary.done) and not self.summary.error:
            return  # nothing changed since: the results on screen are this query's
        self.generation += 1
        self._drop_pending()
        self.results.clear()
        if not query.pattern:
            self.workers.cancel_group(self, "search")
            self.searched, self.searching, self.summary = None, False, SearchSummary(done=True)
            self._status("type to search every file of the sandbox")
            return
        try:
            validate(query)
        except InvalidInput as exc:
            self.workers.cancel_group(self, "search")
            self.searched, self.searching = None, False
            self._status(str(exc))
            return
        self.searched, self.searching = query, True
        self.summary = SearchSummary()
        self._status("searching…")
        self._search(query, self.generation)

    def stop(self) -> None:
        if self.searching:
            self.workers.cancel_group(self, "search")
            self._flush()  # what arrived before the stop stays shown
            self.searching = False
            self.summary.done = True
            self._status(self.summary.text() + " — stopped")

    @work(group="search", exclusive=True, exit_on_error=False)
    async def _search(self, query: SearchQuery, generation: int) -> None:
        def on_batch(matches: list[Match], summary: SearchSummary) -> None:
            self.post_message(self.Batch(generation, matches, summary))

        summary = await search_files(self.service, self.sandbox_id, query, on_batch, limits=self.limits)
        self.post_message(self.Finished(generation, summary))

    def on_search_view_batch(self, message: Batch) -> None:
        if message.generation != self.generation:
            return  # a superseded search's last words
        self._pending.extend(message.matches)
        self._pending_summary = message.summary
        if not self.results.groups:
            self._flush()  # the first matches at once: the first paint waits for nothing
        elif self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_EVERY, self._flush)

    def _flush(self) -> None:
        """Add what has arrived now; called early (the first batch, the end, a stop), it also ends the wait."""
        if self._flush_timer is not None:
            self._flush_timer.stop()  # harmless when this is the timer's own call
            self._flush_timer = None
        if self._pending:
            self.results.add(self._pending)
            self._pending = []
        if self._pending_summary is not None:
            self._show_summary(self._pending_summary)
            self._pending_summary = None

    def _drop_pending(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        self._pending, self._pending_summary = [], None

    def on_search_view_finished(self, message: Finished) -> None:
        if message.generation != self.generation:
            return
        self._flush()
        self.searching = False
        self._show_summary(message.summary)

    def _show_summary(self, summary: SearchSummary) -> None:
        self.summary = summary
        self._status(summary.text())
        if summary.more:
            lead = "more than " if summary.more_is_lower_bound else ""
            self.results.set_more(f"… {lead}{summary.more:,} more not shown: narrow the search")

    def action_focus_results(self) -> None:
        if self.results.groups:
            self.results.focus()

    def on_search_results_at_top(self) -> None:
        self.query_one("#search-pattern", Input).focus()

    # -- replacing ------------------------------------------------------------------------------------------
    def replace_all(self) -> None:
        query = self.searched
        if query is None or not self.results.groups:
            tell(self, "Search first: replace works on the results shown", severity="warning")
            return
        if self.searching:
            tell(self, "The search is still running: wait for it (or stop it with F10) before replacing")
            return
        self._replace(query, self.query_one("#search-replace", Input).value)

    @work(group="replace", exclusive=True, exit_on_error=False)
    async def _replace(self, query: SearchQuery, replacement: str) -> None:
        groups = [(g.path, list(g.matches)) for g in self.results.groups]
        unsaved = set(self.unsaved())
        done_files = done_matches = 0
        refused: list[str] = []
        apply_all = False
        for number, (path, matches) in enumerate(groups, 1):
            if path in unsaved:
                refused.append(f"{plain_name(path)} has unsaved edits in the editor (save or discard them first)")
                continue
            try:
                plan = await plan_replacement(self.service, self.sandbox_id, path, matches, query, replacement)
                if not plan.count:
                    continue
                if not apply_all:
                    choice = await self.app.push_screen_wait(ReplacePreview(plan, number, len(groups)))
                    if choice == "cancel":
                        break
                    if choice == "skip":
                        continue
                    apply_all = choice == "all"
                await apply_replacement(self.service, self.sandbox_id, plan)
            except Conflict as exc:
                refused.append(str(exc))
                continue
            except SandbenchError as exc:
                refused.append(f"{plain_name(path)}: {exc}")
                continue
            done_files += 1
            done_matches += plan.count
            self.results.remove_file(path)
            self.post_message(self.FileReplaced(path))
        text = f"Replaced {done_matches} in {done_files} {'file' if done_files == 1 else 'files'}"
        if refused:
            text += f"; {len(refused)} refused: " + "; ".join(refused[:3]) + ("; …" if len(refused) > 3 else "")
        tell(self, text, severity="warning" if refused else "information")
        self._status(text)
