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
from services.watch import ChangeBatch, WorkspaceWatcher, local_workspace, scan_dirs, watch_changes
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
    await asyncio.sleep(0.3)  # watches in place
    return c


def _all_dirs(items: list[ChangeBatch]) -> set[str]:
    return set().union(*(b.dirs for b in items)) if items else set()


async def test_local_sandbox_watches_natively(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    assert local_workspace(service, sandbox.id) == _ws(provider, sandbox)
    assert WorkspaceWatcher(service, sandbox.id).mode == "native"
    assert WorkspaceWatcher(service, sandbox.id, mode="poll").mode == "poll"


async def test_single_change_is_one_batch_within_a_second(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    ws = _ws(provider, sandbox)
    (ws / "sub").mkdir()
    c = await _started(WorkspaceWatcher(service, sandbox.id))
    try:
        t0 = time.monotonic()
        (ws / "sub" / "hello.txt").write_text("hi")
        await c.wait_for(lambda items: len(items) >= 1, 2.0)
        arrived, batch = c.items[0]
        assert arrived - t0 < 1.0
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
    t0 = time.monotonic()
    await c.stop()
    assert time.monotonic() - t0 < 0.5
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(t.name.startswith("watch:") for t in threading.enumerate()):
        await asyncio.sleep(0.02)
    assert not any(t.name.startswith("watch:") for t in threading.enumerate())


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
