"""What a chart of the Metrics view costs to draw, by widget: the one the view uses (widgets/metrics_chart.py's
`LineChart`, Textual's Sparkline method on a fixed scale), Textual's own `Sparkline` widget as the reference, and
`textual-plotext`'s `PlotextPlot` where it is installed (it is not a dependency: install it to compare).

    .venv/bin/python -m bench.metrics_charts

In one headless app of 160x48 cells, each widget is 156x10 cells and holds the Metrics view's full window, 900
samples (15 minutes at one a second); each redraw is what a new sample costs: set the data, render the widget to
Rich segments. Prints the median of `ROUNDS` redraws as `chart_<widget>_ms=value ms`, and what the view's four
charts redrawn every second cost as `% of one CPU`.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import Sparkline

from widgets.metrics_chart import LineChart

ROUNDS = 30
N = 900


def _data(shift: int) -> list[float]:
    return [50 + 45 * math.sin((i + shift) / 17) for i in range(N)]


def _plotext() -> Any:
    try:  # by name: not a dependency, so neither mypy nor a fresh machine has it
        return importlib.import_module("textual_plotext").PlotextPlot
    except ImportError:
        return None


class Bench(App[None]):
    CSS = "Screen > * { height: 10; width: 156; }"

    def compose(self) -> ComposeResult:
        yield LineChart("CPU", lambda v: f"{v:.0f}%", id="line")
        yield Sparkline(_data(0), id="spark")
        plot = _plotext()
        if plot is not None:
            yield plot(id="plotext")


def _time(widget: Widget, update: Callable[[int], None], console: Any) -> float:
    times = []
    for r in range(ROUNDS):
        t0 = time.perf_counter()
        update(r)
        renderable = widget.render()
        list(console.render(renderable, console.options.update_dimensions(widget.size.width, widget.size.height)))
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def main() -> None:
    app = Bench()
    results: dict[str, float] = {}
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        console = app.console
        line = app.query_one("#line", LineChart)

        def set_line(r: int) -> None:
            line.set_data([(float(i), v) for i, v in enumerate(_data(r))], limit=100.0, end=float(N - 1), span=N)

        results["line_chart"] = _time(line, set_line, console)
        spark = app.query_one("#spark", Sparkline)

        def set_spark(r: int) -> None:
            spark.data = _data(r)

        results["textual_sparkline"] = _time(spark, set_spark, console)
        if _plotext() is not None:
            plot: Any = app.query_one("#plotext")

            def set_plot(r: int) -> None:
                plot.plt.clear_data()
                plot.plt.plot(list(range(N)), _data(r))
                plot.plt.ylim(0, 100)

            results["plotext"] = _time(plot, set_plot, console)
    for name, ms in results.items():
        print(f"chart_{name}_ms={ms:.2f} ms")
        print(f"chart_{name}_four_per_second_cpu_pct={4 * ms / 10:.2f} %")
    if "plotext" not in results:
        print("chart_plotext_ms=not measured (textual-plotext not installed)")


if __name__ == "__main__":
    asyncio.run(main())
