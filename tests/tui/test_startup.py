"""Start-up with the provider built after the first frame (issue 14), as `run_app` starts the app.

The build runs the real `make_service` (LocalProvider on a temporary data dir) in a thread; a test holds it back with
a `threading.Event` to see the list before the provider exists, the way a slow provider (Daytona's SDK import and
first request) would.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator

import pytest
from textual.widgets import Static

from services.config import Config
from services.factory import make_service
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import fixed_clock, notifications
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from widgets.create_dialog import CreateDialog


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # never leave a build thread waiting after the test


def _held_build(config: Config, gate: threading.Event, built: list[SandboxService]) -> Callable[[], SandboxService]:
    def build() -> SandboxService:
        gate.wait(timeout=60)
        service = make_service(config)
        built.append(service)
        return service

    return build


def _empty_line(screen: SandboxListScreen) -> str:
    return str(screen.query_one("#list-empty", Static).render())


async def test_list_shows_loading_until_the_provider_lists(
    service: SandboxService, config: Config, gate: threading.Event
) -> None:
    await service.create(SandboxSpec(name="alpha"))
    built: list[SandboxService] = []
    app = SandbenchApp(None, config, build=_held_build(config, gate, built), clock=fixed_clock)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen))
        screen = app.screen
        assert isinstance(screen, SandboxListScreen)
        await pilot.pause()
        assert _empty_line(screen) == "loading sandboxes…"
        assert "no sandboxes" not in _empty_line(screen).lower()
        assert not screen.loaded and screen.table.row_count == 0
        gate.set()
        await wait_until(pilot, lambda: screen.loaded)
        assert screen.table.visible_names == ["alpha"]
        assert not screen.query_one("#list-empty", Static).display
        assert app.service is built[0]
    await app.close_service()


async def test_provider_that_fails_to_build_says_so_without_a_traceback(config: Config) -> None:
    bad = dataclasses.replace(config, provider="nowhere")  # make_provider refuses it (ProviderError)
    app = SandbenchApp(None, bad, build=lambda: make_service(bad), clock=fixed_clock)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.failed is not None)
        screen = app.screen
        assert isinstance(screen, SandboxListScreen)
        await wait_until(pilot, lambda: any("unknown provider" in n for n in notifications(app)))
        line = _empty_line(screen)
        assert "did not start" in line and "unknown provider 'nowhere'" in line
        assert "no sandboxes" not in line.lower()
        await pilot.press("n")  # a key that needs the provider: says why, does not crash or wait forever
        await wait_until(pilot, lambda: sum("did not start" in n for n in notifications(app)) >= 1)
        assert not isinstance(app.screen, CreateDialog)
        assert not any("Traceback" in n or "Error:" in n for n in notifications(app))
        assert app.is_running
    await app.close_service()


async def test_keys_pressed_while_loading_wait_or_say_so(
    service: SandboxService, config: Config, gate: threading.Event
) -> None:
    await service.create(SandboxSpec(name="alpha"))
    built: list[SandboxService] = []
    app = SandbenchApp(None, config, build=_held_build(config, gate, built), clock=fixed_clock)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen))
        screen = app.screen
        assert isinstance(screen, SandboxListScreen)
        await pilot.press("s")  # start needs a selected sandbox: says the list is loading
        await wait_until(pilot, lambda: any(n.startswith("loading sandboxes") for n in notifications(app)))
        assert not any("no sandbox selected" in n for n in notifications(app))
        await pilot.press("n")  # create waits for the list
        await wait_until(pilot, lambda: any("create dialog opens" in n for n in notifications(app)))
        await pilot.press("n")  # pressed twice: still one dialog
        assert not isinstance(app.screen, CreateDialog)
        gate.set()
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog))
        await wait_until(pilot, lambda: screen.loaded)
        await pilot.pause()
        assert sum(isinstance(s, CreateDialog) for s in app.screen_stack) == 1
    await app.close_service()


async def test_first_listing_that_fails_replaces_the_loading_line(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a Daytona provider with no API key builds, then refuses to list: the list must not say "loading…" forever
    for name in ("DAYTONA_API_KEY", "DAYTONA_API_URL", "DAYTONA_JWT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    unset = dataclasses.replace(config, provider="daytona")
    app = SandbenchApp(None, unset, build=lambda: make_service(unset), clock=fixed_clock, doctor=False)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.failed is not None)
        screen = app.screen
        assert isinstance(screen, SandboxListScreen)
        line = _empty_line(screen)
        assert line.startswith("Could not list the sandboxes: Daytona is not configured") and "r retries" in line
        assert "loading" not in line
        await wait_until(pilot, lambda: any("Daytona is not configured" in n for n in notifications(app)))
        assert app.is_running
    await app.close_service()
