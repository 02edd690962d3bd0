"""A name too long for the explorer ends in `…`, so a cut name never passes for a whole one (issue 11 §6); a name
that fits is drawn whole, without one. The real explorer over a real local sandbox."""

from __future__ import annotations

from services.local.provider import LocalProvider
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.widgets.test_explorer import ExplorerApp, lines, names, ws
from widgets.explorer import Explorer

LONG = "a_file_name_much_longer_than_the_pane_is_wide.txt"


async def test_cut_names_end_in_an_ellipsis(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    (root / LONG).write_text("x")
    (root / "short.txt").write_text("x")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test(size=(30, 10)) as pilot:
        ex = app.query_one(Explorer)
        await wait_until(pilot, lambda: names(ex) == [LONG, "short.txt"])
        long_row, short_row = lines(ex, 2)
        width = ex.scrollable_content_region.width
        assert len(long_row) == width and long_row.endswith("…")
        assert long_row.rstrip("…").strip() in LONG  # the start of the name, cut
        assert "…" not in short_row and short_row.strip() == "short.txt"
        ex.set_git_status({LONG: "M"})  # with a git marker the name still ends in … before it
        await pilot.pause()
        row = lines(ex, 1)[0]
        assert row.endswith("… M ") and len(row) == width
