"""The fuzzy finder modal on its own: indexing, keys, highlighting, hostile paths, errors."""

from __future__ import annotations

import os
from typing import Any

from textual.app import App
from textual.widgets import OptionList, Static

from services.local.provider import LocalProvider
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from widgets.explorer_text import name_text
from widgets.fuzzy_finder import FuzzyFinder
from widgets.messages import ErrorRoute


class FinderApp(ErrorRoute, App[None]):  # failures take the real app's one error route
    def __init__(self, service: SandboxService, sandbox_id: str) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.answers: list[str | None] = []
        self.notes: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        self.push_screen(FuzzyFinder(self.service, self.sandbox_id), self.answers.append)

    def notify(self, message: str, *, severity: Any = "information", **kwargs: Any) -> None:
        self.notes.append((severity, message))
        super().notify(message, severity=severity, **kwargs)


async def test_indexes_then_filters_and_arrows_choose(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = provider._workspace(sandbox.id)
    for name in ("alpha_one.py", "alpha_two.py", "beta.py"):
        (root / name).write_text("x")
    app = FinderApp(service, sandbox.id)
    async with app.run_test() as pilot:
        finder = app.screen
        assert isinstance(finder, FuzzyFinder)
        await wait_until(pilot, lambda: finder.matcher is not None)
        assert "3 of 3" in str(finder.query_one("#finder-status", Static).render())
        await pilot.press(*"alpha")
        await wait_until(pilot, lambda: len(finder.results) == 2)
        assert "2 of 3" in str(finder.query_one("#finder-status", Static).render())
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: len(app.answers) == 1)
        assert app.answers[0] == finder.results[1].path


async def test_escape_dismisses_with_none(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    app = FinderApp(service, sandbox.id)
    async with app.run_test() as pilot:
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.answers == [None])


async def test_enter_with_no_results_does_nothing(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    (provider._workspace(sandbox.id) / "a.txt").write_text("x")
    app = FinderApp(service, sandbox.id)
    async with app.run_test() as pilot:
        finder = app.screen
        assert isinstance(finder, FuzzyFinder)
        await wait_until(pilot, lambda: finder.matcher is not None)
        await pilot.press(*"zzz", "enter")
        await pilot.pause()
        assert app.answers == [] and isinstance(app.screen, FuzzyFinder)


async def test_hostile_paths_show_literally(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = os.fsencode(provider._workspace(sandbox.id))
    for raw in (b"[bold]x.txt", b"\x1b[31mred.txt", b"bad\xffname.txt"):
        with open(os.path.join(root, raw), "wb"):
            pass
    app = FinderApp(service, sandbox.id)
    async with app.run_test(size=(100, 20)) as pilot:
        finder = app.screen
        assert isinstance(finder, FuzzyFinder)
        await wait_until(pilot, lambda: len(finder.results) == 3)
        await pilot.pause()
        assert "[bold]x.txt" in app.export_screenshot()  # markup in a name is not interpreted
        options = finder.query_one(OptionList)
        prompts = {str(options.get_option_at_index(i).prompt) for i in range(3)}
        assert prompts == {"[bold]x.txt", "\\x1b[31mred.txt", "bad\\xffname.txt"}


async def test_listing_failure_is_a_notification(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    app = FinderApp(service, "no-such-sandbox")
    async with app.run_test() as pilot:
        finder = app.screen
        assert isinstance(finder, FuzzyFinder)
        await wait_until(pilot, lambda: any(sev == "error" for sev, _ in app.notes))
        assert "could not" in str(finder.query_one("#finder-status", Static).render())
        assert app.is_running


def test_highlight_spans_follow_positions() -> None:
    text = name_text("src/deep/module_name.py", positions=(9, 11, 16, 18))
    styled = sorted((span.start, span.end) for span in text.spans)
    assert styled == [(9, 10), (11, 12), (16, 17), (18, 19)]
    escaped = name_text("a\x1bb", positions=(0, 2))
    assert escaped.plain == "a\\x1bb"
