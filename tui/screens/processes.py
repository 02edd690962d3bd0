"""The Processes view (issue 13 §3): what runs in one sandbox right now, as htop shows it, and its listening ports.

A screen over the workspace (shift+f4, palette "Processes") or the sandbox list (`p`). While shown it reads the
process tree and the ports every `REFRESH` seconds (a worker; readings stop while another screen is on top), sorted
(F6 / s cycles CPU, memory, pid, age) and filtered as you type. `k` asks before sending TERM, and offers KILL when
TERM did not end the process; the service refuses anything outside the sandbox. The ports table forwards a port to
127.0.0.1 (`f`; local sandboxes with network, Daytona ones through the port's preview link) and copies its URL
(`c`). Everything from the sandbox is plain `Text`.

`source` is the data seam: what gives the process list and the ports (default: the service). Snapshot tests pass
fixed lists through it, since a live process list is never the same twice.
"""

from __future__ import annotations

from typing import Any, Protocol

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from services.errors import SandbenchError
from services.models import SandboxInfo, SandboxState
from services.processes import SORT_KEYS, PortInfo, ProcessInfo, matches, tree
from services.sandbox_service import SandboxService
from tui.keymap import FOCUS_KEYS, PROCESS_KEYS, bindings
from tui.screens.restore_flow import open_dialog
from tui.screens.view_switch import ViewSwitch, view_keys
from widgets.dialogs import ChoiceDialog, ConfirmDialog
from widgets.footer import FittedFooter
from widgets.messages import ReportWorkerErrors, report, tell
from widgets.process_view import PortTable, ProcessTable
from widgets.sandbox_table import safe_text

REFRESH = 1.5  # seconds between readings while shown
# the ports every third reading: a namespace's socket table costs ~10 ms to read on a busy host (the kernel walks
# its whole connection table), more than the process list (bench/processes.py)
PORTS_EVERY = 3
SORT_NAMES = {"cpu": "CPU", "memory": "memory", "pid": "pid", "age": "age"}
FORWARD_HINTS = {  # by `ProcessService.forward_via`
    "tcp": "f on a port forwards it to localhost",
    "preview": "f on a port forwards it to localhost by its preview link (HTTP, WebSockets)",
    None: "no network: ports are not forwarded",
}


class ProcessSource(Protocol):
    async def processes(self, sandbox_id: str) -> list[ProcessInfo]: ...

    async def ports(self, sandbox_id: str) -> list[PortInfo]: ...


class FilterInput(Input):
    """The filter field: enter hands the keyboard back to the table, and a key typed right after enter (`k`)
    reaches the table, not the field: keys are queued to the widget focused when they arrived, so one that comes
    here after the field lost focus is not typed but left to bubble to the app, which runs the bindings of what is
    focused now."""

    async def _on_key(self, event: events.Key) -> None:
        # Textual runs each class's `_on_key` in turn (Input's types the key) unless the default is prevented
        if self.screen.focused is not self:
            event.prevent_default()  # not typed; still bubbles, to the bindings of what has focus now
            return
        if event.key == "enter":
            # here, not as a binding: a binding runs when the key has bubbled to the app, after the next keys
            event.stop()
            event.prevent_default()
            self.screen.set_focus(self.screen.query_one(ProcessTable))


def _pid(proc: ProcessInfo) -> str:
    """The pid as the sandbox sees it, with the host's when they differ (the confirmation names both)."""
    return str(proc.shown_pid) if proc.host_pid is None else f"{proc.shown_pid} (host pid {proc.host_pid})"


class ProcessesScreen(ViewSwitch, ReportWorkerErrors, Screen[None], inherit_bindings=False):
    # f9 is the process table's kill (as in htop): Changes is not offered from here by its key
    BINDINGS = bindings(PROCESS_KEYS + view_keys("processes", "Processes", skip=("processes", "changes")) + FOCUS_KEYS)
    HELP_TITLE = "Processes"
    AUTO_FOCUS = "ProcessTable"
    DEFAULT_CSS = """
    ProcessesScreen #ps-title { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    ProcessesScreen #ps-filter { height: 1; border: none; padding: 0 1; }
    ProcessesScreen #ps-filter:focus { background: $boost; }
    ProcessesScreen #ports-title { height: 1; background: $panel; padding: 0 1; margin-top: 0; }
    ProcessesScreen #ps-forward { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    """

    def __init__(
        self,
        service: SandboxService,
        info: SandboxInfo,
        *,
        source: ProcessSource | None = None,
        refresh_every: float | None = REFRESH,
    ) -> None:
        super().__init__()
        self.service = service
        self.info = info
        self.source: ProcessSource = source if source is not None else service
        self._forward_via = service.process_service.forward_via(info)
        self.refresh_every = refresh_every
        self.sort = "cpu"
        self.procs: list[ProcessInfo] = []
        self.port_list: list[PortInfo] = []
        self.loaded = False
        self._timer: Timer | None = None
        self._readings = 0

    def compose(self) -> ComposeResult:
        yield Static(id="ps-title")
        yield FilterInput(placeholder="filter: type words of the command, user, state or pid (/)", id="ps-filter")
        yield ProcessTable(id="ps-table")
        yield Static(id="ports-title")
        yield PortTable(can_forward=self._forward_via is not None, id="ports-table")
        yield Static(id="ps-forward")
        yield FittedFooter()

    def on_mount(self) -> None:
        self.query_one(ProcessTable).type_into = self._type_into_filter
        self._title()
        self.reload()
        if self.refresh_every:
            self._timer = self.set_interval(self.refresh_every, self.reload)

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_screen_resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()
            self._readings = 0  # back on screen: the ports afresh too
            self.reload()

    # -- reading -----------------------------------------------------------------------------------------------
    @work(exclusive=True, group="ps-read", exit_on_error=False)
    async def reload(self) -> None:
        try:
            procs = await self.source.processes(self.info.id)
            fresh_ports = self._readings % PORTS_EVERY == 0
            ports = await self.source.ports(self.info.id) if fresh_ports else self.port_list
            self._readings += 1
        except SandbenchError as exc:
            if self._timer is not None:
                self._timer.pause()  # one notification, not one every 1.5 s; reopening tries again
            report(self, exc, "processes")
            return
        self.procs, self.port_list = procs, ports
        self.loaded = True
        self._show()

    @property
    def filter_text(self) -> str:
        return self.query_one("#ps-filter", Input).value

    def shown_rows(self) -> list[tuple[ProcessInfo, int]]:
        """The tree in the current sort; filtered, it is the matching processes, flat (as htop's filter)."""
        text = self.filter_text.strip()
        if text:
            return [(p, 0) for p, _d in tree([p for p in self.procs if matches(p, text)], self.sort)]
        return tree(self.procs, self.sort)

    def _show(self) -> None:
        self.query_one(ProcessTable).show(self.shown_rows())
        forwards = {f.port: f.address for f in self.service.port_forwards(self.info.id)}
        self.query_one(PortTable).show(self.port_list, forwards)
        self._title()

    def _title(self) -> None:
        rows = len(self.shown_rows()) if self.loaded else 0
        noun = "process" if len(self.procs) == 1 else "processes"
        count = f"{len(self.procs)} {noun}" if self.loaded else "reading…"
        if self.loaded and self.filter_text.strip():
            count = f"{rows} of {len(self.procs)} {noun}"
        title = Text(f"Processes · {safe_text(self.info.name)} · {count} · by {SORT_NAMES[self.sort]}")
        self.query_one("#ps-title", Static).update(title)
        ports = len(self.port_list)
        label = f"Listening ports · {ports}" if ports else "Listening ports · none"
        self.query_one("#ports-title", Static).update(Text(label))
        forwards = self.service.port_forwards(self.info.id)
        line = "  ".join(f"{f.port} → {f.url}" for f in forwards)
        hint = FORWARD_HINTS[self._forward_via]
        self.query_one("#ps-forward", Static).update(Text(f"forwarded: {line}" if line else hint))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one(ProcessTable).show(self.shown_rows())
        self._title()

    # -- keys --------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_filter":
            return not isinstance(self.focused, Input)  # typing / there is filtering for a slash
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_cycle_sort(self) -> None:
        self.sort = SORT_KEYS[(SORT_KEYS.index(self.sort) + 1) % len(SORT_KEYS)]
        self._show()

    def action_focus_filter(self) -> None:
        self._type_into_filter("")

    def _type_into_filter(self, text: str) -> None:
        field = self.query_one(FilterInput)
        self.set_focus(field)  # now, not after the keys already queued (see ProcessTable._on_key)
        if text:
            field.insert_text_at_cursor(text)

    # -- kill --------------------------------------------------------------------------------------------------
    def on_process_table_kill_requested(self, message: ProcessTable.KillRequested) -> None:
        proc = message.process
        if not self.service.owns(self.info):
            tell(self, f"{safe_text(self.info.name)} is another owner's: read-only, nothing is ended")
            return

        def answer(yes: object) -> None:
            if yes:
                self._kill(proc, "TERM")

        open_dialog(
            self,
            ConfirmDialog(
                "End process",
                f"Send TERM to process {_pid(proc)} ({proc.command[:200]})?",
                confirm="Send TERM",
                danger=True,
            ),
            answer,
        )

    @work(group="ps-kill", exit_on_error=False)
    async def _kill(self, proc: ProcessInfo, signal: str) -> None:
        try:
            result = await self.service.kill_process(self.info.id, proc.pid, signal, started=proc.started)
        except SandbenchError as exc:
            report(self, exc, "kill")
            return
        self.reload()
        if result.ended:
            tell(self, f"process {proc.shown_pid} ended ({result.signal})", timeout=3)
            return
        if signal == "KILL":
            tell(self, f"process {proc.shown_pid} is still there after KILL (it may be exiting)", severity="warning")
            return

        def again(choice: object) -> None:
            if choice == "kill":
                self._kill(proc, "KILL")

        open_dialog(
            self,
            ChoiceDialog(
                "Still running",
                f"Process {_pid(proc)} did not end after TERM. Send KILL (it cannot be caught)?",
                [("kill", "Send KILL")],
            ),
            again,
        )

    # -- ports -------------------------------------------------------------------------------------------------
    def on_port_table_requested(self, message: PortTable.Requested) -> None:
        port = message.port
        if message.what == "forward":
            self._forward(port.port)
            return
        fwd = next((f for f in self.service.port_forwards(self.info.id) if f.port == port.port), None)
        if fwd is None:
            tell(self, f"port {port.port} is not forwarded (f forwards it)", timeout=3)
            return
        if message.what == "copy":
            self.app.copy_to_clipboard(fwd.url)
            tell(self, f"copied {fwd.url}", timeout=3)
        else:
            self._unforward(port.port)

    @work(group="ps-forward", exit_on_error=False)
    async def _forward(self, port: int) -> None:
        try:
            fwd = await self.service.forward_port(self.info.id, port)
        except SandbenchError as exc:
            report(self, exc, "forward")
            return
        self.app.copy_to_clipboard(fwd.url)
        tell(self, f"port {port} is at {fwd.url} (copied)", timeout=6)
        self._show()

    @work(group="ps-forward", exit_on_error=False)
    async def _unforward(self, port: int) -> None:
        await self.service.close_forward(self.info.id, port)
        tell(self, f"port {port} is no longer forwarded", timeout=3)
        self._show()


def open_processes(node: Screen[Any], service: SandboxService, info: SandboxInfo | None) -> None:
    """Show the Processes view of `info` over `node`'s screen (a sandbox that is not running has nothing to show;
    None: no sandbox is selected, which the caller has said)."""
    if info is None:
        return
    if info.state is not SandboxState.STARTED:
        tell(node, f"{safe_text(info.name)} is {info.state}: nothing runs in it", timeout=3)
        return
    node.app.push_screen(ProcessesScreen(service, info))
