"""Closed editor tabs are freed: the heap settling done at every file open (`tui.heap`) must not keep them alive.

The real app under Pilot opens and closes 200 files through the real editor, 20 tabs at a time; afterwards the
editor objects (`CodeEditor`, its document and highlighter) of every closed tab are gone. Weak references count
them: frozen objects (`gc.freeze`) are invisible to `gc.get_objects()`, which is how the leak hid."""

from __future__ import annotations

import gc
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.tui.conftest import wait_for
from tests.tui.test_workspace import _open
from tui.app import SandbenchApp
from widgets.editor import EditorTabs

FILES = 200
BATCH = 20  # tabs open at once
SOURCE = "".join(f"def f{i}(x):\n    return x * {i}  # line {i}\n\n" for i in range(100))


async def _open_then_close(
    pilot: Pilot[Any], tabs: EditorTabs, paths: list[str], refs: list[weakref.ref[object]]
) -> None:
    """Open `paths` as tabs one by one (each painted, so the workspace screen settles — freezes — the heap with it
    open), then close them all."""
    for path in paths:
        worker = tabs.open_file(path)
        assert worker is not None
        await worker.wait()
        await wait_for(pilot, lambda: tabs.active_path == path)  # noqa: B023 (awaited in this iteration)
        editor = tabs.active_editor
        assert editor is not None
        refs += [weakref.ref(editor), weakref.ref(editor.document), weakref.ref(editor.highlighter)]
        del editor
        await pilot.pause()
    for path in paths:
        await tabs.close_file(path).wait()
    await wait_for(pilot, lambda: tabs.active_path is None)
    await pilot.pause()


@pytest.mark.timeout(300)
async def test_closed_tabs_are_freed(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    box = await service.create(SandboxSpec(name="box"))
    for i in range(FILES):
        await service.write_file(box.id, f"m{i:03}.py", SOURCE.encode())
    refs: list[weakref.ref[object]] = []
    app = make_app()
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            screen = await _open(pilot, app)
            tabs = screen.query_one("#editor", EditorTabs)
            blocks_before = sys.getallocatedblocks()
            started = time.perf_counter()
            for first in range(0, FILES, BATCH):
                await _open_then_close(pilot, tabs, [f"m{i:03}.py" for i in range(first, first + BATCH)], refs)
            elapsed = time.perf_counter() - started
            alive = sum(r() is not None for r in refs)
            blocks_after = sys.getallocatedblocks()
    finally:
        gc.unfreeze()  # the next tests start from a thawed heap
    print(
        f"\n{FILES} open/close in {elapsed:.1f} s; editor objects alive {alive} of {len(refs)}; "
        f"allocated blocks {blocks_before} -> {blocks_after}"
    )
    assert alive <= len(refs) // 10, f"{alive} of {len(refs)} editor objects of closed tabs are still alive"
