"""Editor benchmark: a 20,000-line Python file in `EditorTabs`, against Textual's stock `TextArea` in the same run.

Run: `.venv/bin/python -m bench.editor` (or `python bench/editor.py`). Prints `metric=value unit` lines.

Measured, headless (`App.run_test`, 120x40), through the real SandboxService and LocalProvider:
- `editor.open_first_screen`: from `EditorTabs.open_file(path)` (read through the service, classification, lexer
  choice, tab and widget creation, layout) to the end of the first screen update in which the editor is on screen
  and every visible line has its Pygments highlights. Bar: ≤ 150 ms.
- `editor.keystroke`: a printable key typed mid-file (line 10,000, from column 9), highlighting on, from just
  before `pilot.press` to the end of the first screen update that contains the edit. Keys are sent at a human pace
  (a random 0-20 ms pause before each, like ../shared/performance.md) so each one is measured on its own rather
  than queued behind the previous frame. Bars: p50 ≤ 33 ms, p99 ≤ 50 ms.
  The heap is settled as the app does it: once the file is on screen, `tui.heap.settle_heap()` (`gc.collect()`
  then `gc.freeze()`; the workspace screen calls it after every file it opens), then the keys are typed.
- `editor.keystroke_hscroll`: 200 more keys on the same line, which by then is past the right edge and the
  widest line of the file: every key scrolls the editor sideways and widens the document (the worst case for
  repainting: every row changes). Same bars.
- `editor.keystroke_nofreeze`: after `gc.unfreeze()`, 200 keys on another line (line 5,000): what typing costs
  when the collector's full passes walk the whole heap (for information; the app freezes).
- the same for the stock `TextArea` (plain; with `language="python"` only if tree-sitter is installed).

What "painted" means here: Textual paints by calling `Compositor.render_update` from `Screen._compositor_refresh`
(the screen's update timer), which calls `render_line` on every dirty widget line and composes the result; the app
then serialises it for the terminal (`CompositorUpdate.render_segments`), a step that headless mode skips. The
benchmark wraps `Compositor.render_update` and, after it returns, also serialises the update with the app's console,
so a "paint" includes everything a real terminal frame costs except the write to the file descriptor. A key's
latency is the time to the end of the first such paint after the key was handled (the document's edit counter
changed). This includes Textual's frame pacing (updates are at most 60 per second), like a user would see.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual._compositor import Compositor
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.widgets import TextArea

LINES = 20_000
KEYS = 200
STOCK_KEYS = 30  # the stock TextArea takes 100+ ms a key: fewer keys keep the run short
SIZE = (120, 40)

_paints: list[float] = []
_paint_check: Callable[[], bool] | None = None
_paint_hits: list[float] = []


def _install_paint_hook() -> None:
    original = Compositor.render_update

    def render_update(self: Compositor, *args: Any, **kwargs: Any) -> Any:
        update = original(self, *args, **kwargs)
        if update is not None and hasattr(update, "render_segments"):
            from textual.app import active_app

            update.render_segments(active_app.get().console)
        now = time.perf_counter()
        _paints.append(now)
        if _paint_check is not None and _paint_check():
            _paint_hits.append(now)
        return update

    Compositor.render_update = render_update  # type: ignore[method-assign]


def make_source() -> str:
    """A 20,000-line Python file made of real Python (Textual's TextArea source, repeated)."""
    import textual.widgets._text_area as module

    src = Path(module.__file__).read_text(encoding="utf-8").split("\n")
    lines: list[str] = []
    while len(lines) < LINES:
        lines.extend(src)
    return "\n".join(lines[:LINES]) + "\n"


def watch_paint(check: Callable[[], bool]) -> None:
    """From now on, note the paints at which `check()` holds (set up *before* the action: a paint can happen
    while `pilot.press` is still waiting for the app to settle)."""
    global _paint_check
    _paint_hits.clear()
    _paint_check = check


async def wait_paint(check: Callable[[], bool] | None = None, timeout: float = 30.0) -> float:
    """Wait for the first paint at which the watched condition holds; return its time."""
    global _paint_check
    if check is not None:
        watch_paint(check)
    deadline = time.perf_counter() + timeout
    try:
        while not _paint_hits:
            if time.perf_counter() > deadline:
                raise TimeoutError("no paint satisfied the condition")
            await asyncio.sleep(0.0005)
        return _paint_hits[0]
    finally:
        _paint_check = None


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def type_keys(pilot: Any, area: TextArea, count: int, version: Callable[[], int]) -> list[float]:
    rng = random.Random(7)
    latencies = []
    for i in range(count):
        await asyncio.sleep(rng.uniform(0, 0.020))
        before = version()
        key = "abcdefghij"[i % 10]
        watch_paint(lambda before=before: version() != before)  # type: ignore[misc]
        t0 = time.perf_counter()
        await pilot.press(key)
        painted = await wait_paint()
        latencies.append((painted - t0) * 1000)
    return latencies


async def bench_ours(text: str) -> dict[str, float]:
    from services.config import Config
    from services.local.provider import LocalProvider
    from services.models import SandboxSpec
    from services.sandbox_service import SandboxService
    from tui.heap import settle_heap
    from widgets.editor import EditorTabs

    home = Path(tempfile.mkdtemp(prefix="sandbench-bench-"))
    os.environ["SANDBENCH_HOME"] = str(home)
    config = Config(identity="bench", data_dir=home)
    provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
    service = SandboxService(provider, config)
    results: dict[str, float] = {}
    try:
        box = await service.create(SandboxSpec(name="bench"))
        await service.write_file(box.id, "big.py", text.encode())

        class BenchApp(App[None]):
            def compose(self) -> ComposeResult:
                yield EditorTabs(service, box.id)

        app = BenchApp()
        async with app.run_test(size=SIZE) as pilot:
            tabs = app.query_one(EditorTabs)
            await pilot.pause()

            def first_screen_ready() -> bool:
                buf = tabs.buffer("big.py")
                if buf is None or not buf.editor.region.height:
                    return False
                top, bottom = buf.editor._visible_lines()
                spans = buf.editor.highlighter.spans
                return all(spans[i] is not None for i in range(top, bottom + 1))

            watch_paint(first_screen_ready)
            t0 = time.perf_counter()
            tabs.open_file("big.py")
            painted = await wait_paint()
            results["editor.open_first_screen"] = (painted - t0) * 1000
            buf = tabs.buffer("big.py")
            assert buf is not None
            editor = buf.editor
            assert editor.highlighter.active
            # what the workspace screen does once an opened file is painted (tui/screens/workspace.py)
            settle_heap()
            editor.go_to_line(LINES // 2, 9)
            await pilot.pause()
            doc = editor.fast_document
            # keystrokes start while the rest of the file is still being lexed in the background
            results["editor.background_pending_at_first_key"] = float(editor.highlighter.pending)
            try:
                lat = await type_keys(pilot, editor, KEYS, lambda: doc.version)
                results["editor.keystroke_p50"] = pct(lat, 50)
                results["editor.keystroke_p99"] = pct(lat, 99)
                results["editor.keystroke_max"] = max(lat)
                lat = await type_keys(pilot, editor, KEYS, lambda: doc.version)
                assert editor.scroll_offset.x > 0  # (the line is past the right edge: every key scrolled)
                results["editor.keystroke_hscroll_p50"] = pct(lat, 50)
                results["editor.keystroke_hscroll_p99"] = pct(lat, 99)
                # the highlight map is right where we typed
                assert editor._highlights[LINES // 2 - 1] is not None
            finally:
                # without the freeze: full passes walk the file's document and highlight state again
                gc.unfreeze()
            editor.go_to_line(LINES // 4, 9)
            await pilot.pause()
            lat = await type_keys(pilot, editor, KEYS, lambda: doc.version)
            results["editor.keystroke_nofreeze_p50"] = pct(lat, 50)
            results["editor.keystroke_nofreeze_p99"] = pct(lat, 99)
    finally:
        await provider.delete(box.id) if "box" in locals() else None
        await provider.close()
        service.audit.close()
        shutil.rmtree(home, ignore_errors=True)
    return results


async def bench_stock(text: str, language: str | None) -> dict[str, float]:
    class StockApp(App[None]):
        def compose(self) -> ComposeResult:
            yield Vertical(id="box")

    results: dict[str, float] = {}
    name = "stock.python" if language else "stock.plain"
    app = StockApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        holder: list[TextArea] = []
        watch_paint(lambda: bool(holder) and bool(holder[0].region.height))
        t0 = time.perf_counter()
        area = TextArea(text, language=language, show_line_numbers=True)
        holder.append(area)
        await app.query_one("#box").mount(area)
        painted = await wait_paint()
        results[f"{name}.open_first_screen"] = (painted - t0) * 1000
        area.focus()
        area.move_cursor((LINES // 2 - 1, 8), center=True)
        await pilot.pause()

        def version() -> int:
            return len(area.history.undo_stack) * 100_000 + sum(len(b) for b in area.history.undo_stack)

        lat = await type_keys(pilot, area, STOCK_KEYS, version)
        results[f"{name}.keystroke_p50"] = pct(lat, 50)
        results[f"{name}.keystroke_p99"] = pct(lat, 99)
    return results


def main() -> None:
    _install_paint_hook()
    text = make_source()
    print(f"# {LINES} lines, {len(text.encode()) / 1024:.0f} KiB of Python; terminal {SIZE[0]}x{SIZE[1]} headless")
    ours = asyncio.run(bench_ours(text))
    stock = asyncio.run(bench_stock(text, None))
    from textual._tree_sitter import TREE_SITTER

    stock_hl = asyncio.run(bench_stock(text, "python")) if TREE_SITTER else {}
    for key, value in {**ours, **stock, **stock_hl}.items():
        unit = "" if key.endswith("pending_at_first_key") else " ms"
        print(f"{key}={value:.1f}{unit}")
    if not TREE_SITTER:
        print("stock.python=unavailable (tree-sitter not installed; shared/performance.md: 1.2-1.3 s a key)")
    ratio = stock["stock.plain.keystroke_p50"] / ours["editor.keystroke_p50"]
    print(f"ratio.keystroke_p50_stock_plain_over_ours={ratio:.1f} x")
    bars = {
        "editor.open_first_screen": 150.0,
        "editor.keystroke_p50": 33.0,
        "editor.keystroke_p99": 50.0,
        "editor.keystroke_hscroll_p50": 33.0,
        "editor.keystroke_hscroll_p99": 50.0,
    }
    for key, bar in bars.items():
        print(f"bar.{key}={'pass' if ours[key] <= bar else 'FAIL'} (≤ {bar:.0f} ms)")


if __name__ == "__main__":
    main()
