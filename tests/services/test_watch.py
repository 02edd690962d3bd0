"""services.watch against a real local sandbox: real files written into its workspace, native and polling paths."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from services.local.provider import LocalProvider
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from services.watch import ChangeBatch, WatchHub, WorkspaceWatcher, local_workspace, scan_dirs, watch_changes
from tests.conftest import wait_until


def _ws(provider: LocalProvider, sandbox: SandboxInfo) -> Path:
    return provider._workspace(sandbox.id)


class Collector:
    """Runs an async iterator in a task and keeps what it yields, with arrival times."""

    def __init__(self, source: AsyncIterator[Any]) -> None:
        self.items: list[tuple[float, Any]] = []
        self._source = source
        self.task: asyncio.Task[None] = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for item in self._source:
            self.items.append((time.monotonic(), item))

    async def wait_for(self, pred: Callable[[list[Any]], bool], timeout: float = 5.0) -> None:
        """`pred` over what arrived, awaited (fails naming it and showing what came, after `timeout` s)."""
        items = lambda: [i for _, i in self.items]  # noqa: E731
        await wait_until(None, lambda: pred(items()), "", timeout, show=lambda: repr(items())[-500:])

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def _started(w: WorkspaceWatcher) -> Collector:
    c = Collector(w.batches())
    await asyncio.wait_for(w.ready.wait(), 20)  # watches in place (or the first snapshot taken): awaited, not slept
    return c


def _all_dirs(items: list[ChangeBatch]) -> set[str]:
    return set().union(*(b.dirs for b in items)) if items else set()


async def test_local_sandbox_watches_natively(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    assert local_workspace(service, sandbox.id) == _ws(provider, sandbox)
    assert WorkspaceWatcher(service, sandbox.id).mode == "native"
    assert WorkspaceWatcher(service, sandbox.id, mode="poll").mode == "poll"


async def test_single_change_is_one_batch_without_waiting_for_the_burst_window(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    ws = _ws(provider, sandbox)
    (ws / "sub").mkdir()
    # a burst window longer than the wait: a lone change must be yielded after the quiet window, not held for it
    # (the wait is the assert; a wall-clock bound was flaky on a loaded machine)
    c = await _started(WorkspaceWatcher(service, sandbox.id, max_batch_ms=60_000))
    try:
        (ws / "sub" / "hello.txt").write_text("hi")
        await c.wait_for(lambda items: len(items) >= 1, 30.0)
        batch = c.items[0][1]
        assert batch.dirs == {"sub"}
        assert "sub/hello.txt" in batch.paths
        await asyncio.sleep(0.5)
        assert len(c.items) == 1
    finally:
        await c.stop()


async def test_a_burst_of_5000_files_is_at_most_two_batches(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    ws = _ws(provider, sandbox)
    (ws / "burst").mkdir()
    c = await _started(WorkspaceWatcher(service, sandbox.id))
    try:

        def burst() -> None:
            for i in range(5000):
                os.close(os.open(ws / "burst" / f"f{i:04}.txt", os.O_CREAT | os.O_WRONLY, 0o644))

        t = threading.Thread(target=burst)
        t0 = time.monotonic()
        t.start()
        await asyncio.to_thread(t.join)
        took = time.monotonic() - t0
        await c.wait_for(lambda items: any("burst/f4999.txt" in b.paths for b in items), 5.0)
        await asyncio.sleep(0.6)
        batches = [b for _, b in c.items]
        # one or two; a writer slowed past 2 s by a loaded machine gets one report per 2 s (progress stays visible)
        assert 1 <= len(batches) <= 2 + int(took // 2.0), ([len(b.paths) for b in batches], took)
        assert _all_dirs(batches) == {"burst"}
    finally:
        await c.stop()


async def test_content_change_is_a_path_not_a_folder(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    ws = _ws(provider, sandbox)
    (ws / "log.txt").write_text("a")
    c = await _started(WorkspaceWatcher(service, sandbox.id))
    try:
        with (ws / "log.txt").open("a") as f:
            f.write("more")
        await c.wait_for(lambda items: any("log.txt" in b.paths for b in items), 2.0)
        assert _all_dirs([b for _, b in c.items]) == set()
    finally:
        await c.stop()


async def test_new_folders_are_watched_and_reported(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    ws = _ws(provider, sandbox)
    c = await _started(WorkspaceWatcher(service, sandbox.id))
    try:
        (ws / "a" / "b").mkdir(parents=True)
        (ws / "a" / "b" / "early.txt").write_text("1")
        await c.wait_for(lambda items: {"", "a", "a/b"} <= _all_dirs(items), 3.0)
        n = len(c.items)
        await asyncio.sleep(0.3)
        (ws / "a" / "b" / "late.txt").write_text("2")  # only seen if a/b is watched now
        await c.wait_for(lambda items: len(items) > n and "a/b/late.txt" in items[-1].paths, 3.0)
        shutil.rmtree(ws / "a")
        await c.wait_for(lambda items: "" in items[-1].dirs, 3.0)
    finally:
        await c.stop()


async def test_symlinks_out_of_the_workspace_are_not_followed(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    ws = _ws(provider, sandbox)
    outside = Path(tempfile.mkdtemp(prefix="sandbench-outside-"))
    try:
        (outside / "sub").mkdir()
        os.symlink(outside, ws / "escape")
        assert "escape" not in scan_dirs(ws) and "escape/sub" not in scan_dirs(ws)
        c = await _started(WorkspaceWatcher(service, sandbox.id))
        try:
            (outside / "sub" / "secret.txt").write_text("host file")
            (outside / "x.txt").write_text("host file")
            await asyncio.sleep(0.8)
            assert c.items == []
            (ws / "inside.txt").write_text("ok")
            await c.wait_for(lambda items: len(items) == 1, 2.0)
            assert all(not p.startswith("escape/") for p in c.items[0][1].paths)
        finally:
            await c.stop()
    finally:
        shutil.rmtree(outside, ignore_errors=True)


async def test_git_changes_are_flagged_but_not_descended(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    ws = _ws(provider, sandbox)
    (ws / ".git" / "objects").mkdir(parents=True)
    assert ".git" in scan_dirs(ws) and ".git/objects" not in scan_dirs(ws)
    c = await _started(WorkspaceWatcher(service, sandbox.id))
    try:
        (ws / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        await c.wait_for(lambda items: any(b.git for b in items), 2.0)
    finally:
        await c.stop()


async def test_cancel_stops_promptly_and_ends_the_thread(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    c = await _started(WorkspaceWatcher(service, sandbox.id))
    await asyncio.wait_for(c.stop(), 10)  # the consumer's cancel does not wait for the thread
    # the thread notices its stop event within a step: awaited as an event, not timed against the wall clock
    await wait_until(
        None, lambda: not any(t.name.startswith("watch:") for t in threading.enumerate()), "watch thread ends", 10
    )


async def test_polling_listed_folders(service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo) -> None:
    ws = _ws(provider, sandbox)
    (ws / "d").mkdir()
    (ws / "d" / "f.txt").write_text("1")
    w = WorkspaceWatcher(service, sandbox.id, mode="poll", poll_interval=0.2, dirs=lambda: ["", "d"])
    assert w.mode == "poll"
    c = await _started(w)
    try:
        (ws / "d" / "g.txt").write_text("new")
        await c.wait_for(lambda items: "d" in _all_dirs(items), 3.0)
        assert "d/g.txt" in c.items[-1][1].paths
        n = len(c.items)
        (ws / "d" / "f.txt").write_text("changed size")
        await c.wait_for(lambda items: len(items) > n, 3.0)
        assert c.items[-1][1].paths == {"d/f.txt"} and c.items[-1][1].dirs == set()
        shutil.rmtree(ws / "d")
        await c.wait_for(lambda items: "" in items[-1].dirs, 3.0)
    finally:
        await c.stop()


async def test_polling_whole_workspace_by_file_list(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    ws = _ws(provider, sandbox)
    c = Collector(watch_changes(service, sandbox.id, poll_interval=0.2, force_polling=True))
    try:
        await asyncio.sleep(0.5)  # the baseline snapshot
        (ws / "x" / "y").mkdir(parents=True)
        (ws / "x" / "y" / "z.txt").write_text("1")
        for i in range(300):
            (ws / f"top{i}.txt").write_text("1")
        await c.wait_for(lambda items: bool(items) and {"", "x", "x/y"} <= set().union(*items), 3.0)
        assert all(isinstance(s, set) and all(isinstance(p, str) for p in s) for s in c.items and [c.items[0][1]])
        assert len(c.items) <= 2  # one round of polling is one batch (two if the writes straddled a round)
    finally:
        await c.stop()


async def test_watch_changes_native_yields_folder_sets(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    ws = _ws(provider, sandbox)
    c = Collector(watch_changes(service, sandbox.id))
    try:
        await asyncio.sleep(0.3)
        (ws / "one.txt").write_text("1")
        await c.wait_for(lambda items: items == [{""}], 2.0)
    finally:
        await c.stop()


@pytest.mark.parametrize("forced", [True, False])
async def test_watcher_over_a_missing_sandbox_folder_polls(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo, forced: bool
) -> None:
    if not forced:
        shutil.rmtree(_ws(provider, sandbox))
    w = WorkspaceWatcher(service, sandbox.id, mode="poll" if forced else "auto")
    assert w.mode == "poll"


async def test_one_hub_feeds_every_subscriber_and_polls_the_union_of_their_folders(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    ws = _ws(provider, sandbox)
    (ws / "a").mkdir()
    (ws / "b").mkdir()
    hub = WatchHub(service, sandbox.id, mode="poll", poll_interval=0.2)
    first: list[ChangeBatch] = []
    second: list[ChangeBatch] = []

    def broken(batch: ChangeBatch) -> None:
        raise RuntimeError("a listener's bug")

    hub.subscribe(broken)  # must not stop the others hearing changes
    hub.subscribe(first.append, dirs=lambda: ["a"])
    stop_second = hub.subscribe(second.append, dirs=lambda: ["b"])
    task = asyncio.ensure_future(hub.run())
    try:
        await asyncio.wait_for(hub.watcher.ready.wait(), 20)
        (ws / "a" / "x.txt").write_text("1")  # only polled because the first subscriber names "a"
        (ws / "b" / "y.txt").write_text("1")  # ... and this because the second names "b"
        want = {"a/x.txt", "b/y.txt"}
        await wait_until(None, lambda: want <= set().union(*(b.paths for b in first)), "both seen", 20)
        await wait_until(None, lambda: want <= set().union(*(b.paths for b in second)), "both seen", 20)
        assert [b.paths for b in first] == [b.paths for b in second]  # the same batches, from the one watcher

        stop_second()
        (ws / "a" / "z.txt").write_text("1")
        await wait_until(None, lambda: any("a/z.txt" in b.paths for b in first), "seen after unsubscribe", 20)
        assert not any("a/z.txt" in b.paths for b in second)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not hub.running
