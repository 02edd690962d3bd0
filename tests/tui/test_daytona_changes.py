"""The app's Changes view (F9) on a Daytona sandbox: the real app under Pilot over DaytonaProvider → the real SDK →
`sandbench serve`. The changes are computed inside the sandbox (services/checkpoints/remote.py); what the user sees
is the local view's: A/M/D markers, the diff of the selected file, and `r` restoring it byte for byte."""

from __future__ import annotations

import pytest

from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.serve_helpers import unique
from tests.tui import test_daytona_app as dt
from tests.tui.conftest import PLACEHOLDERS, fixed_clock, open_workspace
from tests.tui.test_changes_app import MOD_AFTER, MOD_BEFORE, diff_text, open_changes, select, tree_rows
from tui.app import SandbenchApp

serve = dt.serve  # the shared fixtures
dservice = dt.dservice

pytestmark = [pytest.mark.timeout(180), pytest.mark.bwrap]


async def test_changes_view_over_daytona_shows_diffs_and_restores(dservice: SandboxService) -> None:
    box = await dservice.create(SandboxSpec(name=unique("chg")))
    await dservice.mkdir(box.id, "src")
    await dservice.write_file(box.id, "src/mod.txt", MOD_BEFORE)
    await dservice.write_file(box.id, "gone.txt", b"to be deleted\n")
    await dservice.checkpoints.create(box.id, "base")
    script = "sed -i 's/^line 3$/line three/; s/^line 25$/line twenty-five/' src/mod.txt; rm gone.txt; echo n > new.txt"
    assert (await dservice.exec(box.id, ["sh", "-c", script])).exit_code == 0
    assert (await dservice.read_file(box.id, "src/mod.txt")).data == MOD_AFTER

    app = SandbenchApp(dservice, dservice.config, clock=fixed_clock, panes=PLACEHOLDERS)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workspace(pilot, app)
        screen = await open_changes(pilot, app)
        assert screen.since is not None and screen.since.message == "base"
        rows = " | ".join(tree_rows(screen))
        assert "M mod.txt" in rows and "A new.txt" in rows and "D gone.txt" in rows, rows
        view = await select(pilot, screen, "src/mod.txt")
        text = diff_text(view)
        assert "-line 3" in text and "+line three" in text and "+line twenty-five" in text
        await pilot.press("r")
        await wait_until(pilot, lambda: "M mod.txt" not in " ".join(tree_rows(screen)), timeout=30)
        assert (await dservice.read_file(box.id, "src/mod.txt")).data == MOD_BEFORE
