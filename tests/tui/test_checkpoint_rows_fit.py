"""The checkpoint tree (shift+F9) at 80x24 through the real app on a real local sandbox: every row shows what its
checkpoint added (`+28 …`) and its whole id, indented rows too — the message is what gets cut — under a header that
names the column; the rows read newest first, a child above its parent, as `sandbench checkpoints` prints them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import Static

from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import PLACEHOLDERS, open_workspace
from tui.app import SandbenchApp
from tui.screens.checkpoints import CheckpointsScreen
from widgets.checkpoint_tree import CheckpointRow, CheckpointTree, added_text

pytestmark = pytest.mark.bwrap


@pytest.fixture
async def box(service: SandboxService) -> SandboxInfo:
    info = await service.create(SandboxSpec(name="box"))
    await service.write_file(info.id, "a.txt", b"one\n")
    base = await service.checkpoints.create(info.id, "base: a long message that cannot fit beside everything else")
    for i in range(28):
        await service.write_file(info.id, f"f{i}.txt", f"{i}\n".encode() * 40)
    await service.checkpoints.create(info.id, "many files, and a message long enough to be cut at eighty columns")
    await service.checkpoints.restore(info.id, base.id)
    await service.write_file(info.id, "o.txt", b"other\n")
    await service.checkpoints.create(info.id, "a branch from base, with its own long message to cut first")
    return info


async def test_rows_keep_their_counts_sizes_and_ids_at_80_columns(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_workspace(pilot, app)
        await pilot.press("shift+f9")
        await wait_until(pilot, lambda: isinstance(app.screen, CheckpointsScreen) and app.screen.loaded)
        screen: Any = app.screen
        tree = screen.query_one(CheckpointTree)
        rows = [r for r in tree.rows if isinstance(r, CheckpointRow)]
        assert len(rows) == 4 and any(r.depth > 0 for r in rows)  # a branch: an indented row
        assert rows[0].ckpt.message.startswith("a branch")  # newest first
        by_id = {r.ckpt.id: i for i, r in enumerate(rows)}
        for i, r in enumerate(rows):  # a child above its parent
            if r.ckpt.parent in by_id:
                assert by_id[r.ckpt.parent] > i
        await pilot.pause()
        many = next(r.ckpt for r in rows if r.ckpt.files_added >= 28)
        assert added_text(many).startswith("+28 ")
        for i, r in enumerate(rows):
            line = tree.render_line(i).text
            assert added_text(r.ckpt) in line, (line, added_text(r.ckpt))
            assert r.ckpt.id in line, line  # the whole id, as the CLI and messages say it
            assert "…" in line  # the long message is what was cut
        header = str(screen.query_one("#ck-header", Static).render())
        assert "added" in header and "+files size" in header
