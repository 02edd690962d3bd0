"""Pilot tests of search in files in the real app: F8 from the workspace, results streamed and grouped by file,
enter opens the editor at the match, the toggles, replace with a per-file preview, and the refusals (a file changed
since the search, a file with unsaved edits in the editor)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import notifications, open_workspace, run_from_palette, workspace_up
from tui.app import SandbenchApp
from tui.screens.search import SearchScreen
from widgets.editor import EditorTabs
from widgets.search_results import SearchResults
from widgets.search_view import ReplacePreview, SearchView

pytestmark = pytest.mark.bwrap


@pytest.fixture
async def box(service: SandboxService) -> SandboxInfo:
    info = await service.create(SandboxSpec(name="box"))
    await service.mkdir(info.id, "src", parents=True)
    await service.write_file(info.id, "src/app.py", b"import os\n\ndef main():\n    print('needle here')\n")
    await service.write_file(info.id, "notes.txt", b"one needle\ntwo\nNEEDLE three\n")
    await service.write_file(info.id, "other.md", b"nothing to see\n")
    return info


async def _search(pilot: Any, app: SandbenchApp, text: str) -> SearchView:
    await pilot.press("f8")
    await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))
    view = app.screen.query_one(SearchView)
    await wait_until(pilot, lambda: app.focused is not None and app.focused.id == "search-pattern")
    await pilot.press(*text, "enter")
    await wait_until(pilot, lambda: view.summary.done and view.searched is not None and view.searched.pattern == text)
    return view


def _rows(results: SearchResults) -> list[str]:
    return [results.render_line(y).text.rstrip() for y in range(results.size.height)]


async def test_search_groups_by_file_and_enter_opens_the_editor_at_the_match(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        workspace = await open_workspace(pilot, app)
        view = await _search(pilot, app, "needle")
        results = view.results
        assert [(g.path, [m.line for m in g.matches]) for g in results.groups] == [
            ("notes.txt", [1, 3]),
            ("src/app.py", [4]),
        ] or [(g.path, [m.line for m in g.matches]) for g in results.groups] == [
            ("src/app.py", [4]),
            ("notes.txt", [1, 3]),
        ]
        status = str(app.screen.query_one("#search-status").render())
        assert "3 matches in 2 files" in status
        rows = _rows(results)
        assert any(r.startswith("▾ app.py  src  (1)") for r in rows)
        assert any("4  " in r and "print('needle here')" in r for r in rows)
        # down into the results, to the src/app.py match, enter
        await pilot.press("down")
        assert app.focused is results
        target = next(
            i for i, (gi, mi) in enumerate(results._rows) if results.groups[gi].path == "src/app.py" and mi >= 0
        )
        for _ in range(target):
            await pilot.press("down")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is workspace)
        editor = workspace.query_one(EditorTabs)
        await wait_until(pilot, lambda: editor.active_path == "src/app.py" and editor.active_editor is not None)
        area = editor.active_editor
        assert area is not None
        await wait_until(pilot, lambda: area.cursor_location == (3, 11))  # line 4, column 12: the match
        assert app.focused is area
        # F8 again: the same results are still there
        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))
        assert app.screen.query_one(SearchView) is view and len(view.results.groups) == 2


async def test_toggles_and_globs_rerun_the_search(box: SandboxInfo, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_workspace(pilot, app)
        view = await _search(pilot, app, "needle")
        assert view.results.match_count == 3
        await pilot.press("f2")  # match case: NEEDLE no longer matches
        await wait_until(pilot, lambda: view.summary.done and view.case_sensitive and view.results.match_count == 2)
        await pilot.press("alt+c")  # the alt key toggles back, and types nothing into the field
        await wait_until(pilot, lambda: view.summary.done and not view.case_sensitive and view.results.match_count == 3)
        assert app.screen.query_one("#search-pattern").value == "needle"  # type: ignore[attr-defined]
        app.screen.query_one("#search-include").value = "*.py"  # type: ignore[attr-defined]
        await wait_until(pilot, lambda: view.summary.done and [g.path for g in view.results.groups] == ["src/app.py"])
        await pilot.press("escape")
        await wait_until(pilot, lambda: workspace_up(app))


async def test_palette_offers_search_in_files(box: SandboxInfo, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_workspace(pilot, app)
        await run_from_palette(pilot, app, "search in files", "Search in files")
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))


async def test_replace_with_preview_and_confirmation_writes_the_files(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_workspace(pilot, app)
        view = await _search(pilot, app, "needle")
        first = view.results.groups[0].path
        app.screen.query_one("#search-replace").value = "pin"  # type: ignore[attr-defined]
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplacePreview))
        preview = app.screen
        assert isinstance(preview, ReplacePreview) and preview.plan.path == first
        diff = str(preview.query_one("#replace-diff").render())
        assert "-" in diff and "pin" in diff
        # nothing is written before the confirmation
        before = {
            "notes.txt": b"one needle\ntwo\nNEEDLE three\n",
            "src/app.py": b"import os\n\ndef main():\n    print('needle here')\n",
        }
        assert (await service.read_file(box.id, first)).data == before[first]
        await pilot.press("n")  # skip the first file
        await wait_until(pilot, lambda: isinstance(app.screen, ReplacePreview) and app.screen.plan.path != first)
        second = app.screen.plan.path  # type: ignore[attr-defined]
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))
        await wait_until(pilot, lambda: any("Replaced" in n for n in notifications(app)))
        assert (await service.read_file(box.id, first)).data == before[first]
        expected = before[second].replace(b"needle", b"pin").replace(b"NEEDLE", b"pin")
        assert (await service.read_file(box.id, second)).data == expected
        assert [g.path for g in view.results.groups] == [first]  # the replaced file left the results


async def test_replace_refuses_changed_and_unsaved_files(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        workspace = await open_workspace(pilot, app)
        # src/app.py open with an unsaved edit in the editor
        editor = workspace.query_one(EditorTabs)
        worker = editor.open_file("src/app.py")
        assert worker is not None
        await worker.wait()
        await wait_until(pilot, lambda: editor.active_editor is not None)
        area = editor.active_editor
        assert area is not None
        area.focus()
        await pilot.press("end", "x")
        await wait_until(pilot, lambda: editor.has_unsaved() == ["src/app.py"])
        view = await _search(pilot, app, "needle")
        # notes.txt changes after the search
        await service.write_file(box.id, "notes.txt", b"rewritten needle\n")
        app.screen.query_one("#search-replace").value = "pin"  # type: ignore[attr-defined]
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: any("refused" in n for n in notifications(app)))
        told = next(n for n in notifications(app) if "refused" in n)
        assert "Replaced 0 in 0 files" in told
        assert "notes.txt changed since the search" in told
        assert "src/app.py has unsaved edits in the editor" in told
        assert not isinstance(app.screen, ReplacePreview)
        assert (await service.read_file(box.id, "notes.txt")).data == b"rewritten needle\n"
        assert b"needle" in (await service.read_file(box.id, "src/app.py")).data
        assert len(view.results.groups) == 2
