"""One watcher per workspace (issue 15, services/watch.WatchHub): what the explorer and the git panel cost while
a sandbox writes 1,000 files, sharing one watcher against each running its own, with the bare watcher alone as
the reference measured in the same run.

    .venv/bin/python -m bench.watch_share            # the three arrangements and the real workspace
    .venv/bin/python -m bench.watch_share --workspace-only   # just the real workspace's counts (runs on old trees)

Prints `metric=value unit` lines (medians of RUNS; each run in a fresh local sandbox holding a git repository):
- burst_cpu_ms_{bare,separate,shared}: CPU of this process (every thread: inotify, asyncio, Textual) from the
  start of the burst (`exec` of a shell loop writing 1,000 files at the workspace root; the writer's own CPU is
  the sandbox's, not ours) until the explorer lists the last file, git status shows it, and no batch came for
  QUIET s. `bare`: a `WorkspaceWatcher` consumed with nothing done per batch; `separate`: Explorer + GitPanel each
  with its own watcher (the arrangement before the hub); `shared`: both on one `WatchHub`.
- burst_cpu_{separate,shared}_over_bare: each against the reference.
- {separate,shared}_native_watchers / _inotify_watches: watcher threads and inotify watches alive while following.
- workspace_native_watchers / workspace_inotify_watches / workspace_burst_cpu_ms: the same in the real workspace
  screen (`SandbenchApp`, every pane real); `--workspace-only` runs just these, also on a tree from before the hub
  (`PYTHONPATH=<old tree> python bench/watch_share.py --workspace-only`), for a before/after.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService

RUNS = 3
FILES = 1000
QUIET = 1.0  # seconds without a batch: the burst is over for every consumer
TIMEOUT = 120.0
INIT = "git init -q -b main && git config user.name Ada && git config user.email ada@example.com"
BURST = f"i=0; while [ $i -lt {FILES} ]; do echo x > f$i.txt; i=$((i+1)); done"
LAST = f"f{FILES - 1}.txt"


def emit(metric: str, value: float, unit: str) -> None:
    print(f"{metric}={value:.1f} {unit}", flush=True)


def native_watchers() -> int:
    return sum(t.name.startswith("watch:") and t.is_alive() for t in threading.enumerate())


def inotify_watches() -> int:
    """inotify watches this process holds: one `inotify wd:` line per watch in the fdinfo of each inotify fd."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}") as f:
                n += sum(line.startswith("inotify wd:") for line in f)
        except OSError:
            continue
    return n


async def until(cond: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)


async def quiet(count: Callable[[], int]) -> None:
    """Until `count()` (batches seen) has not moved for QUIET seconds."""
    last, since = count(), time.monotonic()
    while time.monotonic() - since < QUIET:
        await asyncio.sleep(0.05)
        if count() != last:
            last, since = count(), time.monotonic()


async def fresh_box(service: SandboxService) -> str:
    await until(lambda: native_watchers() == 0, "the previous run's watchers closed")
    info = await service.create(SandboxSpec(name=f"bench-watch-{time.monotonic_ns()}"))
    r = await service.exec(info.id, ["sh", "-c", INIT])
    assert r.exit_code == 0, r.stderr
    return info.id


async def burst(service: SandboxService, sid: str) -> None:
    r = await service.exec(sid, ["sh", "-c", BURST])
    assert r.exit_code == 0, r.stderr


async def bare(service: SandboxService) -> float:
    from services.watch import WorkspaceWatcher

    sid = await fresh_box(service)
    w = WorkspaceWatcher(service, sid)
    seen: set[str] = set()

    async def consume() -> None:
        async for batch in w.batches():
            seen.update(batch.paths)

    task = asyncio.ensure_future(consume())
    try:
        await until(lambda: native_watchers() >= 1, "watcher up")
        await asyncio.sleep(0.5)  # the watches in place (this bench also runs on trees without `ready`)
        t0 = time.process_time()
        await burst(service, sid)
        await until(lambda: LAST in seen, "last file seen")
        await quiet(lambda: w.batches_yielded)
        return (time.process_time() - t0) * 1000
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await service.delete(sid)


class Panes(App[None]):
    """The two consumers of workspace changes, side by side: separately watched, or on one shared hub."""

    def __init__(self, service: SandboxService, sid: str, shared: bool) -> None:
        super().__init__()
        self.service, self.sid, self.shared = service, sid, shared
        self.hub: Any = None

    def compose(self) -> ComposeResult:
        from widgets.explorer import Explorer
        from widgets.git.panel import GitPanel

        if self.shared:
            from services.watch import WatchHub

            self.hub = WatchHub(self.service, self.sid)
        yield Explorer(self.service, self.sid, watch=self.hub if self.shared else True)
        yield GitPanel(self.service, self.sid)

    def on_mount(self) -> None:
        from widgets.git.panel import GitPanel

        panel = self.query_one(GitPanel)
        if self.shared:
            panel.follow_changes(hub=self.hub)
            self.run_worker(self.hub.run(), exit_on_error=False)
        else:
            panel.follow_changes()


async def panes(service: SandboxService, shared: bool) -> tuple[float, int, int]:
    from widgets.explorer import Explorer
    from widgets.git.panel import GitPanel

    sid = await fresh_box(service)
    app = Panes(service, sid, shared)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            explorer, panel = app.query_one(Explorer), app.query_one(GitPanel)
            await until(lambda: panel.status is not None and panel.following is not None, "panes up")
            await until(lambda: native_watchers() >= (1 if shared else 2), "watchers up")
            await asyncio.sleep(0.5)
            threads, watches = native_watchers(), inotify_watches()

            def batches() -> int:
                return int(explorer.watch_batches + panel.batches_seen)

            t0 = time.process_time()
            await burst(service, sid)
            await until(lambda: any(r.entry.path == LAST for r in explorer.rows), "explorer lists the burst")
            await until(lambda: panel.status is not None and LAST in panel.status.markers, "git shows the burst")
            await quiet(batches)
            cpu = (time.process_time() - t0) * 1000
            await pilot.pause()
        return cpu, threads, watches
    finally:
        await service.delete(sid)


async def workspace(service: SandboxService, config: Config) -> tuple[int, int, float]:
    from tui.app import SandbenchApp
    from tui.screens.workspace import WorkspaceScreen
    from widgets.explorer import Explorer
    from widgets.git.panel import GitPanel

    sid = await fresh_box(service)
    info = await service.get(sid)
    app = SandbenchApp(service, config, open_name=info.name)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(lambda: isinstance(app.screen, WorkspaceScreen) and bool(app.screen.query(GitPanel)), "open")
        panel = app.screen.query_one(GitPanel)
        await until(lambda: panel.status is not None and panel.following is not None, "git up")
        await until(lambda: native_watchers() >= 1, "watcher up")
        await asyncio.sleep(1.0)  # a second pane's watcher, if any, is up too
        threads, watches = native_watchers(), inotify_watches()
        explorer = app.screen.query_one(Explorer)
        t0 = time.process_time()
        await burst(service, sid)
        await until(lambda: any(r.entry.path == LAST for r in explorer.rows), "explorer lists the burst")
        await until(lambda: panel.status is not None and LAST in panel.status.markers, "git shows the burst")
        await quiet(lambda: int(explorer.watch_batches + panel.batches_seen))
        cpu = (time.process_time() - t0) * 1000
        await pilot.press("ctrl+q")
    return threads, watches, cpu


async def main() -> None:
    workspace_only = "--workspace-only" in sys.argv
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-watch-", dir="/tmp"))
    os.chmod(base, 0o711)
    try:
        config = Config(identity="bench", data_dir=base / "home", state_ttl=30.0)
        provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
        service = SandboxService(provider, config)
        try:
            if not workspace_only:
                refs = [await bare(service) for _ in range(RUNS)]
                results: dict[str, list[tuple[float, int, int]]] = {"separate": [], "shared": []}
                for _ in range(RUNS):  # interleaved, so a change in the machine's load hits both alike
                    for name in results:
                        results[name].append(await panes(service, name == "shared"))
                ref = statistics.median(refs)
                emit("burst_cpu_ms_bare", ref, "ms")
                for name, runs in results.items():
                    cpu = statistics.median(r[0] for r in runs)
                    emit(f"burst_cpu_ms_{name}", cpu, "ms")
                    emit(f"burst_cpu_{name}_over_bare", cpu / ref, "x")
                    emit(f"{name}_native_watchers", max(r[1] for r in runs), "threads")
                    emit(f"{name}_inotify_watches", max(r[2] for r in runs), "watches")
            runs = [await workspace(service, config) for _ in range(RUNS)]
            emit("workspace_native_watchers", max(r[0] for r in runs), "threads")
            emit("workspace_inotify_watches", max(r[1] for r in runs), "watches")
            emit("workspace_burst_cpu_ms", statistics.median(r[2] for r in runs), "ms")
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
