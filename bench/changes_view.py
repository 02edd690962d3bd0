"""The Changes view's cost over a real local sandbox with many changed files, against the service call it cannot
avoid, measured in the same run.

    .venv/bin/python -m bench.changes_view

A sandbox of 6,000 files (in 60 folders) is checkpointed, then a real exec changes 2,000, adds 1,000 and deletes
500. Prints `metric=value unit` lines (medians of several runs):
- service_changes_ms: `CheckpointService.changes` alone (scan + compare): the reference, the view's floor.
- changes_view_open_ms: the view opened until its tree of 3,500 changes is painted (listing, the changes call,
  the rows, one frame); and changes_view_overhead_ms, the part that is the view's own (open minus the reference).
- change_rows_ms: building the tree's rows from the 3,500 changes (pure Python, no frame).
- diff_select_ms: the cursor moved to another file until its diff is painted (both sides read, diffed, drawn).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tui.screens.changes import ChangesScreen
from widgets.changes_tree import ChangesTree, change_rows
from widgets.diff_view import DiffView

RUNS = 5
SIZE = (160, 48)
SEED = "for d in $(seq 1 60); do mkdir -p d$d; for f in $(seq 1 100); do printf 'line one\\nline two\\n' > d$d/f$f.txt; done; done"  # noqa: E501
CHANGE = (
    "for d in $(seq 1 20); do for f in $(seq 1 100); do printf 'line one\\nline 2\\n' > d$d/f$f.txt; done; done; "
    "for d in $(seq 21 30); do for f in $(seq 1 100); do printf 'new\\n' > d$d/n$f.txt; done; done; "
    "for d in $(seq 31 35); do rm d$d/f*.txt; done"
)


def emit(metric: str, value: float, unit: str) -> None:
    print(f"{metric}={value:.1f} {unit}", flush=True)


class Bench(App[None]):
    def on_worker_failed(self, message: Any) -> None:
        print("worker failed:", message.error, file=sys.stderr)

    def __init__(self, service: SandboxService, sandbox_id: str) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id


async def wait(cond: Any, pilot: Any, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out waiting for {cond.__code__.co_firstlineno}")
        await pilot.pause(0.001)


async def measure(service: SandboxService, sandbox_id: str) -> tuple[float, float]:
    """One opening of the view: ms to its painted tree, and ms from a cursor move to the new diff painted."""
    app = Bench(service, sandbox_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = ChangesScreen(service, sandbox_id, "changes", None)
        t = time.perf_counter()
        await app.push_screen(screen)
        await wait(lambda: screen.loaded, pilot)
        tree = screen.query_one(ChangesTree)
        painted: list[float] = []
        real = tree.render_line

        def spy(y: int) -> Any:
            painted.append(time.perf_counter())
            return real(y)

        tree.render_line = spy  # type: ignore[method-assign]
        tree.refresh()
        await wait(lambda: bool(painted), pilot)
        opened = (painted[0] - t) * 1000
        view = screen.query_one(DiffView)
        target = next(i for i, r in enumerate(tree.rows) if not r.folder and i > tree.cursor + 1)
        path = tree.rows[target].path
        t = time.perf_counter()
        tree.select_index(target)
        await wait(lambda: screen.diff is not None and screen.diff.change.path == path, pilot)
        await wait(lambda: view.painted_at is not None, pilot)
        return opened, ((view.painted_at or t) - t) * 1000


async def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="sandbench-bench-"))
    os.environ["SANDBENCH_HOME"] = str(home)
    config = Config(identity="bench", data_dir=home)
    provider = LocalProvider(home, owner_label=config.owner_label)
    service = SandboxService(provider, config)
    try:
        info = await service.create(SandboxSpec(name="changes"))
        for script in (SEED,):
            r = await service.exec(info.id, ["sh", "-c", script], timeout=600)
            assert r.exit_code == 0, r.stderr
        base = await service.checkpoints.create(info.id, "base")
        r = await service.exec(info.id, ["sh", "-c", CHANGE], timeout=600)
        assert r.exit_code == 0, r.stderr

        refs, builds = [], []
        for _ in range(RUNS):
            t = time.perf_counter()
            cs = await service.checkpoints.changes(info.id, base.id)
            refs.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            change_rows(cs.changes)
            builds.append((time.perf_counter() - t) * 1000)
        assert len(cs.changes) >= 3500, len(cs.changes)

        opens, selects = [], []
        for _ in range(RUNS):
            opened, selected = await measure(service, info.id)
            opens.append(opened)
            selects.append(selected)
        ref, opened = statistics.median(refs), statistics.median(opens)
        emit("changes_count", len(cs.changes), "changes")
        emit("service_changes_ms", ref, "ms")
        emit("changes_view_open_ms", opened, "ms")
        emit("changes_view_overhead_ms", opened - ref, "ms")
        emit("change_rows_ms", statistics.median(builds), "ms")
        emit("diff_select_ms", statistics.median(selects), "ms")
    finally:
        for row in provider.store.all():
            await provider.delete(row.id)
        await provider.close()
        service.audit.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
