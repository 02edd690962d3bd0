"""The terminal pane on a real PTY flooding lines wider than it: what a person sees scrolling back is the same text
as the exact emulator path gives, row by row — the rows the flood path sent to the scrollback unparsed (`RawRow`)
are cut where autowrap cuts them. (`test_terminal_wrapflood.py` compares cells and styles on the emulator alone.)
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bench.terminal import BenchApp, HostService, colour_log
from tests.widgets.test_terminal_wrapflood import ExactScreen
from widgets.terminal.pane import TerminalView


async def test_scrolling_back_through_a_wrapping_flood_shows_the_rows_autowrap_cut(tmp_path: Path) -> None:
    log = colour_log(1_500_000, seed=21)  # ~140 columns a line: each wraps into two rows at 80
    path = tmp_path / "wide.log"
    path.write_bytes(log)
    view = TerminalView(HostService(["cat", str(path)]), "wrapflood", autostart=False)  # type: ignore[arg-type]
    app = BenchApp([view])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        view.start()
        deadline = time.monotonic() + 120
        while view._pump_task is None or not view._pump_task.done():
            assert time.monotonic() < deadline, "cat never finished"
            await asyncio.sleep(0.02)
        await pilot.pause()
        screen = view.screen_model
        assert any(type(e) is tuple and len(e) == 5 for e in screen.history), "the flood path did not take it"
        # the same bytes as the PTY delivered them (onlcr: LF → CR LF), through the exact path only
        exact = ExactScreen(screen.cols, screen.rows, scrollback=screen.history.maxlen or 0)
        exact.feed(log.replace(b"\n", b"\r\n"))
        hist = len(screen.history)
        # rows are matched by their number since the start: the pane's "exited" banner scrolled one more row
        first_ours = screen.scrolled_lines - hist
        first_exact = exact.scrolled_lines - len(exact.history)
        width = view.size.width
        for _ in range(5):  # five pages back; each page compared row by row
            view.action_scroll_back()
            await pilot.pause()
            offset = view.back_rows
            assert view.marker_rows == 1
            for y in range(1, view.size.height):  # row 0 is the "scrolled back" marker's; the text starts below it
                row = first_ours + hist - offset + y - 1 - first_exact
                n = len(exact.history)
                want = "".join(t for t, _ in exact.history_segments(row)) if row < n else exact.display()[row - n]
                got = view.render_line(y).text
                assert got.rstrip() == want[:width].rstrip(), f"{offset} rows back, row {y}"
