"""The doctor's findings in the app (issue 10): one line under the sandbox table when a new sandbox would get less
than full or could not run, and a details screen (D, or the palette) of plain text — over the real provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Static

from services.config import Config
from services.local.provider import LocalProvider
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import fixed_clock, run_from_palette
from tui.app import SandbenchApp
from tui.screens.doctor import DoctorScreen
from tui.screens.sandbox_list import SandboxListScreen

HOSTILE = "sb-[@click=app.quit]-[b]x"


@pytest.fixture
async def trapped(sandbench_home: Path) -> AsyncIterator[SandboxService]:
    """A data dir with markup in its name whose config names a bwrap that does not exist: new sandboxes would get
    isolation `none` (the same path a machine without any bubblewrap takes)."""
    data_dir = sandbench_home.parent / HOSTILE
    missing = str(sandbench_home.parent / "no-such-bwrap")
    cfg = Config(identity="tester", data_dir=data_dir, bwrap=missing)
    provider = LocalProvider(data_dir, bwrap=missing)
    service = SandboxService(provider, cfg)
    try:
        yield service
    finally:
        service.audit.close()
        await provider.close()


def _service(data_dir: Path) -> tuple[SandboxService, Config]:
    cfg = Config(identity="tester", data_dir=data_dir)
    return SandboxService(LocalProvider(data_dir), cfg), cfg


def _line(app: SandbenchApp) -> Static:
    return app.screen.query_one("#list-doctor", Static)


async def test_missing_bwrap_shows_one_line_and_details(trapped: SandboxService) -> None:
    app = SandbenchApp(trapped, trapped.config, clock=fixed_clock)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, SandboxListScreen)
        await wait_until(pilot, lambda: screen.doctor is not None)
        await pilot.pause()
        line = _line(app)
        text = str(line.render())
        assert line.display and text.startswith("isolation would be none: the bwrap binary named by the config")
        assert text.endswith("— D for details")
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, DoctorScreen))
        body = str(app.screen.query_one("#doctor-text", Static).render())
        assert 'fix: point it at a working bwrap, or set bwrap = "auto"' in body
        assert HOSTILE in body  # the data dir's own name, shown as text: its markup did nothing
        await pilot.press("pagedown", "end")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen))
        await run_from_palette(pilot, app, "Doctor", "Doctor")
        await wait_until(pilot, lambda: isinstance(app.screen, DoctorScreen))
        assert app.is_running


async def test_the_line_follows_the_verdict(make_app: object) -> None:
    app = make_app()  # type: ignore[operator]
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.doctor is not None)
        await pilot.pause()
        report = screen.doctor
        line = _line(app)
        assert line.display is (not report.ok)
        if not report.ok:  # e.g. CI as an unprivileged user: no-cgroup
            assert str(line.render()).startswith(f"isolation would be {report.isolation}")


async def test_the_details_wrap_a_long_path_between_names_at_80_columns(sandbench_home: Path) -> None:
    """At 80x24 the details screen wraps a long data folder path after a `/` or at a space, each folder's name
    whole on a row (Rich folded it mid-name), and every row fits the box."""
    from services.doctor import diagnose

    parts = ("home-with-a-rather-long-folder-name", "and-another-quite-long-folder-name-here", "sandbench-data")
    data_dir = sandbench_home.parent.joinpath(*parts)
    report = diagnose(data_dir)
    service, cfg = _service(data_dir)
    app = SandbenchApp(service, cfg, clock=fixed_clock, doctor=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(DoctorScreen(report.lines()))
        await wait_until(pilot, lambda: isinstance(app.screen, DoctorScreen) and bool(app.screen.query("#doctor-text")))
        body = app.screen.query_one("#doctor-text", Static)

        def rows() -> list[str]:
            return [strip.text.rstrip() for strip in body.render_lines(body.size.region)]

        await wait_until(pilot, lambda: any("sandbench-data" in r for r in rows()), show=lambda: "\n".join(rows()))
        shown = rows()
        for part in parts:
            assert any(part in row for row in shown), (part, shown)
        assert all(len(row) <= body.size.width and not row.endswith("…") for row in shown), shown
    service.audit.close()
    await service.provider.close()
