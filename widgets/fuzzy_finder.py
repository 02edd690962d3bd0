"""The fuzzy file finder: a modal with a query field and the best matches, over every file in the workspace.

The file list is fetched once per opening (`service.list_files`, in a worker, "indexing…" meanwhile) and indexed
off the event loop; matching (`services.fuzzy`) runs on each keystroke, incrementally while the query grows.
Dismisses with the chosen path, or None on escape. Paths are sandbox data: shown literally, escapes visible.
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from services.fuzzy import FuzzyMatcher, Match
from services.sandbox_service import SandboxService
from widgets.explorer_text import name_text
from widgets.footer import OwnFooter
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors

RESULTS = 50


class FuzzyFinder(ReportWorkerErrors, OwnFooter, ModalScreen[str | None]):
    """Find a file by typing a few of its letters in order (`mdnm` finds `src/deep/module_name.py`)."""

    DEFAULT_CSS = """
    FuzzyFinder {
        align: center top;
        background: $background 60%;
    }
    FuzzyFinder > Vertical {
        width: 90;
        max-width: 95%;
        height: auto;
        max-height: 80%;
        margin-top: 2;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    FuzzyFinder #finder-status { color: $text-muted; height: 1; }
    FuzzyFinder OptionList { height: auto; max-height: 24; border: none; padding: 0; }
    """

    BINDINGS = bindings(
        (
            Key("finder.cancel", "escape", "cancel", "Cancel", "Close the finder"),
            Key("finder.next", "down,ctrl+n", "cursor_down", "Next", show=False, palette=False, help=False),
            Key("finder.previous", "up,ctrl+p", "cursor_up", "Previous", show=False, palette=False, help=False),
            Key("finder.page_down", "pagedown", "page_down", "Page down", show=False, palette=False, help=False),
            Key("finder.page_up", "pageup", "page_up", "Page up", show=False, palette=False, help=False),
        )
    )

    class _Indexed(Message, bubble=False):
        def __init__(self, matcher: FuzzyMatcher) -> None:
            super().__init__()
            self.matcher = matcher

    def __init__(self, service: SandboxService, sandbox_id: str) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.matcher: FuzzyMatcher | None = None
        self.results: list[Match] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Input(placeholder="Find a file…", id="finder-input")
            yield Static("indexing…", id="finder-status")
            yield OptionList(id="finder-results")

    def on_mount(self) -> None:
        self.query_one("#finder-input", Input).focus()
        self.run_worker(self._index(), group="finder-index", exclusive=True, exit_on_error=False, name="indexing")

    async def _index(self) -> None:
        files = await self.service.list_files(self.sandbox_id)
        matcher = await asyncio.to_thread(FuzzyMatcher, files)  # building the blobs is ~30 ms per 20,000 paths
        self.post_message(self._Indexed(matcher))

    @on(_Indexed)
    def _on_indexed(self, message: _Indexed) -> None:
        self.matcher = message.matcher
        self._search(self.query_one("#finder-input", Input).value)

    @on(Input.Changed, "#finder-input")
    def _changed(self, event: Input.Changed) -> None:
        self._search(event.value)

    def _search(self, query: str) -> None:
        if self.matcher is None:
            return
        self.results = self.matcher.search(query, RESULTS)
        options = self.query_one("#finder-results", OptionList)
        options.clear_options()
        options.add_options([Option(name_text(m.path, positions=m.positions)) for m in self.results])
        if self.results:
            options.highlighted = 0
        total = len(self.matcher)
        found = self.matcher.last_candidates if query.strip() else total
        self.query_one("#finder-status", Static).update(Text(f"{found:,} of {total:,} files"))

    @on(Input.Submitted, "#finder-input")
    def _submitted(self) -> None:
        self._choose(self.query_one("#finder-results", OptionList).highlighted)

    @on(OptionList.OptionSelected, "#finder-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option_index)

    def _choose(self, index: int | None) -> None:
        if index is not None and 0 <= index < len(self.results):
            self.dismiss(self.results[index].path)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_cursor_down(self) -> None:
        self.query_one("#finder-results", OptionList).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one("#finder-results", OptionList).action_cursor_up()

    def action_page_down(self) -> None:
        self.query_one("#finder-results", OptionList).action_page_down()

    def action_page_up(self) -> None:
        self.query_one("#finder-results", OptionList).action_page_up()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # the error itself goes to the app's one route (`ReportWorkerErrors`); the finder says why it is empty
        if event.state is WorkerState.ERROR:
            self.query_one("#finder-status", Static).update(Text("could not list the workspace's files"))
