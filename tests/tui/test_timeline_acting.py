"""The Timeline shows an agent acting for you (a `sandbench serve` token acting under its own name: audit entries
`"who": "claude", "for": <you>`) as "claude", never as "you": in its row, in the details ("by claude for you"),
and under the `who:` filter — and the entry stays yours to restore from (the sandbox is yours)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.widgets import Static

from services.audit import acting_as
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.test_timeline_app import open_from_list, rows, shown
from tui.app import SandbenchApp
from widgets.dialogs import ConfirmDialog

pytestmark = pytest.mark.bwrap


async def test_an_agent_acting_for_you_shows_as_its_own_name(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.write_file(box.id, "mine.txt", b"me\n")
    await service.checkpoints.create(box.id, "before the agent")
    with acting_as("claude"):  # what serve's middleware does for an acting token's request
        await service.write_file(box.id, "agent.txt", b"claude was here\n")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        timeline = await open_from_list(pilot, app)
        await wait_until(pilot, lambda: rows(timeline)[:1] == ["write agent.txt"], show=lambda: repr(rows(timeline)))
        agent_row = "".join(seg.text for seg in timeline.timeline.render_line(0))
        assert "claude" in agent_row and "you" not in agent_row
        mine = next(i for i, e in enumerate(timeline.timeline.rows) if e.what == "write mine.txt")
        assert "you" in "".join(seg.text for seg in timeline.timeline.render_line(mine))
        assert timeline.timeline.rows[0].acting_for == service.identity

        await pilot.press("home", "enter")
        head = timeline.query_one("#detail-head", Static)
        await wait_until(pilot, lambda: "by claude for you" in shown(head), show=lambda: shown(head))
        await pilot.press("escape")  # the details close
        await wait_until(pilot, lambda: not timeline.has_class("-expanded"))

        await pilot.press("slash", *"who:claude")
        await wait_until(pilot, lambda: rows(timeline) == ["write agent.txt"], show=lambda: repr(rows(timeline)))
        await pilot.press("ctrl+u", *"who:you kind:file")
        await wait_until(pilot, lambda: rows(timeline) == ["write mine.txt"], show=lambda: repr(rows(timeline)))
        await pilot.press("ctrl+u", *"who:claude", "enter")
        await wait_until(pilot, lambda: app.focused is timeline.timeline)

        # the agent's write is on your sandbox: restoring the state before it is yours to do
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.asking)
        assert "agent.txt (removed)" in shown(app.screen.query(".dialog-message").first(Static))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is timeline)
        status = timeline.query_one("#timeline-status", Static)
        await wait_until(pilot, lambda: "undo: u (checkpoint" in shown(status), show=lambda: shown(status))
    assert "agent.txt" not in await service.list_files(box.id)
    assert (await service.read_file(box.id, "mine.txt")).data == b"me\n"
