"""The Textual application: `SandbenchApp` and `run_app`, the entry the CLI calls (DESIGN §1, §7).

Reading order for the UI: this file, then `tui/screens/sandbox_list.py`, then `services/sandbox_service.py`.

- The app owns the `SandboxService` (passed in; tests inject their own), the theme, the key map and the single
  place where errors become notifications (`widgets.messages.ErrorRoute`): failed workers of every pane and screen
  (all run with `exit_on_error=False` and carry `ReportWorkerErrors`) and errors panes catch themselves
  (`widgets.messages.report`) arrive as `WorkerFailed`; a `SandbenchError` is shown as its title and one-line
  message, anything else as "unexpected error (details in the log file)" with the traceback in the log file. No
  traceback and no sandbox markup reach the screen (every notification goes through `widgets.messages.tell`).
- Workspaces outlive a trip back to the list: `tui.workspaces.Workspaces` keeps one per opened sandbox alive in the
  background (terminals, editor tabs, layout) and is the one place that shows, hides or ends them; ending one,
  and quitting with unsaved buffers in any of them, asks first.
- Start-up imports only what the sandbox list's first frame needs; the workspace screen (and with it the editor,
  pygments and the terminal) is imported when a sandbox is first opened.
- The provider is built after the first frame (issue 14): `run_app` passes a `build` callable, which runs in a thread
  once the list has painted its "loading sandboxes…" state; the provider's modules (services.local, the daytona SDK,
  aiohttp) load there, off the first frame. Until it is built, `app.service` raises `ProviderNotReady` (a one-line
  error through the error route, never an AttributeError); a build that fails goes through the same route and the
  list says so in place of its loading line.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import (
    App,
    ScreenStackError,
)
from textual.binding import BindingType
from textual.widget import Widget

from services.config import Config
from services.errors import StateDatabaseDamaged
from services.models import SandboxInfo
from services.state_db import NAME as STATE_DB
from services.state_db import check_header
from tui import meta_keys
from tui.commands import PaneCommands
from tui.heap import settle_heap
from tui.keymap import APP_KEYS, apply_keymap, bindings, in_terminal_ids
from tui.messages import CloseWorkspace, LeaveWorkspace, OpenSandbox, SandboxReady
from tui.screens.sandbox_list import ProviderNotReady, SandboxListScreen
from tui.workspaces import Workspaces
from widgets.clock import utc_now
from widgets.early_keys import StrayKeys, held_by_screen
from widgets.messages import ErrorRoute, ReportWorkerErrors, tell
from widgets.sandbox_table import safe_text
from widgets.toast_hold import HoldsToasts

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService
    from tui.open_keys import OpenKeys
    from tui.screens.workspace import WorkspaceScreen

log = logging.getLogger("sandbench.app")
SWITCH_INTERVAL = 0.0005  # seconds: see `run_app`


# ESC+character is alt+character (tmux, SSH, xterm): Textual remaps some pairs and mis-reads fast ones
meta_keys.install()


def stylesheet_path() -> Path:
    """`styles.tcss` at the top of the repository (editable install), or inside the `tui` package (wheel)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "styles.tcss", here / "styles.tcss"):
        if candidate.is_file():
            return candidate
    return here.parent / "styles.tcss"


class SandbenchApp(HoldsToasts, ErrorRoute, ReportWorkerErrors, App[int], inherit_bindings=False):
    TITLE = "sandbench"
    CSS_PATH = stylesheet_path()
    # inherit_bindings=False drops Textual's own ctrl+c binding: ctrl+c belongs to the focused pane (the terminal)
    BINDINGS: ClassVar[list[BindingType]] = bindings(APP_KEYS)
    COMMANDS: ClassVar[set[Any]] = {PaneCommands}
    # escape belongs to the focused pane (vim in the terminal); the workspace's "back" key restores a maximised pane
    ESCAPE_TO_MINIMIZE = False
    NOTIFICATION_TIMEOUT = 6

    def __init__(
        self,
        service: SandboxService | None,
        config: Config,
        *,
        build: Callable[[], SandboxService] | None = None,
        open_name: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        auto_stop: bool = False,
        panes: Mapping[str, Callable[..., Widget]] | None = None,
        doctor: bool = True,
    ) -> None:
        super().__init__()
        self.panes = panes  # pane class overrides for the workspace (tests); None = the real panes
        self._service = service
        self._build = build  # with service=None: makes the service, in a thread, after the first frame
        self._building: asyncio.Future[SandboxService] | None = None
        # a build failure the app cannot work around (a damaged state database): the app ends and `run_app`
        # raises it, so it reads as one line on the terminal, as every CLI error does
        self.fatal: StateDatabaseDamaged | None = None
        self.config = config
        level = config.animations
        self.animation_level = "full" if level == "full" else "basic" if level == "basic" else "none"
        self.open_name = open_name
        self._open_keys: OpenKeys | None = None  # keys typed while open_name is opening (tui/open_keys.py)
        self._stray_keys = StrayKeys()  # keys a dialog covered on their way (widgets/early_keys.py)
        if open_name:
            from tui.open_keys import OpenKeys

            self._open_keys = OpenKeys(self, open_name)
        self.clock = clock
        self._auto_stop = auto_stop
        self.doctor = doctor  # run the doctor on the list (snapshot tests turn it off: its verdict is the host's)
        self.in_terminal = in_terminal_ids()  # binding ids that run while a terminal holds the keyboard
        self.workspaces = Workspaces(self, self._make_workspace)

    async def on_event(self, event: events.Event) -> None:
        if held_by_screen(self, event):  # a dialog still mounting: the key is typed into it once it can take it
            return
        if self._open_keys is not None and self._open_keys.hold(event):  # `sandbench open NAME` still opening
            return
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._stray_keys.forwarded(event, self.screen)
        await super().on_event(event)

    async def _on_key(self, event: events.Key) -> None:
        # a key forwarded to a widget that a dialog has covered since goes to the dialog (early_keys.StrayKeys).
        # No super() call: Textual runs every class's _on_key in the MRO, so App's own (the bindings) runs next
        # unless this one prevents it.
        if await self._stray_keys.redirect(self, event):
            event.prevent_default()
            event.stop()

    def on_mount(self) -> None:
        if self.config.theme in self.available_themes:
            self.theme = self.config.theme
        else:
            tell(self, f"unknown theme {self.config.theme!r}; using the default")
        others, self.in_terminal = apply_keymap(self, self.config.keymap)
        if others:
            log.info("keymap ids defined by other panes (or unknown): %s", ", ".join(others))
        self._list = SandboxListScreen(
            self._service, self.config, self.clock, doctor=self.doctor, workspaces=self.workspaces
        )
        self.workspaces.show_list(self._list)
        self.call_after_refresh(settle_heap)
        if self._service is not None:
            self._service_ready(self._service)
        elif self._build is not None:
            self.call_after_refresh(self._build_service)

    @property
    def service(self) -> SandboxService:
        if self._service is None:
            raise ProviderNotReady(f"the {self.config.provider} provider is still starting; try again in a moment")
        return self._service

    def _build_service(self) -> None:
        build = self._build
        if build is None or self._building is not None:
            return
        # A future of its own, not the worker's: a build still running when the app quits is awaited and closed
        # by `close_service`, never left holding a provider nobody closes.
        self._building = asyncio.ensure_future(asyncio.to_thread(build))
        building = self._building

        async def work() -> None:
            try:
                service = await asyncio.shield(building)
            except StateDatabaseDamaged as exc:
                self.fatal = exc
                self.exit(return_code=exc.exit_code)
                return
            except BaseException as exc:
                self._list.provider_failed(exc)
                self._drop_open_keys()
                raise
            self._service_ready(service)

        self.run_worker(work(), name="start the provider", group="provider", exit_on_error=False)

    def _service_ready(self, service: SandboxService) -> None:
        self._service = service
        self._list.attach(service)
        if self._auto_stop:
            service.start_auto_stop()
            # the real app lives long: each sandbox's checkpoint scans come from a change feed after the first
            service.checkpoints.enable_feeds()
        if self.open_name:
            self.open_by_name(self.open_name)

    async def close_service(self) -> None:
        """Close the service, built or still being built (awaited first); a failed build has nothing to close."""
        service = self._service
        if service is None and self._building is not None:
            try:
                service = await self._building
            except Exception:
                return  # already reported (or the app quit before it was shown); nothing was built
        if service is not None:
            await service.close()

    # -- keys -----------------------------------------------------------------------------------------------
    async def _check_bindings(self, key: str, priority: bool = False) -> bool:
        """Textual's key dispatch, with the terminal's rule: while the focused widget `holds_keyboard` (a terminal
        running a program), priority bindings — the app's, the screen's, any pane's — do not take its keys; only
        the bindings in `in_terminal` run (what the `[keymap]` marks `terminal:`; none by default, not even quit),
        whether priority or not. Every other key goes on to the terminal, which sends it to the program (its own
        escape, ctrl+], is its own binding). Done here, in the one place Textual looks up priority bindings, so no
        binding added anywhere can take a key from the program; the footer and the palette are untouched by it.

        `_check_bindings` is Textual-internal (tests/test_textual_internals.py checks it is there): if it changes,
        the tests that send F6 and alt+1 to `cat -v` in the terminal fail.
        """
        if priority and getattr(self.focused, "holds_keyboard", False):
            for namespace, bindings_map in reversed(self.screen._binding_chain):
                for binding in bindings_map.key_to_bindings.get(key, ()):
                    if binding.id in self.in_terminal and await self.run_action(binding.action, namespace):
                        return True
            return False
        return await super()._check_bindings(key, priority)

    # -- opening a sandbox ---------------------------------------------------------------------------------
    def open_by_name(self, name: str) -> None:
        async def work() -> None:
            try:
                info = await self.service.resolve(name)
            except BaseException:
                self._drop_open_keys()
                raise
            self.post_message(SandboxReady(info))

        self.run_worker(work(), name=f"open {name}", group="open", exclusive=True, exit_on_error=False)

    def on_open_sandbox(self, message: OpenSandbox) -> None:
        self.open_workspace(message.info)

    def on_sandbox_ready(self, message: SandboxReady) -> None:
        self.open_workspace(message.info)
        keys = self._open_keys
        if keys is not None:
            from tui.screens.workspace import WorkspaceScreen

            def ready() -> bool:
                if not self.is_running:
                    return False
                try:
                    screen = self.screen
                except ScreenStackError:  # the app is closing: nothing to hand the keys to
                    return False
                return isinstance(screen, WorkspaceScreen) and screen.focused_pane is not None

            keys.release_when_settled(ready)

    def _drop_open_keys(self) -> None:
        if self._open_keys is not None:
            self._open_keys.drop()

    def open_workspace(self, info: SandboxInfo) -> None:
        from tui.screens.workspace import WorkspaceScreen

        if isinstance(self.screen, WorkspaceScreen):
            return
        self.workspaces.open(info)

    def _make_workspace(self, info: SandboxInfo) -> WorkspaceScreen:
        # Imported here, not at start-up: the list's first frame does not need the workspace and its panes.
        from tui.screens.workspace import WorkspaceScreen

        return WorkspaceScreen(self.service, info, self.config, panes=self.panes)

    def on_leave_workspace(self, _message: LeaveWorkspace) -> None:
        self.workspaces.leave()

    async def on_close_workspace(self, message: CloseWorkspace) -> None:
        ws = self.workspaces.get(message.sandbox_id)
        if ws is None:
            return
        if message.ask:
            self.workspaces.confirm_end(ws.info)
        else:
            await self.workspaces.end(message.sandbox_id)

    # -- help ----------------------------------------------------------------------------------------------
    def action_help(self) -> None:
        from tui.screens.help import HelpScreen, collect_groups

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(collect_groups(self.screen)))

    # -- quitting ------------------------------------------------------------------------------------------
    def unsaved(self) -> list[str]:
        """Unsaved buffers in every live workspace, shown or in the background."""
        return self.workspaces.unsaved()

    def still_running(self) -> str:
        """What quitting leaves running, for the quit dialog and the line printed on the way out: the shells of the
        live workspaces, which stay running (detached, as tmux detaches) for `sandbench open NAME`; "" if none."""
        parts = []
        for ws in self.workspaces.all():
            count = ws.ending().terminals
            if count:
                parts.append((count, ws.info.name))
        if not parts:
            return ""
        shells = sum(c for c, _ in parts)
        where = ", ".join(safe_text(n) for _, n in parts[:3])
        again = f"sandbench open {safe_text(parts[0][1])}" if len(parts) == 1 else "sandbench open NAME"
        shells_keep = f"{shells} shells in {where} keep" if shells > 1 else f"1 shell in {where} keeps"
        return f"{shells_keep} running; `{again}` reattaches"

    def _quit(self) -> None:
        note = self.still_running()
        self.exit(0, message=f"sandbench: {note}" if note else None)

    async def action_quit(self) -> None:
        from widgets.unsaved_dialog import UnsavedDialog

        unsaved = self.unsaved()
        if not unsaved:
            self._quit()
            return
        if isinstance(self.screen, UnsavedDialog):
            return  # already asking: losing work takes `d`, never a second ctrl+q

        async def save_everything() -> list[str]:
            left: list[str] = []
            for ws in self.workspaces.all():
                left.extend(await ws.save_all())
            return left

        def answer(choice: object) -> None:
            if choice in ("saved", "discard"):
                self._quit()

        running = self.still_running()
        # quitting detaches shells, as tmux does: they keep running for `sandbench open` (closing a workspace ends)
        detached = f"{running[:1].upper()}{running[1:]} (detached, as tmux detaches)." if running else ""
        self.push_screen(UnsavedDialog("Quit sandbench?", detached, unsaved, save=save_everything, then="quit"), answer)

    # -- errors --------------------------------------------------------------------------------------------
    # Shown in one place: `ErrorRoute` (widgets.messages) handles `WorkerFailed` and `report_error`.
    def _handle_exception(self, error: Exception) -> None:
        # A bug in a handler: Textual would print a traceback with locals on exit. Log it instead, and exit with
        # one line. Headless (tests, snapshots) keeps Textual's behaviour so the test sees the real exception.
        log.error("unexpected error; sandbench is closing", exc_info=error)
        if self.is_headless:
            super()._handle_exception(error)
            return
        self._return_code = 1
        self.exit(return_code=1, message="sandbench: unexpected error (details in the log file)")


def run_app(cfg: Config, open_name: str | None = None) -> int:
    """Run the app on the configured provider; close the service on the way out. Returns the exit code."""
    from services.factory import make_service

    # Textual reads keys and writes frames in threads of its own, which wait for the GIL the event loop holds: up to
    # the switch interval (5 ms by default) each way. A key's echo as seen through a terminal was ~3 ms faster at
    # p50 with 0.5 ms (bench/terminal.py --only seen); the loop itself gives the GIL up only when a thread asks.
    sys.setswitchinterval(SWITCH_INTERVAL)

    if cfg.provider == "local":
        check_header(cfg.data_dir / STATE_DB)  # a garbage state.db: its one line before anything is drawn

    async def main() -> int:
        # the provider is built after the first frame (in a thread): its imports and set-up do not delay it
        app = SandbenchApp(None, cfg, build=lambda: make_service(cfg), open_name=open_name, auto_stop=True)
        try:
            await app.run_async()
        finally:
            try:
                await app.close_service()
            except Exception:
                log.exception("closing the service failed")
        if app.fatal is not None:
            raise app.fatal  # `sandbench: the state database … is damaged: run 'sandbench doctor --repair' …`
        return app.return_code or 0

    return asyncio.run(main())
