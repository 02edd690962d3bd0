"""`fit_runs`: what the pane hands Rich for a row measures exactly the cells the emulator gave it, for every
cluster case the differential tests hold to tmux — so Textual neither pads nor crops the row (which moved or lost
the pane's right border) — and rows Rich already measures right pass through untouched."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from tests.widgets.test_terminal_diff import CLUSTER_WORDS, CLUSTERS
from widgets.terminal.emulator import Emulator
from widgets.terminal.fit import fit_runs


def used_cells(screen: Emulator) -> int:
    chars = screen.lines[0].chars
    return max((i + 1 for i, c in enumerate(chars) if c != " "), default=0)


@pytest.mark.parametrize("case", [*CLUSTERS, *(f"word-{i}" for i in range(len(CLUSTER_WORDS)))])
def test_rich_measures_each_row_as_its_cells(case: str) -> None:
    text = CLUSTERS[case] if case in CLUSTERS else CLUSTER_WORDS[int(case[5:])] * 3
    screen = Emulator(10 if case in CLUSTERS else 40, 4)
    screen.feed(f"\x1b[31m{text}\x1b[0m|".encode())
    runs = fit_runs(screen.lines[0].segments())
    assert sum(cell_len(t) for t, _ in runs) == used_cells(screen), runs


def test_rows_rich_measures_right_are_untouched() -> None:
    for text in ("plain ascii", "\U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f1eb\U0001f1f7 e\u0301 \u4e2d"):
        screen = Emulator(40, 2)
        screen.feed(text.encode())
        assert fit_runs(screen.lines[0].segments()) == screen.lines[0].segments()


def test_what_rich_would_mismeasure_is_shown_plainer() -> None:
    screen = Emulator(40, 2)
    screen.feed("\u2764\ufe0f \U0001f44d\U0001f3fd|".encode())
    assert "".join(t for t, _ in fit_runs(screen.lines[0].segments())) == "\u2764 \U0001f44d  |"
