"""Pilot tests of the terminal pane on a real sandbox terminal (bubblewrap, a real PTY, real bash/vim).

Keys go through Textual's key path (`pilot.press`), so these also check that the pane gets every key it should.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Static

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from widgets.messages import ErrorRoute
from widgets.terminal import TerminalPane, TerminalView, terminal_has_keyboard

pytestmark = pytest.mark.bwrap


class TermApp(ErrorRoute, App[None]):  # failures take the real app's one error route
    """What the workspace screen does: mount the pane, and let ctrl+p/ctrl+q through while a terminal types."""

    def __init__(self, service: SandboxService, sandbox_id: str) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id

    def compose(self) -> ComposeResult:
        yield TerminalPane(self.service, self.sandbox_id, id="terminal")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("command_palette", "quit") and terminal_has_keyboard(self):
            return False
        return True


def pane(app: App[None]) -> TerminalPane:
    return app.query_one(TerminalPane)


def view(app: App[None]) -> TerminalView:
    v = pane(app).active_view
    assert v is not None
    return v


def text(app: App[None]) -> str:
    return "\n".join(line.rstrip() for line in view(app).screen_model.display())


async def type_text(pilot: Pilot[None], s: str) -> None:
    for ch in s:
        await pilot.press("enter" if ch == "\n" else ch)


async def ready(pilot: Pilot[None]) -> None:
    await wait_until(pilot, lambda: "$" in text(pilot.app), "the shell prompt", show=lambda: text(pilot.app))


async def run(pilot: Pilot[None], command: str, expect: str, timeout: float = 10.0) -> None:
    await type_text(pilot, command + "\n")
    await wait_until(
        pilot, lambda: expect in text(pilot.app), repr(expect), timeout=timeout, show=lambda: text(pilot.app)
    )


async def test_type_a_command_and_see_its_output(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        assert isinstance(app.focused, TerminalView)
        await run(pilot, "echo hello-$((6*7))", "hello-42")
        # colours reach the emulator as styles, not as text
        await run(pilot, "printf '\\033[1;31mRED\\033[0m\\n'", "\nRED\n")
        screen = view(app).screen_model
        y = next(i for i, line in enumerate(screen.display()) if line.startswith("RED"))
        assert screen.cell(0, y)[1].fg == 1


async def test_vim_edits_saves_quits_and_the_shell_screen_returns(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        await run(pilot, "echo marker-before-vim", "\nmarker-before-vim\n")
        await type_text(pilot, "vim -u NONE -N -i NONE notes.txt\n")
        screen = view(app).screen_model
        await wait_until(
            pilot,
            lambda: screen.in_alt and "notes.txt" in text(app),
            "vim on the alternate screen",
            show=lambda: text(pilot.app),
        )
        await type_text(pilot, "ihello from vim")
        await pilot.press("escape")
        await type_text(pilot, ":wq\n")
        await wait_until(
            pilot, lambda: not screen.in_alt, "vim to leave the alternate screen", show=lambda: text(pilot.app)
        )
        assert "marker-before-vim" in text(app)  # the shell's screen came back
        await run(pilot, "cat notes.txt", "hello from vim\n")


async def test_ctrl_c_interrupts_and_ctrl_keys_reach_the_shell(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        await type_text(pilot, "sleep 100\n")
        await pilot.pause(0.3)
        started = time.monotonic()
        await pilot.press("ctrl+c")
        await run(pilot, "echo status-$?", "status-130")
        assert time.monotonic() - started < 5
        # ctrl+p is the app's palette key, but while the terminal has the keyboard it is readline's "previous"
        await pilot.press("ctrl+p")
        await wait_until(
            pilot,
            lambda: text(app).rstrip().endswith("echo status-$?"),
            "history recall via ctrl+p",
            show=lambda: text(pilot.app),
        )
        await pilot.press("ctrl+u")


async def test_resize_reaches_the_pty(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        await run(pilot, "stty size", "24 80")
        await run(pilot, "printf 'A%.0s' $(seq 1 120); echo", "A" * 40 + "\n")  # 80 + 40: wraps once
        await pilot.resize_terminal(100, 31)
        await wait_until(
            pilot, lambda: view(app).screen_model.cols == 100, "the emulator to resize", show=lambda: text(pilot.app)
        )
        # the output reflows to the new width, as in tmux: the same 120 characters, now 100 + 20
        assert "\n" + "A" * 100 + "\n" + "A" * 20 + "\n" in text(app)
        await run(pilot, "clear; stty size", "30 100")
        assert view(app).size.width == 100 and view(app).size.height == 30


async def test_a_resize_while_the_shell_starts_reaches_the_pty(
    service: SandboxService, sandbox: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pane resized before its shell is open (a tab shown at its real size while the sandbox starts, seen at
    80x24 in CI): the resize finds no session, so the program must get the size once the shell is there."""
    opened = asyncio.Event()
    release = asyncio.Event()
    open_terminal = service.open_terminal

    async def slow_open(*args: object, **kwargs: object) -> object:
        opened.set()
        await release.wait()
        return await open_terminal(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "open_terminal", slow_open)
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await wait_until(pilot, opened.is_set, "the shell to be asked for")
        await pilot.resize_terminal(100, 31)
        await wait_until(pilot, lambda: view(app).screen_model.cols == 100, "the emulator to resize")
        release.set()
        await ready(pilot)
        await run(pilot, "stty size", "30 100")


async def test_paste_arrives_bracketed_in_vim(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        # autoindent on: pasted lines typed as keys would staircase; a bracketed paste arrives as it was
        await type_text(pilot, "vim -u NONE -N -i NONE -c 'set autoindent' paste.txt\n")
        screen = view(app).screen_model
        await wait_until(
            pilot,
            lambda: screen.in_alt and screen.bracketed_paste,
            "vim with bracketed paste on",
            show=lambda: text(pilot.app),
        )
        await type_text(pilot, "i")
        await pilot.pause(0.2)
        view(app).post_message(events.Paste("    indented one\n    indented two\nflush"))
        await wait_until(pilot, lambda: "flush" in text(app), "the pasted text in vim", show=lambda: text(pilot.app))
        await pilot.press("escape")
        await type_text(pilot, ":wq\n")
        await wait_until(pilot, lambda: not screen.in_alt, "vim to quit", show=lambda: text(pilot.app))
        await run(pilot, "cat -A paste.txt", "flush$")
        assert "    indented one$\n    indented two$\nflush$" in text(app)


async def test_exit_code_shown_restart_tabs_title_and_escape_key(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        await type_text(pilot, "printf '\\033]0;my-title\\007'\n")
        await wait_until(pilot, lambda: view(app).title == "my-title", "the OSC title", show=lambda: text(pilot.app))
        assert "my-title" in pane(app).label_for(view(app))
        # the escape key moves focus out; the pane's keys then work
        await pilot.press("ctrl+right_square_bracket")
        await pilot.pause()
        assert not isinstance(app.focused, TerminalView)
        await pilot.press("n")
        await wait_until(pilot, lambda: len(pane(app).views) == 2, "a second tab", show=lambda: text(pilot.app))
        await ready(pilot)
        assert isinstance(app.focused, TerminalView) and app.focused is pane(app).views[1]
        await type_text(pilot, "exit 3\n")
        await wait_until(pilot, lambda: view(app).exited, "the shell to exit", show=lambda: text(pilot.app))
        assert view(app).exit_code == 3
        assert "exit 3" in pane(app).label_for(view(app))
        assert "exited with code 3" in text(app)
        await pilot.press("enter")  # restart
        await wait_until(
            pilot, lambda: not view(app).exited and "$" in text(app), "a new shell", show=lambda: text(pilot.app)
        )
        await run(pilot, "echo again", "\nagain\n")
        for v in list(pane(app).views):
            await v.stop()
        await asyncio.sleep(0)


async def test_the_tab_bar_keeps_focus_only_when_asked(service: SandboxService, sandbox: SandboxInfo) -> None:
    """A pane jump or the focus chain landing on the tab bar must reach the shell ('n' there opens a tab); only
    ctrl+] (the documented way out of the shell) leaves the keyboard on the tab bar."""
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: "$" in text(app), "the prompt", show=lambda: text(pilot.app))
        p = pane(app)
        p._tabbar.focus()  # uninvited, as a remembered-focus pane jump would do
        await pilot.pause()
        assert app.focused is view(app)
        await pilot.press("ctrl+right_square_bracket")
        await pilot.pause()
        assert app.focused is p._tabbar
        await pilot.press("n")
        await wait_until(
            pilot, lambda: len(p.views) == 2, "a second tab from the tab bar's 'n'", show=lambda: text(pilot.app)
        )


async def test_clicks_reach_a_program_that_asked_for_the_mouse(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        # the program turns on press/release reports in SGR form (what htop and vim ask for) and shows what it read
        await type_text(
            pilot,
            "clear; printf '\\033[?1000h\\033[?1006h'; stty raw -echo; r=$(head -c 18 | cat -v); stty sane; "
            "printf '\\033[?1000l\\033[?1006l'; echo \"got<$r>\"\n",
        )
        await wait_until(
            pilot,
            lambda: 1000 in view(app).screen_model.mouse_modes,
            "the program to ask for the mouse",
            show=lambda: text(pilot.app),
        )
        # shift+click stays with the pane (selection, as in xterm): the program must not see it
        await pilot.click(TerminalView, offset=(10, 1), shift=True)
        await pilot.click(TerminalView, offset=(4, 2))
        await wait_until(pilot, lambda: "got<" in text(app), "the program's report", show=lambda: text(pilot.app))
        assert "got<^[[<0;5;3M^[[<0;5;3m>" in text(app)
        await wait_until(
            pilot,
            lambda: not view(app).screen_model.mouse_modes,
            "mouse reports to be turned off",
            show=lambda: text(pilot.app),
        )
        await pilot.click(TerminalView, offset=(4, 2))  # reports off again: a click is the pane's, and sends nothing
        await run(pilot, "echo after", "\nafter\n")
        lines = text(app).split("\n")
        typed = lines[lines.index("after") - 1]
        assert typed.endswith("$ echo after"), typed  # the shell got the keys and nothing else


async def test_double_click_copies_a_word_and_triple_click_the_line(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        await run(pilot, "clear; echo 'see /srv/app/main.py:42 or user@host now'", "now\n")
        row = text(app).split("\n").index("see /srv/app/main.py:42 or user@host now")
        await pilot.click(TerminalView, offset=(10, row), times=2)  # inside the path
        assert app.clipboard == "/srv/app/main.py:42"
        await pilot.click(TerminalView, offset=(30, row), times=2)
        assert app.clipboard == "user@host"
        await pilot.click(TerminalView, offset=(2, row), times=3)
        assert app.clipboard == "see /srv/app/main.py:42 or user@host now"


async def test_a_tab_out_of_sight_shows_output_and_bell_marks(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        first = view(app)
        await type_text(pilot, "sleep 1; echo later; sleep 1; printf 'ding\\a\\n'\n")
        await pane(app).new_tab()
        assert pane(app).active_view is not first
        assert pane(app).label_for(first) == "shell"  # nothing yet
        await wait_until(pilot, lambda: first.unseen, "output in the hidden tab", show=lambda: text(pilot.app))
        assert pane(app).label_for(first).endswith(" •")
        await wait_until(pilot, lambda: first.rang, "the bell in the hidden tab", show=lambda: text(pilot.app))
        assert pane(app).label_for(first).endswith(" !")
        pane(app).activate(first)  # looking at it clears the marks
        assert pane(app).label_for(first) == "shell" and "ding" in text(app)


async def test_copy_mode_searches_the_scrollback_and_copies_with_the_keyboard(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        await run(pilot, "for i in $(seq 1 300); do echo line-$i; done; echo Marker-END", "\nMarker-END\n")
        await pilot.press("ctrl+right_square_bracket", "c")  # the tab bar's copy mode
        v = view(app)
        assert v.copy_mode

        def at() -> str:
            return v._row_text(v._copy_cursor[0]).rstrip()

        # as tmux's copy-mode-vi, vi and less: ? searches backward (up, older), / forward (down, newer)
        assert ("question_mark", "?", "Search up") in (v.footer_keys() or [])  # copy mode's keys, for the footer
        await type_text(pilot, "?line-4")
        assert v.footer_keys() == [("enter", "enter", "Find up"), ("escape", "esc", "Cancel search")]
        await pilot.press("enter")
        assert at() == "line-49" and v.back_rows > 0  # the nearest older match, scrolled into view
        await pilot.press("n")  # again the same way: older
        assert at() == "line-48"
        await pilot.press("N")
        assert at() == "line-49"
        await type_text(pilot, "/marker-end")  # newer; smart case: lower case matches any case
        await pilot.press("enter")
        assert at() == "Marker-END"
        await pilot.press("n")  # again, newer: wraps round to the command line, the oldest match
        assert at().endswith("$ for i in $(seq 1 300); do echo line-$i; done; echo Marker-END")
        await pilot.press("N")
        assert at() == "Marker-END"
        await type_text(pilot, "?Line-7")  # a capital makes it exact: no match, and nothing moves
        await pilot.press("enter")
        assert at() == "Marker-END" and v._match is None
        await type_text(pilot, "/line-30")  # newer, wrapping round from the end to the oldest
        await pilot.press("enter")
        assert at() == "line-30"
        await pilot.press("v", *["l"] * 6, "y")
        assert app.clipboard == "line-30" and not v.copy_mode and v.back_rows == 0
        assert v.footer_keys() is None  # the panes' keys in the footer again


async def test_python_repl_runs_edits_a_line_and_exits_on_ctrl_d(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        await run(pilot, "clear; python3 -q", ">>>")
        await type_text(pilot, "6 * 7")
        await pilot.press("left", "left", "left", "left", "backspace")  # readline editing: "6" goes
        await type_text(pilot, "5\n")
        await wait_until(pilot, lambda: "\n35\n" in text(app), "the REPL's answer", show=lambda: text(pilot.app))
        await pilot.press("ctrl+d")
        await wait_until(
            pilot,
            lambda: text(app).rstrip().endswith("$"),
            "the shell prompt after python exits",
            show=lambda: text(pilot.app),
        )


async def test_a_program_ringing_the_bell_in_a_loop_rings_the_real_terminal_rarely(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    app = TermApp(service, sandbox.id)
    rings: list[float] = []
    app.bell = lambda: rings.append(time.monotonic())  # type: ignore[method-assign]
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        # the quotes keep the echoed command line from matching: wait for the loop's own end
        await run(pilot, "for i in $(seq 200); do printf '\\a'; sleep 0.005; done; echo RU\"\"NG", "RUNG")
        assert 1 <= len(rings) <= 6  # ~1-2 s of bells: one ring at most every half second


async def test_a_shell_that_cannot_start_says_why_once(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.delete(sandbox.id)  # a terminal on a sandbox that is gone: the shell cannot start
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        v = view(app)
        await wait_until(pilot, lambda: v.exited, "the failed start", show=lambda: text(pilot.app))
        label = pane(app).label_for(v)
        assert label.endswith("[failed to start]") and "None" not in label
        assert v.failed and "no sandbox" in v.failed
        assert text(app).count(v.failed) == 1, text(app)
        assert f"could not start a shell: {v.failed} — press enter to try again" in text(app)
        first = v.screen_model
        await pilot.press("enter")  # try again: it fails again, and says so once, not twice
        await wait_until(
            pilot,
            lambda: v.screen_model is not first and v.failed is not None,
            "the second failed start",
            show=lambda: text(pilot.app),
        )
        assert text(app).count(v.failed) == 1 and pane(app).label_for(v).endswith("[failed to start]")


async def test_closing_a_tab_running_a_program_asks_first_naming_it(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    """`w` on the tab bar ends the tab's shell: with a program in its foreground it asks first (as Stop sandbox and
    Close workspace do), naming the program; cancel ends nothing. A bare shell still closes at once."""
    from services.terminal import foreground_program
    from widgets.dialogs import ChoiceDialog

    def dialog_text() -> str:
        return "\n".join(str(s.render()) for s in app.screen.query(".dialog-message").results(Static))

    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        first = view(app)
        session = first.session
        assert session is not None
        await type_text(pilot, "sleep 1000\n")
        await wait_until(pilot, lambda: foreground_program(session) == "sleep", "sleep in the foreground")
        await pilot.press("ctrl+right_square_bracket", "w")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog), "the close-tab question")
        assert "running sleep" in dialog_text()
        await pilot.press("escape")  # cancel: the tab and its program stay
        await wait_until(pilot, lambda: not isinstance(app.screen, ChoiceDialog), "the question to go")
        assert pane(app).views == [first] and first.session is session and session.exit_code is None

        await pilot.press("ctrl+right_square_bracket", "w")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog), "the close-tab question again")
        await pilot.press("enter")  # Close tab (focused first)
        await wait_until(pilot, lambda: first not in pane(app).views, "the tab to close", show=lambda: text(app))
        await wait_until(pilot, lambda: session.exit_code is not None, "its shell (and sleep) to end")

        # the new tab's bare shell closes at once, nothing asked
        await ready(pilot)
        second = view(app)
        await pilot.press("ctrl+right_square_bracket", "w")
        await wait_until(pilot, lambda: second not in pane(app).views, "the bare shell's tab to close")
        assert not isinstance(app.screen, ChoiceDialog)
        for v in list(pane(app).views):
            await v.stop()


async def test_the_scrolled_back_marker_hides_no_output(service: SandboxService, sandbox: SandboxInfo) -> None:
    """Scrolled back, the `↑ scrolled back N lines` marker has the top row to itself: every row of output below it
    is shown whole (it used to be drawn over the end of the first row), the pages follow on without a gap, and a
    click picks the row it lands on."""
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        tail = "x" * 67 + "-END"  # rows that reach the right edge, where the marker went
        await run(pilot, f"clear; seq -f 'row%03g-{tail}' 1 200", "row200-")
        await pilot.pause()
        v = view(app)

        def rendered() -> list[str]:
            return [strip.text.rstrip() for strip in v.render_lines(v.size.region)]

        # the flood's last screen is painted up to a frame later (its scroll and repaint are deferred): wait for it
        await wait_until(
            pilot, lambda: any(ln.startswith("row200-") for ln in rendered()), "the last screen", show=rendered
        )
        page = v.size.height - 1  # shift+PgUp goes back a page: the rows of text a scrolled-back view shows
        live = rendered()
        assert live[0].startswith("row")
        live_top = int(live[0][3:6])
        await pilot.press("shift+pageup")
        await wait_until(pilot, lambda: "scrolled back" in rendered()[0], "the marker", show=lambda: rendered())
        back = rendered()
        assert back[0].strip() == f"↑ scrolled back {v.back_rows} lines"
        assert all(line == f"row{live_top - page + i:03d}-{tail}" for i, line in enumerate(back[1:])), back
        # the next page back follows on, and a click on a row of it takes that row
        await pilot.press("shift+pageup")
        older = f"row{live_top - page - 1:03d}-{tail}"
        await wait_until(pilot, lambda: rendered()[-1] == older, "the next page back", show=lambda: rendered())
        await pilot.click(TerminalView, offset=(2, 1), times=3)
        assert app.clipboard == rendered()[1] == f"row{live_top - 2 * page:03d}-{tail}"
        await pilot.click(TerminalView, offset=(2, 0), times=3)  # on the marker: the first row of text below it
        assert app.clipboard == rendered()[1]
        for x in list(pane(app).views):
            await x.stop()


async def test_copy_mode_marker_and_search_prompt_hide_no_output(service: SandboxService, sandbox: SandboxInfo) -> None:
    """In copy mode the marker (its keys) and the search prompt being typed share the top row, which holds no
    text: every row of output in sight is whole (the marker used to cover the end of the first row and the prompt
    the whole last one), the cursor reaches the screen's first row with it shown whole, and a drag picks the row
    it is on."""
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        tail = "x" * 67 + "-END"  # rows that reach the right edge, where the marker went
        await run(pilot, f"clear; seq -f 'row%03g-{tail}' 1 200", "row200-")
        await pilot.pause()
        v = view(app)

        def rendered() -> list[str]:
            return [strip.text.rstrip() for strip in v.render_lines(v.size.region)]

        # the flood's last screen is painted up to a frame later (its scroll and repaint are deferred): wait for it
        await wait_until(
            pilot, lambda: any(ln.startswith("row200-") for ln in rendered()), "the last screen", show=rendered
        )
        live = rendered()
        assert live[0].startswith("row") and live[-1].rstrip().endswith("$")
        await pilot.press("ctrl+right_square_bracket", "c")  # the tab bar's copy mode
        await wait_until(pilot, lambda: "COPY" in rendered()[0], "the copy-mode marker", show=lambda: rendered())
        shown = rendered()
        assert shown[0].strip().startswith("COPY") and "row" not in shown[0], shown[0]  # the marker's row only
        assert shown[1:] == live[1:], shown  # the rows below it, each whole; the last (the prompt) in sight
        await pilot.press(*["k"] * (v.size.height - 1))  # up to the screen's first row: it scrolls into sight
        await wait_until(pilot, lambda: rendered()[1] == live[0], "the first row whole", show=lambda: rendered())
        before = rendered()
        await type_text(pilot, "/row1")
        await wait_until(pilot, lambda: rendered()[0].startswith("/row1"), "the prompt", show=lambda: rendered())
        assert rendered()[1:] == before[1:]  # typed on the marker's row: the last row still shows its text
        await pilot.press("escape")  # the search is dropped, copy mode stays
        await wait_until(pilot, lambda: "COPY" in rendered()[0], "the marker back", show=lambda: rendered())
        # a drag in copy mode selects on the row under the mouse (row 2 of the pane: the second row of text)
        await pilot.mouse_down(TerminalView, offset=(0, 2))
        await pilot.hover(TerminalView, offset=(9, 2))
        await pilot.mouse_up(TerminalView, offset=(9, 2))
        await wait_until(
            pilot, lambda: app.clipboard == rendered()[2][:10], "the drag copied", show=lambda: repr(app.clipboard)
        )
        assert app.clipboard == live[1][:10]
        for x in list(pane(app).views):
            await x.stop()
