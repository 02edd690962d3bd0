"""`RowCroppedCompositor`: Textual's compositor, rendering for a partial update only what that update can show.

A keystroke's echo changes one row of the terminal (or the editor), and Textual repaints it as a partial update:
`Compositor._get_renders` picks every widget whose *clip* (its container's visible area) overlaps the changed
area and renders each of them whole when it is fully visible; `_render_chops` then keeps, front to back, the first
strip for each cut of each updated row and throws the rest away. In the workspace at 80x24 that was 11 widgets
rendered per echo — the footer, the status bar and the tab strips included, though none of them is under the
changed row — 18 to 24 lines each, for two visible pieces (the terminal's row and its frame's borders): ~1.2 ms of
the ~2.2 ms the app adds to an echo, measured in the real app in tmux (docs/performance.md, "Idle echo").

Here a partial update renders a widget only when it shows on an updated row: its visible part must meet the
update's area, and at least one of its cuts on an updated row must still be empty (widgets are visited front to
back, so a widget whose every cut is already taken by the widgets in front of it would only be thrown away — the
containers under the terminal, the screen itself). It renders just its rows inside the update's rows. A cut left
empty is skipped by `ChopsUpdate`, as are cuts outside a row's span. What reaches the screen is exactly what
Textual's own pass yields; a full update (the whole screen) is Textual's pass unchanged. A widget's lines not
rendered stay dirty in its styles cache until an update that shows them. Relies on Textual's private
`_render_chops` and the `cuts` it fills (tests/test_textual_internals.py; tests/tui/test_partial_updates.py
compares the two passes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip


class RowCroppedCompositor(Compositor):
    def _render_chops(self, crop: Region, is_rendered_line: Callable[[int], bool]) -> Sequence[Mapping[int, Strip]]:
        if crop == self.size.region:
            return super()._render_chops(crop, is_rendered_line)
        cuts = self.cuts
        chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
        top, bottom = crop.y, crop.bottom
        for widget, (region, clip) in self.visible_widgets.items():  # front to back
            x, y, width, height = region.intersection(clip)
            first, last = max(y, top), min(y + height, bottom)
            rows = Region(x, first, width, last - first)
            if first >= last or not rows.overlaps(crop):
                continue  # nothing of it is in the update
            right = x + width
            lines = [
                (line_y, [cut for cut in cuts[line_y] if right >= cut >= x])
                for line_y in range(first, last)
                if is_rendered_line(line_y)
            ]
            # Textual's rule, below, fills a cut only while it is empty (the widget in front wins); a widget's pieces
            # start at each of its cuts but its right edge
            if not any(chops[line_y].get(cut) is None for line_y, line_cuts in lines for cut in line_cuts[:-1]):
                continue  # every piece it would draw is already drawn by widgets in front of it
            strips = widget.render_lines(rows.translate((-region.x, -region.y)))
            for line_y, line_cuts in lines:
                chops_line = chops[line_y]
                pieces = strips[line_y - first].divide([cut - x for cut in line_cuts[1:]])
                for cut, piece in zip(line_cuts, pieces, strict=False):  # as Textual (a short strip: fewer)
                    if chops_line.get(cut) is None:
                        chops_line[cut] = piece
        return chops  # type: ignore[return-value]  # as Textual's: cuts left empty are skipped by ChopsUpdate
