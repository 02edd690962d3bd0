"""Snapshot of the search results view (pytest-textual-snapshot): matches grouped by file, highlighted, a hostile
name and a control character shown as data, a long line cut before its match, and the "more not shown" row.

Deterministic by construction: the results are fed as `Match` values (the grep side is tested in
tests/services/test_search.py), at a fixed size. Update with `pytest tests/widgets --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult

from services.search import Match
from widgets.search_results import SearchResults


def _m(path: str, line: int, text: str, needle: str = "needle") -> Match:
    start = text.lower().find(needle)
    spans = ((start, start + len(needle)),) if start >= 0 else ()
    return Match(path, line, text, spans, False, (0, len(text)))


class ResultsApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SearchResults(id="results")

    def on_mount(self) -> None:
        results = self.query_one(SearchResults)
        results.add(
            [
                _m("src/app.py", 4, "    print('needle here')"),
                _m("src/app.py", 12, "\tNEEDLE = 1  # tab first"),
                _m("[bold]x[/bold] name.txt", 1, "a needle in \x1b[31mred"),
                _m("docs/long.md", 3, "x" * 150 + " needle at the far right"),
            ]
        )
        results.set_more("… 1,234 more not shown: narrow the search")
        results.focus()


def test_search_results_snapshot(snap_compare: Any) -> None:
    assert snap_compare(ResultsApp(), terminal_size=(80, 12))
