"""The binary view's ASCII column is whole at any pane width (issue 11 §6): as many bytes per row as fit, laid out
again when the pane resizes. The real editor over a real local sandbox; what is checked is what is drawn."""

from __future__ import annotations

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.widgets.test_editor import EditorApp, open_file
from widgets.editor import EditorTabs
from widgets.editor.hexview import HexView

DATA = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij\x00klmnop"  # NUL: binary


def drawn_ascii(view: HexView) -> str:
    """The ASCII columns of the rows on screen, joined, as drawn (cut rows would lose characters)."""
    rows = [view.render_line(y).text.rstrip() for y in range(view.document.line_count)]
    start = 3 * view.per_row + 11  # offset, two spaces, the hex bytes, two spaces
    return "".join(row[start:] for row in rows)


async def test_the_ascii_column_is_whole_at_any_width(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "blob.bin", DATA)
    expected = "".join(chr(b) if 32 <= b < 127 else "." for b in DATA)
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(50, 20)) as pilot:
        tabs = app.query_one(EditorTabs)
        view = await open_file(pilot, tabs, "blob.bin")
        assert isinstance(view, HexView)
        await wait_until(pilot, lambda: view.per_row == 8)
        assert drawn_ascii(view) == expected
        await pilot.resize_terminal(100, 20)  # wider: back to 16 a row, still whole
        await wait_until(pilot, lambda: view.per_row == 16)
        await pilot.pause()
        assert drawn_ascii(view) == expected
