"""The workspace's layout at small sizes and its footer (issue 11 §2), in the real app with the real panes and a
real sandbox shell:

- at 80x24 the focused terminal gets a real share: `stty size` in it says at least 16 rows (it said 4);
- the layout key switches tiles ↔ tabs at any size, and the PTY follows every change: the program gets SIGWINCH
  with the new size (a WINCH trap in the shell prints `stty size`);
- the focused pane's frame says its size;
- the footer shows what the focused element really does, whole entries fitted to 80 and 120 columns: in a
  terminal only ctrl+] and the scrollback keys (not quit, which is the program's there, nor the tab bar's
  `n New terminal`), no label cut anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets._footer import FooterKey

from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import shown, wait_until
from tests.services.test_git import INIT, sh
from tests.tui.conftest import workspace_up
from tui.app import SandbenchApp
from tui.screens.workspace import WorkspaceScreen
from widgets.footer import FittedFooter, entry_width, fit
from widgets.pane_tabs import PaneTabs
from widgets.terminal import TerminalPane, TerminalView

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]

WINCH = re.compile(r"^WINCH (\d+) (\d+)\s*$", re.M)
STTY = re.compile(r"^(\d+) (\d+)\s*$", re.M)


@pytest.fixture
async def box(service: SandboxService) -> SandboxInfo:
    info = await service.create(SandboxSpec(name="box"))
    await service.write_file(info.id, "main.py", b'def main():\n    print("hi")\n')
    await sh(service, info.id, f"{INIT} && git add -A && git commit -qm base && echo '# more' >> main.py")
    return info


async def open_box(pilot: Pilot[Any], app: SandbenchApp) -> WorkspaceScreen:
    await wait_until(pilot, lambda: workspace_up(app))
    screen = app.screen
    assert isinstance(screen, WorkspaceScreen)
    # keys pressed before focus settles in the editor could land in the new shell, which takes every key
    await wait_until(pilot, lambda: screen.focused_pane == "editor")
    return screen


async def into_terminal(pilot: Pilot[Any], screen: WorkspaceScreen) -> TerminalView:
    await pilot.press("alt+3")
    pane = screen.query_one(TerminalPane)
    await wait_until(pilot, lambda: pane.active_view is not None and pane.active_view.has_focus, timeout=20)
    view = pane.active_view
    assert view is not None
    await wait_until(pilot, lambda: view.session is not None and "$" in shown(view), timeout=30)
    return view


async def run(pilot: Pilot[Any], view: TerminalView, command: str) -> None:
    view.post_message(events.Paste(command))
    await wait_until(pilot, lambda: command[-12:] in shown(view))
    await pilot.press("enter")


async def stty_size(pilot: Pilot[Any], view: TerminalView) -> tuple[int, int]:
    """(rows, cols) as `stty size` prints them in the shell (the kernel's window size of the PTY)."""
    await run(pilot, view, "echo; stty size")
    await wait_until(pilot, lambda: STTY.search(shown(view)) is not None, timeout=20)
    found = STTY.findall(shown(view))[-1]
    return int(found[0]), int(found[1])


async def test_at_80x24_the_focused_terminal_gets_at_least_16_rows(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_box(pilot, app)
        assert screen.tabbed  # one pane at a time at 80x24
        view = await into_terminal(pilot, screen)
        assert screen.pane_visible("terminal") and not screen.pane_visible("editor")
        rows, cols = await stty_size(pilot, view)
        assert rows >= 16, f"stty size in the focused terminal at 80x24: {rows} rows"
        assert (cols, rows) == (view.size.width, view.size.height)  # the PTY is the pane's real size
        # the focused pane says its size; the tab row names the pane shown
        assert screen.frame("terminal").border_subtitle == f"{cols}x{rows}"
        assert screen.query_one(PaneTabs).active == "terminal"


async def test_the_layout_key_resizes_the_pty_and_the_program_sees_sigwinch(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(open_name="box")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_box(pilot, app)
        assert not screen.tabbed
        view = await into_terminal(pilot, screen)
        tiled = (view.size.height, view.size.width)
        # a child shell without job control, so it stays in the terminal's foreground group while it sleeps (an
        # interactive shell hands the terminal to each `sleep`, which would get the SIGWINCH instead)
        await run(
            pilot, view, """bash -c 'trap "echo WINCH \\$(stty size)" WINCH; while :; do sleep 1 & wait $!; done'"""
        )

        def winch() -> tuple[int, int] | None:
            found = WINCH.findall(shown(view))
            return (int(found[-1][0]), int(found[-1][1])) if found else None

        await pilot.press("ctrl+right_square_bracket")  # out of the shell (the program has every other key)
        await wait_until(pilot, lambda: not view.has_focus and screen.focused_pane == "terminal")
        await pilot.press("shift+f11")  # tiles → tabs: the terminal keeps its tab and takes the whole body
        await wait_until(pilot, lambda: screen.tabbed)
        await wait_until(pilot, lambda: winch() is not None and winch() != tiled, timeout=20)
        tabbed = winch()
        assert tabbed == (view.size.height, view.size.width) and tabbed[0] > tiled[0] + 20, (tiled, tabbed)
        assert screen.frame("terminal").border_subtitle == f"{tabbed[1]}x{tabbed[0]}"

        await pilot.press("shift+f11")  # and back: the program sees its old size again
        await wait_until(pilot, lambda: not screen.tabbed)
        await wait_until(pilot, lambda: winch() == tiled, timeout=20)

        await pilot.press("f11")  # zooming is a layout change too
        await wait_until(pilot, lambda: screen.maximized is not None)
        await wait_until(pilot, lambda: winch() not in (None, tiled), timeout=20)
        assert winch() == (view.size.height, view.size.width)


async def test_tabs_switch_with_alt_digits_f6_and_a_click_and_the_choice_sticks(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_box(pilot, app)
        tabs = screen.query_one(PaneTabs)
        for key, pane in (("alt+1", "explorer"), ("alt+4", "git"), ("alt+2", "editor")):
            await pilot.press(key)
            await wait_until(pilot, lambda pane=pane: screen.focused_pane == pane)  # type: ignore[misc]
            assert tabs.active == pane and screen.pane_visible(pane)
            assert [p for p in ("explorer", "editor", "terminal", "git") if screen.frame(p).display] == [pane]
            assert screen.frame(pane).outer_size == (80, 21)  # the whole body: 24 less tabs, status, footer
        await pilot.press("f6")  # the non-alt key: the next pane's tab
        await wait_until(pilot, lambda: screen.focused_pane == "terminal" and tabs.active == "terminal")
        await pilot.press("ctrl+right_square_bracket")
        await pilot.click(PaneTabs, offset=(2, 0))  # the first tab: the explorer
        await wait_until(pilot, lambda: screen.focused_pane == "explorer" and tabs.active == "explorer")

        await pilot.press("shift+f11")  # tiles at 80x24, because the user asked: kept through a resize
        await wait_until(pilot, lambda: not screen.tabbed)
        assert screen.pane_visible("explorer") and screen.pane_visible("terminal")
        await pilot.resize_terminal(90, 26)
        await pilot.pause()
        assert not screen.tabbed
        await pilot.press("shift+f11")
        await wait_until(pilot, lambda: screen.tabbed and screen.pane_visible("explorer"))


# -- the footer ------------------------------------------------------------------------------------------------


def footer_problem(app: SandbenchApp) -> tuple[list[tuple[str, str]], str | None]:
    """(key, description) of each entry on the footer's row, and what is wrong with the row if anything: every
    entry must be inside the screen, left of the palette key, and written out in full on the row as rendered. A
    footer caught mid-rebuild (its new keys mounted, not yet laid out or drawn) has a problem too, so this only
    reports it: `settle_footer` waits it out, `footer_entries` asserts there is none."""
    footer = app.screen.query_one(FittedFooter)
    keys = list(footer.query(FooterKey))
    palette = [k for k in keys if k.has_class("-command-palette")]
    limit = palette[0].region.x if palette else footer.region.right
    row = app.screen._compositor.render_strips()[footer.region.y].text
    out: list[tuple[str, str]] = []
    for key in keys:
        label = f"{key.key_display} {key.description}"
        if label not in row:
            return out, f"{label!r} not on the row {row!r}"
        if key in palette:
            if key.region.right > footer.region.right:
                return out, f"the palette key {label!r} past the footer's right edge: {row!r}"
            continue
        if key.region.width <= 0 or key.region.right > limit:
            return out, f"{label!r} not laid out left of the palette key ({key.region}): {row!r}"
        out.append((key.key_display, key.description))
    return out, None


def footer_entries(app: SandbenchApp) -> list[tuple[str, str]]:
    """The footer's (key, description) entries, each checked whole on the row as rendered (see `footer_problem`)."""
    out, problem = footer_problem(app)
    assert problem is None, problem
    return out


async def settle_footer(pilot: Pilot[Any], app: SandbenchApp, cond: Callable[[list[str]], bool]) -> list[str]:
    """The footer's descriptions once it has settled and `cond` holds: it rebuilds after focus moves, so a poll can
    land between the new keys being mounted and their being drawn. Settled is a row with every entry whole and
    the same entries on two polls in a row; only then is `cond` asked, and the entries returned."""
    seen: list[str] = []
    problem: str | None = None
    last: list[tuple[str, str]] | None = None

    def ready() -> bool:
        nonlocal seen, problem, last
        entries, problem = footer_problem(app)
        stable = problem is None and entries == last
        last = entries if problem is None else None
        seen = [d for _, d in entries]
        return stable and cond(seen)

    await wait_until(pilot, ready, "a settled footer", timeout=20, show=lambda: f"footer: {seen}; {problem or ''}")
    return seen


@pytest.mark.parametrize("width", [80, 120])
async def test_the_footer_shows_what_works_in_each_pane_whole_at_80_and_120_columns(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp], width: int
) -> None:
    app = make_app(open_name="box")
    async with app.run_test(size=(width, 30)) as pilot:
        screen = await open_box(pilot, app)
        await pilot.press("alt+1")
        explorer = await settle_footer(pilot, app, lambda d: "New file" in d)
        assert explorer[:2] == ["Open", "New file"] and "Help" in explorer
        await pilot.press("enter")  # main.py, the only file: it opens in the editor
        await wait_until(pilot, lambda: type(app.focused).__name__ == "CodeEditor")
        editor = await settle_footer(pilot, app, lambda d: "Save" in d)
        assert {"Save", "Find", "Go to line", "Help"} <= set(editor), editor
        await pilot.press("alt+4")
        git = await settle_footer(pilot, app, lambda d: "Commit" in d)
        assert {"Stage/unstage", "Commit", "Diff"} <= set(git), git

        view = await into_terminal(pilot, screen)
        # the shell has every key but these: no tab-bar keys, no palette (ctrl+p is the shell's)
        terminal = await settle_footer(pilot, app, lambda d: "Leave terminal" in d)
        assert terminal == ["Leave terminal", "Scroll back", "Scroll forward"]
        assert not app.screen.query_one(FittedFooter).query(".-command-palette")

        await pilot.press("ctrl+right_square_bracket")  # the tab bar: its keys work now, and the footer says so
        await wait_until(pilot, lambda: not view.has_focus)
        tab_bar = await settle_footer(pilot, app, lambda d: "Back to terminal" in d)
        assert {"New terminal", "Close tab", "Back to terminal"} <= set(tab_bar), tab_bar
        assert "Leave terminal" not in tab_bar


async def test_keys_the_keymap_lets_into_the_terminal_are_in_its_footer(
    service: SandboxService, box: SandboxInfo, config: Any
) -> None:
    import dataclasses

    from tests.tui.conftest import fixed_clock

    cfg = dataclasses.replace(config, keymap={"terminal:workspace.next_pane": "f6"})
    app = SandbenchApp(service, cfg, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_box(pilot, app)
        await into_terminal(pilot, screen)
        terminal = await settle_footer(pilot, app, lambda d: "Leave terminal" in d)
        assert "Next pane" in terminal and "New terminal" not in terminal


def test_fit_keeps_the_most_important_whole_entries_in_their_order() -> None:
    entries = [("a", 10), ("b", 30), ("c", 10), ("d", 5)]
    assert fit(entries, 25, ["c", "a"]) == {0, 2, 3}  # b does not fit; d, smaller, still does
    assert fit(entries, 100, []) == {0, 1, 2, 3}
    assert fit(entries, 9, ["a"]) == {3}
    assert entry_width("^s", "Save") == len(" ^s Save ")
    assert entry_width("^p", "Commands", palette=True) == len("▏ ^p Commands  ")


async def test_growing_to_100x30_keeps_the_focused_terminal_large(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    """80x24 → 100x30 with the terminal focused: it switched to tiles and `top` went from 18 rows to 6 while the
    empty editor got 14. The pane in use keeps the whole body; at a size where tiles give it enough, they come."""
    app = make_app(open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_box(pilot, app)
        view = await into_terminal(pilot, screen)
        small = (view.size.width, view.size.height)
        await pilot.resize_terminal(100, 30)
        await wait_until(pilot, lambda: view.size.width > small[0], "the terminal widened")
        assert screen.tabbed and screen.pane_visible("terminal") and not screen.pane_visible("editor")
        assert view.size.height >= small[1], (small, view.size)
        model = view.screen_model  # the PTY follows once the size has settled (RESIZE_SETTLE)
        await wait_until(pilot, lambda: (model.cols, model.rows) == (view.size.width, view.size.height))
        rows, cols = await stty_size(pilot, view)
        assert (cols, rows) == (view.size.width, view.size.height) and rows >= 20
        await pilot.resize_terminal(160, 48)  # tiles give it a third of a tall body: enough
        await wait_until(pilot, lambda: not screen.tabbed, "tiles at 160x48")
        assert screen.pane_visible("editor") and view.size.height >= 10


async def test_copy_mode_puts_its_own_keys_in_the_footer(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    """In copy mode the footer said `f6 Next pane  f11 Zoom…`, keys of the panes, and none of copy mode's."""
    app = make_app(open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_box(pilot, app)
        view = await into_terminal(pilot, screen)

        def footer() -> list[str]:
            return [k.description for k in screen.query_one(FittedFooter).query(FooterKey)]

        await pilot.press("ctrl+right_square_bracket", "c")  # out of the shell, then the tab bar's copy mode
        await wait_until(pilot, lambda: view.copy_mode and "Search down" in footer(), "copy mode's keys", show=footer)
        assert {"Select", "Copy", "Search down", "Search up", "Leave"} <= set(footer()), footer()
        assert "Next pane" not in footer() and "Zoom" not in footer(), footer()
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: "Find up" in footer(), "the search's keys", show=footer)
        await pilot.press("escape", "q")
        await wait_until(pilot, lambda: not view.copy_mode and "Search down" not in footer(), "the panes' keys back")


async def test_keys_typed_while_open_name_is_loading_reach_its_workspace(
    service: SandboxService, box: SandboxInfo
) -> None:
    """`sandbench open box`, alt+3 pressed while the list still said "loading sandboxes…": it did nothing. The
    provider is built as `run_app` builds it, in a thread, held back here until the key has been read."""
    import threading

    from tests.tui.conftest import fixed_clock
    from tui.screens.sandbox_list import SandboxListScreen

    typed = threading.Event()

    def build() -> SandboxService:
        typed.wait(20)
        return service

    app = SandbenchApp(None, service.config, build=build, open_name="box", clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, SandboxListScreen) and not app.screen.loaded  # still loading
        app.post_message(events.Key("alt+3", None))
        await pilot.pause()
        typed.set()
        await wait_until(pilot, lambda: workspace_up(app), timeout=20)
        screen = app.screen
        assert isinstance(screen, WorkspaceScreen)
        await wait_until(pilot, lambda: screen.focused_pane == "terminal", "alt+3 applied", timeout=20)
        assert screen.pane_visible("terminal")


async def test_a_commit_message_typed_fast_after_c_goes_into_the_commit_dialog(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    """`cfix` in one read in the git panel: the dialog opened from a worker, so f i x ran the panel's own keys
    (f fetches) and the message was lost. The keys go into the message now."""
    from textual.widgets import TextArea

    from tests.tui.test_list_typed_ahead import burst
    from widgets.git.dialogs import CommitDialog

    await sh(service, box.id, "git add -A")
    app = make_app(open_name="box")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_box(pilot, app)
        await pilot.press("alt+4")
        await wait_until(pilot, lambda: screen.focused_pane == "git")
        panel = screen.query_one("#git")
        await wait_until(pilot, lambda: getattr(panel, "status", None) is not None and bool(panel.status.staged))
        burst(app, "c", "f", "i", "x")
        await wait_until(pilot, lambda: isinstance(app.screen, CommitDialog) and app.screen.is_mounted)
        area = app.screen.query_one(TextArea)
        await wait_until(pilot, lambda: area.text == "fix", show=lambda: repr(area.text))


async def test_a_file_name_typed_fast_after_n_in_the_explorer_goes_into_the_dialog(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    """`nda.txt` in one read in the explorer: the d must not reach the explorer (d deletes, after asking)."""
    from textual.widgets import Input

    from tests.tui.test_list_typed_ahead import burst
    from widgets.dialogs import ConfirmDialog, InputDialog

    app = make_app(open_name="box")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_box(pilot, app)
        await pilot.press("alt+1")
        await wait_until(pilot, lambda: screen.focused_pane == "explorer")
        burst(app, "n", "d", "a", ".", "t", "x", "t")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog) and app.screen.is_mounted)
        field = app.screen.query_one("#value", Input)
        await wait_until(pilot, lambda: field.value == "da.txt", show=lambda: repr(field.value))
        assert not any(isinstance(s, ConfirmDialog) for s in app.screen_stack)
