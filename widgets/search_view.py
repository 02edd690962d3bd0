"""The search-in-files view: query fields, option toggles, and the streamed results grouped by file.

`SearchView` owns the fields (search, replace, files to include and exclude), the toggles (case, whole word,
regex) and one search at a time: a new query cancels the running one (its worker is exclusive, and cancelling it
kills grep in the sandbox: `services.search`). Typing searches after a short pause; enter searches at once.
Results arrive in batches (`SearchView.Batch` messages from the worker) and are appended to `SearchResults`, a
line-API list (widgets/search_results.py) that only renders the rows on screen, so 10,000 matches cost what one
screenful costs.

Everything shown from the sandbox (paths, line text) is data: drawn as `rich.text.Text`/segments, never markup,
with control characters shown as visible escapes. Enter on a match posts `SearchResults.OpenMatch`; the screen
that hosts the view opens the editor there. Replace runs file by file with a preview of each file's diff
(`ReplacePreview`), writes through the service's atomic write and refuses a file changed since the search, or one
with unsaved edits in the editor (refused, not merged: the user saves or discards first, then searches again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
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
from services.text import content, safe_text
from widgets.footer import OwnFooter
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors, tell
from widgets.search_results import FLUSH_EVERY, SearchResults

DEBOUNCE = 0.25  # seconds after the last keystroke before a search starts


class ReplacePreview(OwnFooter, ModalScreen[str]):
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
        title.append(safe_text(self.plan.path), "bold")
        title.append(f"  ({self.plan.count} {'replacement' if self.plan.count == 1 else 'replacements'})")
        diff = Text(end="")
        for line in self.plan.diff[2:]:  # the ---/+++ header names the file, which the title already does
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan"
            diff.append(content(line, tabs=4), style if line[:1] != " " else "")
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
                refused.append(f"{safe_text(path)} has unsaved edits in the editor (save or discard them first)")
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
                refused.append(f"{safe_text(path)}: {exc}")
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
