"""Charts of metrics samples: a one-line CPU sparkline for a table cell (`spark_text`) and a multi-line chart of one
measurement against its limit (`LineChart`), for the Metrics view (issue 13 §3).

Both draw with Textual's own `Sparkline` renderable's method — block eighths (`Sparkline.BARS`), the kept window
cut into one bucket per column and each bucket summarised by its maximum (`Sparkline._buckets`) — but on a fixed
scale, 0 to the limit, where Textual's scales between the data's own minimum and maximum: an idle sandbox's
0.1 %-0.3 % noise must look idle, not full. Picked over `textual-plotext` by measured cost (bench/metrics_charts.py
and docs/performance.md): the same 900 samples render in a fraction of the time, with no new dependency.

Pure functions of their input (samples with monotonic `at` and the chart's size): snapshot tests feed fixed
samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.renderables.sparkline import Sparkline
from textual.widget import Widget

BARS = Sparkline.BARS  # "▁▂▃▄▅▆▇█"


def buckets(points: Sequence[tuple[float, float]], width: int, span: float, end: float) -> list[float | None]:
    """`width` buckets over the `span` seconds ending at `end`, each the maximum of the (time, value) points that
    fall in it; `None` where no point does (no sample then: drawn as a gap, not as zero)."""
    out: list[float | None] = [None] * width
    if width <= 0 or span <= 0:
        return out
    start = end - span
    for at, value in points:
        if at < start or at > end:
            continue
        i = min(width - 1, int((at - start) / span * width))
        old = out[i]
        out[i] = value if old is None else max(old, value)
    return out


def _level(value: float, top: float, rows: int) -> int:
    """Eighths of a cell filled, 0..8*rows; a value above 0 always shows at least one eighth."""
    if top <= 0:
        return 0
    ratio = min(max(value / top, 0.0), 1.0)
    eighths = round(ratio * 8 * rows)
    return max(1, eighths) if value > 0 else 0


def spark_text(values: Sequence[float | None], top: float, style: str = "") -> Text:
    """One line: a block per value on the 0..`top` scale; a gap (no sample) is a space."""
    cells = []
    for v in values:
        if v is None:
            cells.append(" ")
            continue
        level = _level(v, top, 1)
        cells.append(BARS[level - 1] if level else BARS[0])
    return Text("".join(cells), style=style, no_wrap=True, overflow="crop")


class LineChart(Widget):
    """One measurement over the kept window: a title line (name, the latest value, the limit), the chart on the
    0..limit scale (or 0..the window's maximum where there is no limit), and a time axis."""

    DEFAULT_CSS = """
    LineChart { height: 1fr; min-height: 4; padding: 0 1; }
    """

    def __init__(
        self,
        title: str,
        fmt: Callable[[float], str],
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.fmt = fmt
        self.points: list[tuple[float, float]] = []
        self.limit: float | None = None
        self.end = 0.0
        self.span = 900.0
        self.note = ""  # why there is nothing to draw (unavailable), shown instead

    def set_data(
        self, points: Sequence[tuple[float, float]], *, limit: float | None, end: float, span: float, note: str = ""
    ) -> None:
        self.points = list(points)
        self.limit = limit
        self.end = end
        self.span = span
        self.note = note
        self.refresh()

    @property
    def latest(self) -> float | None:
        return self.points[-1][1] if self.points else None

    def heading(self) -> Text:
        out = Text(self.title, style="bold", no_wrap=True, overflow="ellipsis")
        latest = self.latest
        out.append(f"  {self.fmt(latest) if latest is not None else '—'}")
        if self.limit:
            out.append(f" of {self.fmt(self.limit)}", style="dim")
        return out

    def render(self) -> Text:
        return Text("\n").join(self._lines())

    def _lines(self) -> list[Text]:
        width = max(1, self.content_size.width)
        height = max(1, self.content_size.height)
        lines: list[Text] = [self.heading()]
        rows = max(1, height - 2)
        if self.note and not self.points:
            lines.append(Text(self.note, style="dim italic", no_wrap=True, overflow="ellipsis"))
            return lines
        values = buckets(self.points, width, self.span, self.end)
        top = self.limit or max((v for v in values if v is not None), default=0.0) or 1.0
        theme = self.app.current_theme if self.is_attached else None
        accent = (theme.accent if theme else None) or "cyan"
        err = (theme.error if theme else None) or "red"
        levels = [None if v is None else _level(v, top, rows) for v in values]
        for row in reversed(range(rows)):
            low = row * 8
            chars = []
            for level in levels:
                if level is None or level <= low:
                    chars.append(" ")
                elif level >= low + 8:
                    chars.append("█")
                else:
                    chars.append(BARS[level - low - 1])
            full = row == rows - 1 and any(lv is not None and lv >= 8 * rows for lv in levels)
            lines.append(Text("".join(chars), style=err if full else accent, no_wrap=True, overflow="crop"))
        minutes = self.span / 60
        axis = Text(f"-{minutes:g}m", style="dim", no_wrap=True, overflow="crop")
        axis.append(" " * max(1, width - len(axis.plain) - 3) + "now", style="dim")
        lines.append(axis)
        return lines
