"""The Metrics view of one sandbox (issue 13 §3): line charts of CPU, memory, pids and disk over the kept window
(15 minutes), each against its limit, and the limit hits (OOM kills, forks refused at the pids cap, CPU
throttling) with what this provider cannot measure.

A pure view: the screen hands it the sampler's history (`show`); it never calls the service. Text from the
provider (an error, an unavailable reason) is shown as plain `Text`.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from services.metrics import MetricsSample
from services.text import safe_text
from widgets.metrics_chart import LineChart
from widgets.sandbox_table import human_size


def _pct(v: float) -> str:
    return f"{v:.0f}%" if v >= 10 or v == 0 else f"{v:.1f}%"


def _count(v: float) -> str:
    return f"{v:.0f}"


def hits_text(latest: MetricsSample | None, error: str | None) -> Text:
    """The lines under the charts: the limit hits, then why anything is missing."""
    out = Text(no_wrap=False)
    if latest is None:
        out.append("Limit hits: no sample yet", style="dim")
    else:
        h = latest.hits

        def part(label: str, n: int | None, extra: str = "") -> None:
            out.append(f"{label} ")
            if n is None:
                out.append("n/a", style="dim")
            else:
                out.append(f"{n}{extra}", style="bold red" if n else "")
            out.append("  ")

        out.append("Limit hits  ", style="bold")
        part("OOM kills", h.oom_kills)
        part("pids cap reached", h.pids_refused)
        waited = f" ({h.cpu_throttled_seconds:.1f}s)" if h.cpu_throttled and h.cpu_throttled_seconds else ""
        part("CPU throttled", h.cpu_throttled, waited)
        for why in latest.unavailable:
            out.append(f"\nunavailable: {safe_text(why)}", style="dim")
    if error:
        out.append(f"\n{safe_text(error)}", style="italic")
    return out


class MetricsView(Vertical):
    DEFAULT_CSS = """
    MetricsView { height: 1fr; }
    MetricsView > #metrics-hits { height: auto; max-height: 5; padding: 0 1; border-top: solid $panel; }
    """

    def compose(self) -> ComposeResult:
        yield LineChart("CPU", _pct, id="chart-cpu")
        yield LineChart("Memory", lambda v: human_size(int(v)), id="chart-memory")
        yield LineChart("Pids", _count, id="chart-pids")
        yield LineChart("Disk", lambda v: human_size(int(v)), id="chart-disk")
        yield Static(Text(""), id="metrics-hits")

    def show(self, samples: Sequence[MetricsSample], *, span: float, error: str | None = None) -> None:
        latest = samples[-1] if samples else None
        end = latest.at if latest is not None else 0.0

        def series(field: str) -> list[tuple[float, float]]:
            return [(s.at, float(v)) for s in samples if (v := getattr(s, field)) is not None]

        def gone(what: str) -> str:
            if latest is None:
                return "no sample yet"
            return next((safe_text(w) for w in latest.unavailable if w.startswith(what + ":")), "not measured")

        cpu = self.query_one("#chart-cpu", LineChart)
        cpu.set_data(series("cpu_pct"), limit=100.0, end=end, span=span, note=gone("cpu"))
        if latest is not None:
            cpu.title = f"CPU ({latest.cpus} cpu{'s' if latest.cpus != 1 else ''})"
        for key, field, limit in (
            ("memory", "memory_used", latest.memory_limit if latest else None),
            ("pids", "pids", latest.pids_limit if latest else None),
            ("disk", "disk_used", latest.disk_limit if latest else None),
        ):
            chart = self.query_one(f"#chart-{key}", LineChart)
            chart.set_data(series(field), limit=float(limit) if limit else None, end=end, span=span, note=gone(key))
        self.query_one("#metrics-hits", Static).update(hits_text(latest, error))
