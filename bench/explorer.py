"""Explorer and fuzzy finder speed, with Textual's stock DirectoryTree as the reference in the same run.

    .venv/bin/python -m bench.explorer

Prints `metric=value unit` lines (medians of several runs; the machine is noisy, so the reference is re-measured
here rather than taken from ../shared/performance.md):
- explorer_open_10k_ms: a 10,000-entry folder opened in the Explorer (enter on it) until its rows are painted:
  the real `SandboxService.list_dir` of a local sandbox, the flattening, one frame. Bar <= 100 ms.
- service_list_dir_10k_ms: the `list_dir` call alone (the provider's share of the above), and
  explorer_flatten_paint_10k_ms: from the listing's arrival (row rebuild start) to the painted frame (ours).
- explorer_mount_10k_ms vs directory_tree_mount_10k_ms: mount to first painted entries with 10,000 entries at the
  root, the Explorer against a stock `DirectoryTree` on the same host folder; and their ratio.
- explorer_scroll_key_ms: pagedown in that folder, key to paint (p50).
- fuzzy_keystroke_{p50,p95,max}_ms: `FuzzyMatcher.search` per keystroke over 20,000 paths while typing several
  queries one character at a time (incremental). Bar <= 30 ms.
- finder_keystroke_{p50,max}_ms: the same in the FuzzyFinder modal, from the Input's new value to the result
  list painted (includes waiting for the next frame, up to ~16 ms).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult
from textual.widgets import DirectoryTree, Input, OptionList

from services.config import Config
from services.fuzzy import FuzzyMatcher
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from widgets.explorer import Explorer
from widgets.fuzzy_finder import FuzzyFinder

RUNS = 5
ENTRIES = 10_000
FUZZY_PATHS = 20_000
QUERIES = ["mdnm", "srcdeepmodule", "modnam.py", "handlerstest", "cfgjson", "xyz"]
SIZE = (120, 40)


def emit(metric: str, value: float, unit: str) -> None:
    print(f"{metric}={value:.1f} {unit}", flush=True)


def corpus(n: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    words = (
        "src lib app core utils test tests widgets services models views api handlers config deep module name "
        "index main helpers parser render tree node data io net http client server db schema migrations static "
        "assets components hooks store"
    ).split()
    exts = [".py", ".ts", ".js", ".md", ".json", ".txt", ".rs", ".go", ".css", ".html"]
    out: set[str] = {"src/deep/module_name.py"}
    while len(out) < n:
        segs = [rnd.choice(words) + (str(rnd.randint(0, 30)) if rnd.random() < 0.3 else "") for _ in range(5)]
        segs = segs[: rnd.randint(1, 5)]
        out.add("/".join([*segs, "_".join(rnd.sample(words, rnd.randint(1, 3))) + rnd.choice(exts)]))
    return sorted(out)


class Frames:
    """When a widget was rendered, and with how many rows: `render_lines` is called once per frame that shows it."""

    def __init__(self) -> None:
        self.log: list[tuple[float, int]] = []
        self.rebuilds: list[tuple[float, int]] = []  # Explorer only: (start of a row rebuild, rows after it)

    def first_after(self, t0: float, rows: int) -> float | None:
        for t, n in self.log:
            if t >= t0 and n >= rows:
                return t
        return None


def timed(cls: type[Any], frames: Frames, count: Callable[[Any], int]) -> type[Any]:
    class Timed(cls):
        def render_lines(self, crop: Any) -> Any:
            frames.log.append((time.perf_counter(), count(self)))
            return super().render_lines(crop)

        def _rebuild(self) -> None:
            t = time.perf_counter()
            super()._rebuild()
            frames.rebuilds.append((t, count(self)))

    Timed.__name__ = cls.__name__  # keep the CSS type selectors working
    return Timed


async def until(pred: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not pred():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.005)  # timings come from recorded timestamps; polling only has to not steal the GIL


class ExplorerApp(App[None]):
    def __init__(self, service: SandboxService, sandbox_id: str, frames: Frames) -> None:
        super().__init__()
        self.service, self.sandbox_id, self.frames = service, sandbox_id, frames

    def compose(self) -> ComposeResult:
        yield timed(Explorer, self.frames, lambda ex: len(ex.rows))(self.service, self.sandbox_id, watch=False)


class TreeApp(App[None]):
    def __init__(self, path: Path, frames: Frames) -> None:
        super().__init__()
        self.path, self.frames = path, frames

    def compose(self) -> ComposeResult:
        yield timed(DirectoryTree, self.frames, lambda tree: len(tree.root.children))(self.path)


async def explorer_open(service: SandboxService, sandbox_id: str) -> tuple[float, float, float]:
    frames = Frames()
    app = ExplorerApp(service, sandbox_id, frames)
    async with app.run_test(size=SIZE) as pilot:
        ex = app.query_one(Explorer)
        ex.focus()
        await until(lambda: len(ex.rows) > 0)
        await pilot.pause()
        ex.move_cursor([r.entry.path for r in ex.rows].index("big"))
        await pilot.pause()
        t0 = time.perf_counter()
        ex.action_open()
        await until(lambda: frames.first_after(t0, ENTRIES) is not None)
        painted = frames.first_after(t0, ENTRIES) or 0
        opened = (painted - t0) * 1000
        listed = next(t for t, n in frames.rebuilds if t >= t0 and n >= ENTRIES)
        own = (painted - listed) * 1000
        keys = []  # one key in the big folder: pagedown to paint
        for _ in range(5):
            await pilot.pause()
            t0 = time.perf_counter()
            ex.action_page_down()
            await until(lambda t0=t0: frames.first_after(t0, 0) is not None)  # type: ignore[misc]
            keys.append(((frames.first_after(t0, 0) or 0) - t0) * 1000)
        return opened, own, statistics.median(keys)


async def explorer_mount(service: SandboxService, sandbox_id: str) -> float:
    frames = Frames()
    t0 = time.perf_counter()
    app = ExplorerApp(service, sandbox_id, frames)
    async with app.run_test(size=SIZE):
        await until(lambda: frames.first_after(t0, ENTRIES) is not None)
        return ((frames.first_after(t0, ENTRIES) or 0) - t0) * 1000


async def tree_mount(path: Path) -> float:
    frames = Frames()
    t0 = time.perf_counter()
    app = TreeApp(path, frames)
    async with app.run_test(size=SIZE):
        await until(lambda: frames.first_after(t0, ENTRIES) is not None, 60)
        return ((frames.first_after(t0, ENTRIES) or 0) - t0) * 1000


async def list_dir_alone(service: SandboxService, sandbox_id: str, path: str, *, details: bool = True) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        await service.list_dir(sandbox_id, path, details=details)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def finder_keystrokes(service: SandboxService, sandbox_id: str) -> list[float]:
    frames = Frames()
    original = OptionList.render_lines

    def render_lines(self: OptionList, crop: Any) -> Any:  # the finder's result list, timed (restored below)
        frames.log.append((time.perf_counter(), self.option_count))
        return original(self, crop)

    class FinderApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(FuzzyFinder(service, sandbox_id))

    app = FinderApp()
    times: list[float] = []
    OptionList.render_lines = render_lines  # type: ignore[method-assign]
    try:
        await _type_queries(app, frames, times)
    finally:
        OptionList.render_lines = original  # type: ignore[method-assign]
    return times


async def _type_queries(app: App[None], frames: Frames, times: list[float]) -> None:
    async with app.run_test(size=SIZE) as pilot:
        finder = app.screen
        assert isinstance(finder, FuzzyFinder)
        await until(lambda: finder.matcher is not None)
        field = finder.query_one(Input)
        for query in QUERIES:
            field.value = ""
            await pilot.pause()
            for k in range(1, len(query) + 1):
                await pilot.pause()
                t0 = time.perf_counter()
                field.value = query[:k]
                try:
                    await until(lambda t0=t0: frames.first_after(t0, 0) is not None, 2.0)  # type: ignore[misc]
                except TimeoutError:
                    continue  # nothing to repaint (e.g. still no results)
                times.append(((frames.first_after(t0, 0) or 0) - t0) * 1000)


def fuzzy_keystrokes(paths: list[str]) -> tuple[list[float], float]:
    t0 = time.perf_counter()
    matcher = FuzzyMatcher(paths)
    build = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(3):
        for query in QUERIES:
            matcher.search("")
            for k in range(1, len(query) + 1):
                t0 = time.perf_counter()
                matcher.search(query[:k], 50)
                times.append((time.perf_counter() - t0) * 1000)
    return times, build


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-explorer-", dir="/tmp"))
    os.chmod(base, 0o711)
    try:
        config = Config(identity="bench", data_dir=base / "home", state_ttl=30.0)
        provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
        service = SandboxService(provider, config)
        try:
            info = await service.create(SandboxSpec(name="bench-explorer"))
            ws = provider._workspace(info.id)
            big = ws / "big"
            big.mkdir()
            for i in range(ENTRIES):
                (big / f"file_{i:05}.txt").touch()

            emit("service_list_dir_10k_ms", await list_dir_alone(service, info.id, "big"), "ms")
            # what the explorer asks for: names and kinds, no stat per entry
            emit("service_list_dir_10k_names_ms", await list_dir_alone(service, info.id, "big", details=False), "ms")
            opens, owns, keys = [], [], []
            for _ in range(RUNS):
                o, w, k = await explorer_open(service, info.id)
                opens.append(o)
                owns.append(w)
                keys.append(k)
            emit("explorer_open_10k_ms", statistics.median(opens), "ms")
            emit("explorer_flatten_paint_10k_ms", statistics.median(owns), "ms")
            emit("explorer_scroll_key_ms", statistics.median(keys), "ms")

            # 10,000 entries at the root of a second sandbox: mount-to-paint, ours against the stock tree
            info2 = await service.create(SandboxSpec(name="bench-explorer-root"))
            ws2 = provider._workspace(info2.id)
            for i in range(ENTRIES):
                (ws2 / f"file_{i:05}.txt").touch()
            ours = [await explorer_mount(service, info2.id) for _ in range(RUNS)]
            stock = [await tree_mount(ws2) for _ in range(3)]
            emit("explorer_mount_10k_ms", statistics.median(ours), "ms")
            emit("directory_tree_mount_10k_ms", statistics.median(stock), "ms")
            emit("explorer_vs_directory_tree", statistics.median(stock) / statistics.median(ours), "x")

            paths = corpus(FUZZY_PATHS)
            times, build = fuzzy_keystrokes(paths)
            emit("fuzzy_index_20k_ms", build, "ms")
            emit("fuzzy_keystroke_p50_ms", statistics.median(times), "ms")
            emit("fuzzy_keystroke_p95_ms", pct(times, 0.95), "ms")
            emit("fuzzy_keystroke_max_ms", max(times), "ms")

            info3 = await service.create(SandboxSpec(name="bench-finder"))
            ws3 = provider._workspace(info3.id)
            for p in paths:
                target = ws3 / p
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
            ftimes = await finder_keystrokes(service, info3.id)
            emit("finder_keystroke_p50_ms", statistics.median(ftimes), "ms")
            emit("finder_keystroke_max_ms", max(ftimes), "ms")
        finally:
            for row in provider.store.all():
                try:
                    await provider.delete(row.id)
                except Exception as exc:
                    print(f"# cleanup of {row.id} failed: {exc}", file=sys.stderr)
            await provider.close()
            service.audit.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
