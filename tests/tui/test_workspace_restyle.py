"""What a workspace restyles and rebuilds as the keyboard moves (issue 15: the CPU of the tui tests is mostly the
real app's style work): the focused pane's frame is lit and only it, a focus move inside a pane does not restyle
the pane's other widgets (every open editor tab), and the footer keeps its keys when they did not change.

bench/workspace_open.py measures the whole opening; these pin the behaviours it rests on, on the real panes; and
the find bar, hidden until asked for, is not built with the workspace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
from textual.dom import DOMNode
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import open_workspace
from tui.app import SandbenchApp
from tui.screens.pane_frame import PaneFrame
from widgets.editor import EditorTabs
from widgets.editor.find import FindBar
from widgets.footer import FittedFooter

FILES = 12


@pytest.fixture
async def box(service: SandboxService) -> SandboxInfo:
    info = await service.create(SandboxSpec(name="box"))
    for i in range(FILES):
        await service.write_file(info.id, f"f{i}.py", f"x = {i}\n".encode())
    return info


def border_colour(frame: PaneFrame) -> str:
    return frame.styles.border_top[1].hex


def count_restyles(app: SandbenchApp, monkeypatch: pytest.MonkeyPatch) -> list[DOMNode]:
    """Every node Textual restyles from now on (class and pseudo-class changes, focus moves), in a list."""
    seen: list[DOMNode] = []
    stylesheet = app.stylesheet
    real = stylesheet.update_nodes

    def update_nodes(nodes: Iterable[DOMNode], animate: bool = False) -> None:
        nodes = list(nodes)
        seen.extend(nodes)
        real(nodes, animate=animate)

    monkeypatch.setattr(stylesheet, "update_nodes", update_nodes)
    return seen


async def test_the_focused_panes_frame_is_lit_and_only_it(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_workspace(pilot, app)
        frames = {name: screen.frame(name) for name in ("explorer", "editor", "terminal", "git")}
        await wait_until(pilot, lambda: frames["editor"].has_class("-focused"))
        lit, unlit = border_colour(frames["editor"]), border_colour(frames["git"])
        assert lit != unlit
        for key, pane in (("alt+4", "git"), ("alt+1", "explorer"), ("alt+2", "editor")):
            await pilot.press(key)
            await wait_until(pilot, lambda pane=pane: screen.focused_pane == pane)
            await pilot.pause()
            shown = {name: border_colour(frame) for name, frame in frames.items()}
            assert shown == {name: lit if name == pane else unlit for name in frames}, (key, shown)
            assert [n for n, f in frames.items() if f.has_class("-focused")] == [pane]


async def test_a_focus_move_inside_the_editor_does_not_restyle_its_other_tabs(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With twelve files open, opening the find bar and going back to the file moves focus twice inside the
    editor pane. `:focus-within` on the frame restyled the whole pane at each move (every tab, every editor:
    over a hundred nodes for the two moves); now only the widgets whose own focus changed are."""
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_workspace(pilot, app)
        tabs = screen.query_one("#editor", EditorTabs)
        for i in range(FILES):
            worker = tabs.open_file(f"f{i}.py")
            assert worker is not None
            await worker.wait()
        await wait_until(pilot, lambda: len(tabs.open_paths) == FILES and type(app.focused).__name__ == "CodeEditor")
        await pilot.pause()
        in_pane = len(screen.frame("editor").walk_children(with_self=True))
        assert in_pane > 3 * FILES  # what a restyle of the pane touches: each tab, its pane, its editor
        editor = app.focused
        restyled = count_restyles(app, monkeypatch)
        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: type(app.focused).__name__ == "FindField")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.focused is editor)
        await pilot.pause()
        assert len(restyled) < 30, f"{len(restyled)} nodes restyled of {in_pane} in the pane"
        assert screen.frame("editor").has_class("-focused")


async def test_the_footer_keeps_its_keys_when_they_did_not_change(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    """Textual asks the footer to rebuild at every binding refresh (each focus move asks); it rebuilt every key
    each time. Asked with nothing changed, the keys stay the same widgets; a real change still rebuilds."""
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_workspace(pilot, app)
        footer = screen.query_one(FittedFooter)
        await wait_until(pilot, lambda: any(k.description == "Help" for k in footer.query(FooterKey)))
        await pilot.pause()
        before = list(footer.query(FooterKey))
        for _ in range(3):
            screen.refresh_bindings()
            await pilot.pause()
        assert list(footer.query(FooterKey)) == before
        assert all(key.is_attached for key in before)
        await pilot.press("alt+4")  # the git panel (not a repository here): other keys
        await wait_until(pilot, lambda: any(k.description == "Init repo" for k in footer.query(FooterKey)))
        assert not any(key.is_attached for key in before)


async def test_the_find_bar_is_built_when_first_opened_and_takes_the_keys_typed_right_after(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    """Hidden until ctrl+f, the find bar's fields are not built with the workspace. F3 before it was ever opened
    does nothing; the keys typed right behind the ctrl+f that builds it go into its field, not into the file."""
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_workspace(pilot, app)
        tabs = screen.query_one("#editor", EditorTabs)
        bar = tabs.query_one(FindBar)
        assert not bar.children
        worker = tabs.open_file("f3.py")
        assert worker is not None
        await worker.wait()
        await wait_until(pilot, lambda: type(app.focused).__name__ == "CodeEditor")
        editor = app.focused
        await pilot.press("f3")
        await pilot.press("ctrl+f", *"= 3", "enter")
        assert bar.query_one("#find", Input).value == "= 3"
        await wait_until(pilot, lambda: editor.selected_text == "= 3")  # type: ignore[union-attr]
        assert editor.text == "x = 3\n"  # type: ignore[union-attr]
