"""The cursor row — the row every echoed key repaints — is drawn as few segments as its styles need, cell for cell
what the plain row shows with the cursor cell reversed. Textual writes each segment with its own SGR and reset: a
row built cell by cell sent ~2 KB to the outer terminal per echoed key, where tmux sends a few bytes."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from rich.style import Style
from textual.strip import Strip

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.widgets.test_terminal_pane import TermApp, ready, text, type_text, view

pytestmark = pytest.mark.bwrap


def cells(strip: Strip) -> list[tuple[str, Style | None]]:
    """(text, style) per cell; a wide character's second cell is ("", its style)."""
    out: list[tuple[str, Style | None]] = []
    for seg in strip:
        for ch in seg.text:
            width = cell_len(ch)
            if width == 0 and out:  # a combining mark joins the cell before it
                out[-1] = (out[-1][0] + ch, out[-1][1])
                continue
            out.append((ch, seg.style))
            out.extend([("", seg.style)] * (width - 1))
    return out


async def test_the_cursor_row_is_a_few_segments_and_the_same_cells(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        await type_text(pilot, "export PS1='$ '\nclear\n")
        await wait_until(pilot, lambda: text(app).strip() == "$", "a bare prompt", show=lambda: text(app))
        term = view(app)
        for typed, at_most in (("echo plain ascii", 3), ("echo h\u00e9llo \u4e2d\u6587 ok", 9)):
            await type_text(pilot, typed)
            await wait_until(pilot, lambda t=typed: t in text(app), repr(typed), show=lambda: text(app))
            screen = term.screen_model
            width = term.size.width
            row = term.render_line(screen.y)
            plain = term._line_strip(screen.lines[screen.y], width)  # the same row drawn without the cursor
            assert row.cell_length == width
            assert len(list(row)) <= at_most, [seg.text for seg in row]  # was one segment per cell (78)
            shown, expected = cells(row), cells(plain)
            assert [c for c, _ in shown] == [c for c, _ in expected]
            for x, ((_, style), (_, want)) in enumerate(zip(shown, expected, strict=True)):
                if x == screen.x:
                    assert style is not None and style.reverse, "the cursor cell is drawn reversed"
                else:
                    assert style == want, f"cell {x} keeps the row's own style"
            await pilot.press("ctrl+u")
            await wait_until(pilot, lambda: text(app).strip() == "$", "the line erased", show=lambda: text(app))
