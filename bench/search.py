"""Search in files on 20,000 files in a real local sandbox, against `grep -rn` in the same sandbox, same run.

    .venv/bin/python -m bench.search

Prints `metric=value unit` (medians of RUNS):
- grep_rn_ms: the reference, `grep -rn PATTERN .` through the service's exec (bwrap start included).
- search_whole_ms: `services.search.search_files` for the same pattern, to its summary; search_ratio = the two.
- search_first_paint_ms: the SearchView in a Textual app under Pilot: enter in the field to the first result row
  painted (bars: <= 200 ms, and ratio <= 1.5).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from services.search import SearchQuery, search_files
from widgets.search_view import SearchResults, SearchView

FILES = 20_000
RUNS = 5
PATTERN = "needle"


def emit(metric: str, value: float, unit: str) -> None:
    print(f"{metric}={value:.1f} {unit}", flush=True)


async def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="sandbench-bench-search-"))
    config = Config(identity="bench", data_dir=home)
    service = SandboxService(LocalProvider(home, owner_label=config.owner_label), config)
    info = await service.create(SandboxSpec(name="search-bench"))
    script = (
        "for d in $(seq 0 199); do mkdir -p src/d$d; for f in $(seq 0 99); do "
        'if [ $((f % 10)) = 0 ]; then echo "line with needle $d $f" > src/d$d/f$f.py; '
        'else echo "plain text line $d $f" > src/d$d/f$f.py; fi; done; done'
    )
    r = await service.exec(info.id, ["sh", "-c", script], timeout=600)
    assert r.exit_code == 0, r.stdout
    ref, ours, paint = [], [], []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        await service.exec(info.id, ["grep", "-rn", PATTERN, "."], keep_output=0)
        ref.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        summary = await search_files(service, info.id, SearchQuery(PATTERN), lambda *_: None)
        ours.append((time.perf_counter() - t0) * 1000)
        assert summary.matches == FILES // 10, summary

    class Bench(App[None]):
        def compose(self) -> ComposeResult:
            yield SearchView(service, info.id)

    for _ in range(RUNS):
        app = Bench()
        async with app.run_test(size=(120, 40)) as pilot:
            view = app.query_one(SearchView)
            field = app.query_one("#search-pattern")
            field.value = PATTERN  # type: ignore[attr-defined]
            await pilot.pause()
            results = view.query_one(SearchResults)
            painted: list[float] = []
            original = results.render_line

            def spy(y: int, _orig=original, _painted=painted, _results=results):  # type: ignore[no-untyped-def]
                if _results.groups and not _painted:
                    _painted.append(time.perf_counter())
                return _orig(y)

            results.render_line = spy  # type: ignore[method-assign]
            t0 = time.perf_counter()
            view.search_now()
            while not painted:
                await asyncio.sleep(0.002)
            paint.append((painted[0] - t0) * 1000)
            while not view.summary.done:
                await pilot.pause(0.01)
    emit("grep_rn_ms", statistics.median(ref), "ms")
    emit("search_whole_ms", statistics.median(ours), "ms")
    emit("search_ratio", statistics.median(ours) / statistics.median(ref), "x")
    emit("search_first_paint_ms", statistics.median(paint), "ms")
    await service.delete(info.id)
    await service.close()


if __name__ == "__main__":
    asyncio.run(main())
