"""The live workspaces: one `WorkspaceScreen` per opened sandbox, kept alive in the background (issue 11 §1).

Leaving a workspace never ends anything: its terminals (scrollback, running programs), editor tabs (unsaved
buffers included), pane layout and focus stay as they are, and opening the sandbox again from the list shows the
same screen instance. Each workspace lives in a Textual *mode* of its own (`ws:<sandbox id>`), the list in
`list`: switching modes hides a screen without removing it, dialogs opened in a workspace stack on
that workspace's own stack, and on exit Textual unmounts every mode's screens, so each terminal is closed
properly (an installed-but-hidden screen would only have its message loop stopped).

Ending a workspace is explicit (`confirm_end`): the dialog says what ends — the terminals (naming the programs
running in them) and the unsaved buffers — and, with unsaved buffers, asks Save all / Discard / Cancel
(`widgets.unsaved_dialog`: a failed save ends nothing). Stopping or deleting a
sandbox whose workspace is alive goes through the same dialog. This module never imports the workspace screen
at start-up (the list's first frame does not need it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.screen import Screen

from services.models import SandboxInfo
from services.text import safe_text

if TYPE_CHECKING:
    from services.terminal import TerminalSession
    from tui.screens.pane_frame import Ending
    from tui.screens.workspace import WorkspaceScreen

log = logging.getLogger(__name__)

LIST_MODE = "list"  # the sandbox list's mode (Textual cannot switch back to its own "_default")


def mode_of(sandbox_id: str) -> str:
    return f"ws:{sandbox_id}"


def styled_now(app: App[Any], screen: Screen[Any]) -> Screen[Any]:
    """`screen`, marked as styled by the stylesheet as it is now. Textual styles a new mode's screen when it mounts
    it, but a screen never shown counts as behind the stylesheet (`_css_update_count` -1), so `switch_mode`
    re-parsed the whole stylesheet and restyled every screen of the app for it, twice (`_init_mode`, then
    `switch_mode`): 10 % of a workspace's opening. A screen that missed a real change (a theme set while it was
    hidden) still has an older count and is restyled as before. `_css_update_count` is Textual-internal
    (tests/test_textual_internals.py checks it is there)."""
    screen._css_update_count = app._css_update_count
    return screen


class Workspaces:
    """The app's live workspaces by sandbox id, and the only code that shows, hides or ends one."""

    def __init__(self, app: App[Any], make: Callable[[SandboxInfo], WorkspaceScreen]) -> None:
        self._app = app
        self._make = make
        self._live: dict[str, WorkspaceScreen] = {}
        self._listeners: list[Callable[[], None]] = []

    # -- what is alive -------------------------------------------------------------------------------------
    def get(self, sandbox_id: str) -> WorkspaceScreen | None:
        return self._live.get(sandbox_id)

    def ids(self) -> set[str]:
        return set(self._live)

    def all(self) -> list[WorkspaceScreen]:
        return list(self._live.values())

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` whenever a workspace starts or ends (the list's live markers follow it)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def unsaved(self) -> list[str]:
        """Every live workspace's unsaved buffers, each named with its sandbox when more than one is alive."""
        out: list[str] = []
        many = len(self._live) > 1
        for ws in self._live.values():
            names = ws.has_unsaved()
            out.extend(f"{ws.info.name}: {n}" if many else n for n in names)
        return out

    # -- showing and hiding --------------------------------------------------------------------------------
    def show_list(self, screen: Screen[Any]) -> None:
        """Start the app on the sandbox list, in the mode every workspace goes back to."""
        self._app.add_mode(LIST_MODE, lambda: styled_now(self._app, screen))
        self._app.switch_mode(LIST_MODE)

    def open(self, info: SandboxInfo) -> WorkspaceScreen:
        """Show the sandbox's workspace: the kept one when it is alive (exactly as it was left), else a new one."""
        ws = self._live.get(info.id)
        mode = mode_of(info.id)
        if ws is None:
            ws = self._make(info)
            self._live[info.id] = ws
            self._app.add_mode(mode, lambda: styled_now(self._app, ws))
            self._changed()
        self._app.switch_mode(mode)
        return ws

    def leave(self) -> None:
        """Back to the list; the workspace shown stays alive, hidden."""
        if self._app.current_mode != LIST_MODE:
            self._app.switch_mode(LIST_MODE)

    @property
    def shown(self) -> WorkspaceScreen | None:
        mode = self._app.current_mode
        return next((ws for sid, ws in self._live.items() if mode_of(sid) == mode), None)

    # -- ending --------------------------------------------------------------------------------------------
    async def end(self, sandbox_id: str) -> None:
        """End the workspace now, without asking (callers asked): its screens unmount, its terminals close."""
        ws = self._live.pop(sandbox_id, None)
        if ws is None:
            return
        mode = mode_of(sandbox_id)
        try:
            # ended on purpose, so its shells end too (unmounting alone only detaches them, as quitting does)
            await ws.end_terminals()
        except Exception:
            log.exception("ending the terminals of %s failed", sandbox_id)
        if self._app.current_mode == mode:
            self._app.switch_mode(LIST_MODE)
        try:
            await self._app.remove_mode(mode)
        except Exception:  # a mode Textual no longer knows: the screen went with it
            log.exception("removing the workspace of %s failed", sandbox_id)
        self._changed()

    def confirm_end(
        self,
        info: SandboxInfo,
        *,
        then: Callable[[], object] | None = None,
        verb: str = "close",
        title: str | None = None,
        before: str = "",
        save: bool = True,
    ) -> None:
        """Ask before ending `info`'s workspace (and doing `then`, e.g. stopping the sandbox), saying what ends.

        With no live workspace, `then` runs at once. `before` is the caller's own question (delete's), asked in
        the same dialog; `save=False` leaves out Save all (nothing to save to after a delete). Cancel ends
        nothing and does nothing."""
        ws = self._live.get(info.id)
        if ws is None:
            if then is not None:
                then()
            return
        ask = functools.partial(self._ask_end, info, then=then, verb=verb, title=title, before=before, save=save)
        if _asks_remotely(ws):
            # a Daytona terminal says what runs in it only when asked (a request each): the dialog follows the answers

            async def asked() -> None:
                ask(ws, await _ask_ending(ws))

            self._app.run_worker(asked(), name="what the workspace ends", exit_on_error=False)
            return
        ask(ws, ws.ending())

    def _ask_end(
        self,
        info: SandboxInfo,
        ws: WorkspaceScreen,
        ending: Ending,
        *,
        then: Callable[[], object] | None,
        verb: str,
        title: str | None,
        before: str,
        save: bool,
    ) -> None:
        from widgets.dialogs import ChoiceDialog, ConfirmDialog  # not needed for the list's first frame
        from widgets.unsaved_dialog import UnsavedDialog

        lines = [before] if before else []
        name = safe_text(info.name)
        unsaved = ws.has_unsaved() if save else []
        # with unsaved buffers the dialog lists them itself (Save all / Discard / Cancel): say only what else ends
        what = (dataclasses.replace(ending, unsaved=()) if unsaved else ending).text()
        lines.append(
            f"Close workspace of {name}: {what}." if verb == "close" else f"Its open workspace ends too: {what}."
        )
        heading = title or f"{verb.capitalize()} workspace"

        async def end() -> None:
            await self.end(info.id)
            if then is not None:
                then()

        def answer(choice: object) -> None:
            if choice is True or choice in ("saved", "discard", "end"):
                # ending unmounts the screens of the workspace: from a worker, not from the dismiss callback
                self._app.run_worker(end(), name=f"{verb} {info.name}", group="end-workspace", exit_on_error=False)

        if unsaved:
            self._app.push_screen(
                UnsavedDialog(heading, "\n".join(lines), unsaved, save=ws.save_all, then=_then(verb, name)), answer
            )
            return
        if verb == "delete":  # destroys the files: Cancel has the focus, `y` or tab+enter confirms
            self._app.push_screen(ConfirmDialog(heading, "\n".join(lines), confirm="Delete", danger=True), answer)
            return
        self._app.push_screen(ChoiceDialog(heading, "\n".join(lines), [("end", verb.capitalize())]), answer)


def _terminal_sessions(ws: WorkspaceScreen) -> list[TerminalSession]:
    from widgets.terminal import TerminalView

    return [view.session for view in ws.query(TerminalView) if view.session is not None]


def _asks_remotely(ws: WorkspaceScreen) -> bool:
    """Some terminal of `ws` must be asked over the network what runs in it (a Daytona one)."""
    return any(callable(getattr(s, "ask_foreground", None)) for s in _terminal_sessions(ws))


async def _ask_ending(ws: WorkspaceScreen) -> Ending:
    """`ws.ending()`, each terminal asked what runs in it (`ask_foreground`); those whose provider cannot say are
    counted in `unknown`, and the dialog says a program may be running there."""
    from services.terminal import CANNOT_TELL, ask_foreground
    from tui.screens.pane_frame import Ending

    sessions = _terminal_sessions(ws)
    answers = await asyncio.gather(*(ask_foreground(s) for s in sessions))
    running = tuple(a for a in answers if a and a != CANNOT_TELL)
    unknown = sum(a == CANNOT_TELL for a in answers)
    return Ending(len(sessions), running, tuple(ws.has_unsaved()), unknown=unknown)


def _then(verb: str, name: str) -> str:
    """What follows the Save all question, in words: "close the workspace", "stop box"."""
    return "close the workspace" if verb == "close" else f"{verb} {name}"
