"""What the pane hands Rich for a row of cells: text that Rich measures as exactly the cells the emulator gave it.

Textual places every strip by Rich's measure (`rich.cells.cell_len`); the emulator lays clusters out as tmux 3.3
does (`rows.clusters`). The two agree on ZWJ sequences, flags and combining marks, but not everywhere: Rich
widens a VS16 emoji (❤️, 1️⃣) to two cells where tmux keeps one, and joins an emoji and its skin-tone modifier into
one 2-cell cluster where tmux gives each two cells (Rich even measures a lone modifier as zero). A row Rich
mismeasures is padded or cropped by Textual, and the outer terminal (tmux among them) then draws the pane's right
border and everything after it in the wrong place — the lost right border seen after such a row.

So a run Rich would mismeasure is handed over one cell at a time, and a cell Rich still mismeasures is shown
without its variation selectors (❤ for ❤️), or as its base character, or as blanks of its width. Rows of ASCII, CJK,
ZWJ sequences and flags (nearly all of them) pass through untouched.
"""

from __future__ import annotations

from rich.cells import cell_len

from widgets.terminal.rows import clusters

_SELECTORS = str.maketrans("", "", "\ufe0e\ufe0f")


def fit_cell(text: str, width: int) -> str:
    """One cell's text as something Rich measures `width` cells wide: itself when it already is."""
    if text.isascii() or cell_len(text) == width:
        return text
    plain = text.translate(_SELECTORS)
    if cell_len(plain) == width:
        return plain
    if cell_len(text[0]) == width:
        return text[0]
    return " " * width


def fit_runs(runs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Runs of (text, style) such that Rich measures each as the cells it takes in the emulator."""
    if all(text.isascii() for text, _ in runs):
        return runs
    out: list[tuple[str, int]] = []
    for text, style in runs:
        if text.isascii():
            out.append((text, style))
            continue
        cells = clusters(text)
        if cell_len(text) == sum(w for _, w in cells):
            out.append((text, style))
            continue
        # one piece per cell: Rich measures each alone, so neighbours cannot join (an emoji and its modifier)
        out.extend((fit_cell(c, w), style) for c, w in cells)
    return out
