"""The details view in the real app (issue 15 "Errors"): the palette's "Last error details" opens it at 80x24, it
pages between the remembered errors, and its screen at 80x24 and 160x48 (snapshots, deterministic text)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Log, Static

from services.git_errors import GitError, PushRejected
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import notifications, run_from_palette
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from widgets.error_details import ERROR_DETAILS_KEY, ErrorDetailsScreen, ShownError
from widgets.keys import bindings
from widgets.messages import ErrorRoute, history

HOOK_OUTPUT = "\n".join(f"lint: src/module_{i:02d}.py:{i}: E501 line too long [b]{i}[/b] \x1b[2J" for i in range(60))


async def test_the_palette_opens_the_last_error_in_full_at_80x24(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        app.report_error(GitError("git commit failed: first", details="first"))
        app.report_error(GitError("git commit failed: lint: E501", details=HOOK_OUTPUT), context="commit")
        await wait_until(pilot, lambda: any(n.endswith("shift+f2 details") for n in notifications(app)))
        await run_from_palette(pilot, app, "last error", "Last error details")
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDetailsScreen), "the details view")
        screen = app.screen
        log = screen.query_one(Log)
        assert [ln for ln in log.lines if ln.startswith("lint:")] == [
            f"lint: src/module_{i:02d}.py:{i}: E501 line too long [b]{i}[/b] \u241b[2J" for i in range(60)
        ]
        assert "2 of 2" in str(screen.query_one("#details-title", Static).render())
        await pilot.press("c")  # copies the full text as shown: ESC as ␛, never raw into another terminal
        copied = f"git commit failed: lint: E501\n\n{HOOK_OUTPUT}".replace("\x1b", "\u241b")
        await wait_until(pilot, lambda: app.clipboard == copied)
        await pilot.press("p")  # the older one: its one line said it all, the view shows just that
        await wait_until(pilot, lambda: "1 of 2" in str(screen.query_one("#details-title", Static).render()))
        assert log.lines == ["git commit failed: first"]
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen), "back to the list")


async def test_with_no_error_yet_the_view_says_so(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        await pilot.press("shift+f2")
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDetailsScreen), "the details view")
        assert "No errors" in str(app.screen.query_one("#details-title", Static).render())


WHEN = datetime(2026, 12, 3, 11, 0, 0, tzinfo=UTC)


class DetailsApp(ErrorRoute, App[None]):
    """The details view over two remembered errors with fixed text and times."""

    BINDINGS = bindings((ERROR_DETAILS_KEY,))

    def compose(self) -> ComposeResult:
        yield Static("workspace")

    def on_mount(self) -> None:
        text = "git push failed\n\n" + "\n".join(
            f"remote: check {i:02d}: refusing [red]{i}[/red] \x1b[31mcommit{i}\x1b[0m" for i in range(40)
        )
        history(self).add(ShownError("Git", "git status failed", "git status failed", "status", WHEN))
        error = PushRejected("push rejected by a hook on the remote: its reasons are in the details")
        history(self).add(ShownError(error.title, str(error), text, "push", WHEN))
        self.action_error_details()


def test_details_view_snapshot_80x24(snap_compare: Any) -> None:
    assert snap_compare(DetailsApp(), terminal_size=(80, 24))


def test_details_view_snapshot_160x48(snap_compare: Any) -> None:
    assert snap_compare(DetailsApp(), terminal_size=(160, 48))


def test_details_are_bounded_and_offered_only_when_the_line_does_not_hold_them() -> None:
    from services.errors import MAX_DETAILS, ProviderError
    from widgets.messages import LINE_LIMIT, describe, details_of

    flood = ProviderError("server error", details="x" * (2 * MAX_DETAILS))
    assert (
        flood.details is not None
        and len(flood.details) < MAX_DETAILS + 100
        and flood.details.endswith("(cut at 1 MiB)")
    )
    assert details_of(GitError("git commit failed: no", details="no")) is None  # the line says it all
    assert details_of(GitError("git commit failed: no", details="no\nmore")) == "git commit failed: no\n\nno\nmore"
    long = GitError("y" * (LINE_LIMIT * 2))
    assert len(describe(long)) == LINE_LIMIT and details_of(long) == "y" * (LINE_LIMIT * 2)
    assert details_of(RuntimeError("/home/me/secret path")) is None  # an unexpected error's detail: the log only
