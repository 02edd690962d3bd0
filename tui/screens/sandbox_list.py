"""The first screen: the owner's sandboxes, filter as you type, and the lifecycle keys (DESIGN §4, issue 3).

State stays live without a refresh storm: the service's state listener posts `SandboxChanged` for single rows, a
slow timer re-lists every `REFRESH_EVERY` seconds (exclusive: a newer listing supersedes an older one), and
lifecycle results update their own row. Every service call runs in a worker that posts a result message; failures
go to the app's single error handler through `ReportWorkerErrors`.

Others' sandboxes (issue 6): with `show_others = true` in the config, `o` toggles listing the organisation's other
sandboxes next to the user's own. They are read-only: dimmed, with an Owner column, and every lifecycle key on one
refuses with a one-line note instead of calling the service (which would refuse too, fail closed). `A` adopts one
after a confirmation that names the sandbox and its current owner. The line under the table (`#list-detail`) shows
the selected sandbox's id, owner and whatever the narrow layout has no column for.

The doctor (issue 10): on a local provider the screen runs `services.doctor.diagnose` once in a thread, after the
first listing; when a new sandbox would get less than `full` (or could not run at all), `#list-doctor` under the
table says so in one line, and `D` (or "Doctor" in the palette) re-runs it and opens the findings
(`tui/screens/doctor.py`).

Start-up (issue 14): the screen can be made before the service exists (`service=None`); it paints its first frame
with "loading sandboxes…" and the app calls `attach` once the provider is built (or `provider_failed`, and the line
says the provider did not start). Until the first listing arrives, keys that need a sandbox say the list is loading,
and `n` waits: the create dialog opens once the list is ready.

Size: one screen with its key actions and four live states (loading, a failed provider, others' sandboxes, the
doctor line), ~700 lines; the next split is the actions into a module of their own, as the workspace's are
(tui/workspace_actions.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from services.config import Config
from services.errors import SandbenchError
from services.models import SandboxInfo, SandboxSpec, SandboxState
from tui.keymap import FOCUS_KEYS, LIST_KEYS, bindings
from tui.messages import (
    DoctorReported,
    LifecycleDone,
    Note,
    OpenSandbox,
    Reload,
    SandboxChanged,
    SandboxesListed,
    SandboxRemoved,
    SelectSandbox,
    WorkInFlight,
)
from widgets.footer import FittedFooter
from widgets.messages import ReportWorkerErrors, describe, tell
from widgets.sandbox_table import SandboxTable, owner_of, safe_text
from widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from services.doctor import Report
    from services.host_limits import HostLimits
    from services.sandbox_service import SandboxService
    from tui.list_metrics import CpuSampled, ListCpu
    from tui.workspaces import Workspaces

REFRESH_EVERY = 10.0
# run as the app reads them (tui/keymap.py): typed in the filter field they are letters instead
PRIORITY_ACTIONS = frozenset(k.action for k in LIST_KEYS if k.priority)
OPENING_SHOWN_AT_MOST = 15.0  # seconds "opening NAME…" stays if no workspace replaces the list (a failed open)
USAGE_STATES = (SandboxState.STARTED, SandboxState.STOPPED)  # the states a listing measures disk usage in
LOADING = "loading sandboxes…"


class ProviderNotReady(SandbenchError):
    """The service was asked for before the provider was built (start-up): one line through the error route."""

    title = "Loading"


class SandboxListScreen(ReportWorkerErrors, Screen[None], inherit_bindings=False):
    BINDINGS = bindings(LIST_KEYS + FOCUS_KEYS)
    TITLE_TEXT = "Sandboxes"
    DEFAULT_CSS = """
    SandboxListScreen #list-detail { height: 1; padding: 0 1; }
    SandboxListScreen #list-doctor { height: auto; padding: 0 1; color: $warning; display: none; }
    """

    def __init__(
        self,
        service: SandboxService | None,
        config: Config,
        clock: Callable[[], datetime],
        *,
        doctor: bool = True,
        workspaces: Workspaces | None = None,
    ) -> None:
        super().__init__(id="sandbox-list")
        self._service = service  # None until the app has built the provider (`attach`)
        self.config = config
        self._clock = clock
        self._unsubscribe: Callable[[], None] | None = None
        self._busy: set[str] = set()
        self.showing_others = False  # `o`; only ever true when the config allows seeing others' sandboxes
        self.loaded = False  # set after the first listing arrives (tests and the benchmark wait on it)
        self.failed: str | None = None  # the provider did not start, or the first listing failed: shown instead
        self._create_waiting = False  # `n` pressed before the list was ready: the dialog opens when it is
        self._mounted = False
        self.doctor: Report | None = None  # the doctor's last findings (local provider only)
        self._run_doctor_at_mount = doctor
        self.workspaces = workspaces  # the app's live workspaces: marked in the table, asked about before ending
        self._unwatch: Callable[[], None] | None = None
        self.cpu: ListCpu | None = None  # the CPU% sparklines' watches (tui/list_metrics.py)
        self._opening: str | None = None  # the status line's key while "opening NAME…" shows (`action_open`)

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="list-title")
        yield Input(placeholder="/ to filter by name, state or label", id="filter", compact=True)
        yield SandboxTable(
            clock=self._clock, owner_label=self.config.owner_label, identity=self.config.identity, id="sandboxes"
        )
        yield Static(Text(LOADING), id="list-empty")
        yield Static(Text(""), id="list-doctor")
        yield Static(Text(""), id="list-detail")
        status = StatusBar(id="status")
        status.provider = self.provider_name
        yield status
        # The footer is mounted after the first painted listing: laying out its keys is a good part of a cold
        # start's cost, and the first frame does not need it (bench/startup.py).

    def on_mount(self) -> None:
        self.query_one(SandboxTable).focus()
        if self.workspaces is not None:
            self._unwatch = self.workspaces.subscribe(self._sync_live)
        self.set_interval(REFRESH_EVERY, self._periodic)
        self.set_timer(1.0, self._mount_footer)  # in case the first listing is slow or fails
        self._mounted = True
        if self._service is not None:
            self.attach(self._service)

    @property
    def service(self) -> SandboxService:
        """The service; only reached once attached (every key that needs it checks `ready` first)."""
        if self._service is None:
            raise ProviderNotReady(f"the {self.config.provider} provider is still starting; try again in a moment")
        return self._service

    @property
    def ready(self) -> bool:
        return self._service is not None

    @property
    def provider_name(self) -> str:
        return self._service.provider.name if self._service is not None else self.config.provider

    def attach(self, service: SandboxService) -> None:
        """The provider is built: watch its state, sample CPU, and list the sandboxes."""
        from tui.list_metrics import ListCpu  # the sparklines' sampler: not needed for the first frame

        self._service = service
        if not self._mounted or self._unsubscribe is not None:
            return  # `on_mount` attaches (the app may hand the service over before the screen is mounted)
        self._unsubscribe = service.subscribe(self._on_service_state)
        self.cpu = ListCpu(self, service.metrics_sampler)
        self.query_one("#list-title", Static).update(self._title())
        self.status.provider = self.provider_name
        self.load()

    def provider_failed(self, error: BaseException) -> None:
        """The provider could not be built: the loading line becomes why (the app's error route shows it too)."""
        self.failed = f"The {self.config.provider} provider did not start: {describe(error)}"
        self._create_waiting = False
        self._sync_empty()

    def _not_ready(self, what: str = "") -> bool:
        """True (and a one-line note) while there is no list to act on yet."""
        if self.loaded:
            return False
        if self.failed is not None:
            tell(self, self.failed, severity="error", timeout=4)
        else:
            tell(self, f"{LOADING} {what}".strip(), timeout=2)
        return True

    async def _mount_footer(self) -> None:
        # after the first painted listing (or its 1 s fallback), like the footer: its subprocesses and probes
        # must not compete with the first frame
        if self._run_doctor_at_mount and self.provider_name == "local":
            self._run_doctor_at_mount = False
            self.run_doctor()
        if not self.query(Footer):
            await self.mount(FittedFooter(pane=lambda: "list"))
            self.refresh_bindings()  # a footer mounted late only fills in when the bindings change

    def on_unmount(self) -> None:
        if self.cpu is not None:
            self.cpu.close()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def _sync_cpu(self) -> None:
        if self.cpu is not None:
            self.cpu.sync()

    def on_screen_suspend(self) -> None:
        self._opened()  # the workspace is shown
        if self.cpu is not None:
            self.cpu.pause()  # covered: its sandboxes are not looked at

    def on_screen_resume(self) -> None:
        if self.cpu is not None:
            self.cpu.resume()

    def on_cpu_sampled(self, message: CpuSampled) -> None:
        if self.cpu is not None:
            self.cpu.draw(message.sandbox_id)

    def _sync_live(self) -> None:
        """Mark the rows whose sandbox has a live workspace (in the background, or shown over this list)."""
        if self.workspaces is not None:
            self.table.set_live(self.workspaces.ids())
            self._sync_detail()
            self.refresh_bindings()  # `w` applies to a row with a live workspace

    def _on_service_state(self, info: SandboxInfo) -> None:
        # Called by the service from the event loop, maybe mid-way through another handler: only post.
        self.post_message(SandboxChanged(info))

    def _title(self) -> Text:
        title = Text.assemble(
            ("sandbench", "bold"),
            "  sandboxes of ",
            (safe_text(self.config.identity), "bold"),
            f"  on {self.provider_name}",
            no_wrap=True,
            overflow="ellipsis",
        )
        if self.showing_others:
            title.append("  + others' (dimmed, ro = read-only)", style="italic")
        elif self.config.show_others:
            title.append("  o: show others'", style="dim")
        return title

    @property
    def table(self) -> SandboxTable:
        return self.query_one(SandboxTable)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    # -- workers: service calls only, results as messages ------------------------------------------------
    def load(self) -> None:
        if self._service is None:
            return  # `attach` lists once the provider is built

        async def work() -> None:
            try:
                infos = await self.service.list_sandboxes(usage=True, include_others=self.showing_others)
            except Exception as exc:
                if not self.loaded:  # the first listing: the loading line becomes why (the error route shows it too)
                    self.failed = f"Could not list the sandboxes: {describe(exc)} (r retries)"
                    self._create_waiting = False
                    self._sync_empty()
                raise
            self.post_message(SandboxesListed(infos))

        self.run_worker(work(), name="list sandboxes", group="list", exclusive=True, exit_on_error=False)

    def run_doctor(self, show: bool = False) -> None:
        async def work() -> None:
            from services.doctor import diagnose  # subprocesses and file reads: off the UI loop

            self.post_message(
                DoctorReported(await asyncio.to_thread(diagnose, self.config.data_dir, self.config.bwrap), show)
            )

        self.run_worker(work(), name="doctor", group="doctor", exclusive=True, exit_on_error=False)

    def _periodic(self) -> None:
        if self.app.screen is self:  # hidden under the workspace: no point polling
            self.load()

    def _lifecycle(
        self,
        info: SandboxInfo,
        verb: str,
        call: Callable[[], object],
        transient: SandboxState | None = None,
        note: str | None = None,
    ) -> None:
        if info.id in self._busy:
            tell(self, f"{safe_text(info.name)} is busy; wait for the last action to finish")
            return
        self._busy.add(info.id)
        if transient is not None:
            self.table.upsert(dataclasses.replace(info, state=transient))
        key = f"{verb}:{info.id}"

        async def work() -> None:
            self.post_message(WorkInFlight(key, f"{verb} {info.name}…"))
            try:
                result = await call()  # type: ignore[misc]
            except BaseException:
                self.post_message(Reload())
                raise
            finally:
                self.post_message(LifecycleDone(info.id, key))
            if isinstance(result, SandboxInfo):
                self.post_message(SandboxChanged(result, note=note or f"{result.name}: {result.state}"))
            elif verb == "delete":
                self.post_message(SandboxRemoved(info.id, info.name))
            elif result is not None:
                self.post_message(Note(f"snapshot {getattr(result, 'name', '')} of {info.name} saved"))

        self.run_worker(work(), name=f"{verb} {info.name}", group=f"lifecycle-{info.id}", exit_on_error=False)

    # -- message handlers: the only place widgets change ----------------------------------------------------
    def on_sandboxes_listed(self, message: SandboxesListed) -> None:
        table = self.table
        # rows with an action in flight keep their optimistic state (a spinner) until the action's result arrives
        infos = [(table.get_info(i.id) or i) if i.id in self._busy else i for i in message.infos]
        if not self.showing_others:  # a listing that started before others were hidden again
            infos = [i for i in infos if self.service.owns(i)]
        table.set_sandboxes(infos)
        self._sync_cpu()
        first = not self.loaded
        self.failed = None
        if first:
            self.call_after_refresh(self._mount_footer)
        self.loaded = True
        self._sync_empty()
        if first and self._create_waiting:
            self._create_waiting = False
            self.action_create()

    def on_sandbox_changed(self, message: SandboxChanged) -> None:
        info = message.info
        if not (self.service.owns(info) or self.showing_others):
            return
        if (
            info.id in self._busy
            and message.note is None
            and info.state
            not in (
                SandboxState.STARTING,
                SandboxState.STOPPING,
            )
        ):
            # an intermediate event during our own action; the action's result row is authoritative
            return
        self.table.upsert(info)
        shown = self.table.get_info(info.id)
        if shown is not None and shown.disk_used_bytes is None and shown.state in USAGE_STATES:
            # a row new to the table (made here, by the CLI, by an agent) comes from a state event, which carries
            # no usage figure: list again now, rather than show "-" in Used until the next periodic listing
            self.load()
        self._sync_cpu()
        self._sync_empty()
        if message.note:
            tell(self, safe_text(message.note), timeout=3)

    def on_sandbox_removed(self, message: SandboxRemoved) -> None:
        self.table.remove_sandbox(message.sandbox_id)
        self._sync_cpu()
        self._sync_empty()
        tell(self, f"deleted {safe_text(message.name)}", timeout=3)

    def _host_limits(self) -> HostLimits | None:
        """What a local sandbox may have at most (this host's); None for Daytona, which sizes its own."""
        if self.provider_name != "local":
            return None
        from services.host_limits import HostLimits

        return HostLimits.read(self.config.data_dir)

    def on_doctor_reported(self, message: DoctorReported) -> None:
        report = self.doctor = message.report
        line = self.query_one("#list-doctor", Static)
        if report.ok:
            line.display = False
        else:
            line.update(Text(f"{safe_text(report.headline())} — D for details", no_wrap=True, overflow="ellipsis"))
            line.display = True
        if message.show:
            from tui.screens.doctor import DoctorScreen

            self.app.push_screen(DoctorScreen(report.lines()))

    def action_doctor(self) -> None:
        if self.provider_name != "local":
            tell(self, "the doctor checks local sandboxes; this list is on another provider")
            return
        self.run_doctor(show=True)

    def on_work_in_flight(self, message: WorkInFlight) -> None:
        if message.text is None:
            self.status.end(message.key)
        else:
            self.status.begin(message.key, message.text)

    def _sync_empty(self) -> None:
        empty = self.query_one("#list-empty", Static)
        table = self.table
        self._sync_detail()
        if table.row_count:
            empty.display = False
            return
        empty.display = True
        if self.failed is not None:
            empty.update(Text(self.failed))
        elif not self.loaded:
            empty.update(Text(LOADING))  # never "no sandboxes" before the provider has answered
        elif table.infos:
            empty.update(Text("No sandbox matches the filter. Press esc to clear it."))
        else:
            empty.update(Text("No sandboxes yet. Press n to create one."))

    def _sync_detail(self) -> None:
        info = self.table.selected
        self.query_one("#list-detail", Static).update(self.table.detail(info) if info is not None else Text(""))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._sync_detail()
        self.refresh_bindings()  # `w` follows the selected row

    def on_resize(self) -> None:
        # the detail line says more when the table is narrow (provider, labels): the table re-lays itself out
        # on its own resize; the line follows after that refresh
        self.call_after_refresh(self._sync_detail)

    # -- actions -------------------------------------------------------------------------------------------
    def _selected(self) -> SandboxInfo | None:
        if self._not_ready():
            return None
        info = self.table.selected
        if info is None:
            tell(self, "no sandbox selected", severity="warning", timeout=2)
        return info

    def _mine(self, verb: str) -> SandboxInfo | None:
        """The selected sandbox if it is the user's; for another owner's, a one-line refusal and None. The
        service refuses too (fail closed); this says why in words, before anything is sent."""
        info = self._selected()
        if info is None or self.service.owns(info):
            return info
        owner = owner_of(info, self.config.owner_label)
        whose = f"{safe_text(owner)}'s sandbox" if owner else "a sandbox with no owner"
        tell(
            self,
            f"cannot {verb} {safe_text(info.name)}: it is {whose}, read-only here (A adopts it)",
            severity="warning",
            timeout=4,
        )
        return None

    def action_open(self) -> None:
        info = self._selected()
        if info is None:
            return
        # a first open builds the workspace on this loop (its imports, its panes: 1.5-2 s): say so at once, and
        # open after that line is painted, or the list looks frozen until the workspace appears
        key = self._opening = f"open:{info.id}"
        self.status.begin(key, f"opening {info.name}…")
        self.call_after_refresh(self.post_message, OpenSandbox(info))
        # in case no workspace replaces the list (the open failed: the error route says why)
        self.set_timer(OPENING_SHOWN_AT_MOST, lambda: self._opened(key))

    def _opened(self, key: str | None = None) -> None:
        """The "opening NAME…" line ends (`key`: only if it is still that open's)."""
        if self._opening is not None and key in (None, self._opening):
            self.status.end(self._opening)
            self._opening = None

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_create(self) -> None:
        if not self.loaded and self.failed is None:
            # waits, rather than being lost: the dialog opens when the list is ready (it needs the provider)
            self._create_waiting = True
            tell(self, f"{LOADING} the create dialog opens when the list is ready", timeout=3)
            return
        if self._not_ready():
            return
        from widgets.create_dialog import CreateDialog  # not needed for the first frame

        service = self.service

        async def snapshots() -> list[str]:
            return [s.name for s in await service.list_snapshots()]

        # at once (the key is a priority one): the name typed behind `n` goes into the dialog's field; the dialog
        # lists the snapshots itself and fills its last row when they arrive
        dialog = CreateDialog(submit=self._create, limits=self._host_limits(), list_snapshots=snapshots)
        self.app.push_screen(dialog, self._create_answer)

    async def _create(self, spec: SandboxSpec) -> SandboxInfo:
        """The create dialog's submit: runs from the dialog, so a rejected name comes back into it (kept)."""
        key = f"create:{spec.name}"
        self.post_message(WorkInFlight(key, f"creating {spec.name}…"))
        try:
            return await self.service.create(spec)
        finally:
            self.post_message(WorkInFlight(key, None))

    def _create_answer(self, info: object) -> None:
        if isinstance(info, SandboxInfo):
            self.post_message(SandboxChanged(info, note=f"created {info.name}"))
            self.post_message(SelectSandbox(info.id))

    def action_start(self) -> None:
        info = self._mine("start")
        if info is not None:
            self._lifecycle(info, "start", lambda: self.service.start(info.id), SandboxState.STARTING)

    def action_stop(self) -> None:
        info = self._mine("stop")
        if info is not None:
            self._ending(info, "stop", "Stop sandbox", lambda: self.service.stop(info.id))

    def action_archive(self) -> None:
        info = self._mine("archive")
        if info is not None:
            self._ending(info, "archive", "Archive sandbox", lambda: self.service.archive(info.id))

    def _ending(self, info: SandboxInfo, verb: str, title: str, call: Callable[[], object]) -> None:
        """Stop-like lifecycle `verb` (`call`): a live workspace's terminals end with the sandbox, so say so and ask
        first (`confirm_end` asks nothing when there is none)."""

        def run() -> None:
            self._lifecycle(info, verb, call, SandboxState.STOPPING)

        if self.workspaces is None:
            run()
            return
        self.workspaces.confirm_end(info, then=run, verb=verb, title=title)

    def action_delete(self) -> None:
        info = self._mine("delete")
        if info is None:
            return

        def delete() -> None:
            self._lifecycle(info, "delete", lambda: self.service.delete(info.id))

        question = f"Delete sandbox “{safe_text(info.name)}” and every file in it? This cannot be undone."
        if self.workspaces is not None and self.workspaces.get(info.id) is not None:
            # one dialog: the delete's own question, and what of the live workspace ends with it
            self.workspaces.confirm_end(
                info, then=delete, verb="delete", title="Delete sandbox", before=question, save=False
            )
            return

        from widgets.dialogs import ConfirmDialog

        def answer(yes: object) -> None:
            if yes:
                delete()

        self.app.push_screen(ConfirmDialog("Delete sandbox", question, confirm="Delete", danger=True), answer)

    def action_close_workspace(self) -> None:
        info = self._selected()
        if info is None:
            return
        if self.workspaces is None or self.workspaces.get(info.id) is None:
            tell(self, f"{safe_text(info.name)} has no open workspace", timeout=3)
            return
        self.workspaces.confirm_end(info)

    def action_snapshot(self) -> None:
        info = self._mine("snapshot")
        if info is None:
            return
        self._ask_snapshot(info)

    def _ask_snapshot(self, info: SandboxInfo) -> None:
        from tui.workspace_actions import snapshot_names  # not at start-up: the list's first frame does not need it
        from widgets.dialogs import snapshot_name_dialog

        service = self.service

        async def take(name: str) -> None:
            # from the dialog: a name the service refuses (invalid, taken) comes back into it, kept
            snap, key = name.strip(), f"snapshot:{info.id}"
            self.post_message(WorkInFlight(key, f"snapshot {info.name}…"))
            try:
                await self.service.snapshot(info.id, snap)
            finally:
                self.post_message(WorkInFlight(key, None))
            self.post_message(Note(f"snapshot {snap} of {info.name} saved"))

        # at once (a priority key): a name typed fast behind S goes into the field; the dialog lists the snapshots
        # for its proposed name itself
        self.app.push_screen(snapshot_name_dialog(info.name, submit=take, list_taken=lambda: snapshot_names(service)))

    def action_toggle_others(self) -> None:
        if not self.config.show_others:
            tell(
                self,
                "others' sandboxes are hidden: set show_others = true in the config to see them read-only",
                timeout=4,
            )
            return
        self.showing_others = not self.showing_others
        self.query_one("#list-title", Static).update(self._title())
        table = self.table
        table.set_show_owner(self.showing_others)
        if not self.showing_others:
            table.set_sandboxes([i for i in table.infos if self.service.owns(i)])
        self._sync_empty()
        self.load()

    def action_adopt(self) -> None:
        info = self._selected()
        if info is None:
            return
        if self.service.owns(info):
            tell(self, f"{safe_text(info.name)} is already yours", timeout=3)
            return
        if not self.config.show_others:  # only reachable with a stale row; the service would refuse as well
            tell(self, "adopting needs show_others = true in the config", severity="warning", timeout=4)
            return

        from widgets.dialogs import ConfirmDialog

        owner = owner_of(info, self.config.owner_label)
        name = safe_text(info.name)
        whose = f"owned by {safe_text(owner)}" if owner else "which has no owner"
        after = f"; {safe_text(owner)} will see it only read-only" if owner else ""

        def answer(yes: object) -> None:
            if yes:
                self._lifecycle(info, "adopt", lambda: self.service.adopt(info.id), note=f"adopted {info.name}")

        self.app.push_screen(
            ConfirmDialog(
                "Adopt sandbox",
                f"Adopt sandbox “{name}”, {whose}? It gets your owner label "
                f"({safe_text(self.config.identity)}) and becomes yours to run, change and delete{after}.",
                confirm="Adopt",
                danger=True,
            ),
            answer,
        )

    def action_refresh(self) -> None:
        if self.ready:
            self.load()  # also the retry after a first listing that failed
        else:
            self._not_ready()

    def action_filter(self) -> None:
        # now, not with `focus()` (which waits for the keys already queued): the binding is a priority one and
        # runs as the app reads `/`, so the keys typed behind it go to the field (`/dev` + enter filters by "dev")
        self.set_focus(self.query_one("#filter", Input))

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = ""
        self.table.focus()

    def action_timeline(self) -> None:
        info = self._selected()
        if info is not None:
            from tui.screens.timeline import open_timeline_screen  # made on first use

            open_timeline_screen(self.app, self.service, info.id, info.name)

    def action_processes(self) -> None:
        from tui.screens.processes import open_processes  # made on first use

        info = self._selected()
        if info is not None:
            open_processes(self, self.service, info)

    def action_copy_id(self) -> None:
        info = self._selected()
        if info is not None:
            self.app.copy_to_clipboard(info.id)
            tell(self, f"copied the id of {safe_text(info.name)}", timeout=2)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self._sync_empty()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return bool(self.query_one("#filter", Input).value) or self.focused is self.query_one("#filter")
        if action in PRIORITY_ACTIONS and isinstance(self.focused, Input):
            return False  # typed in the filter, / n d … are letters of it
        if action == "close_workspace":
            # shown (and working) only while the selected sandbox has a live workspace: nothing to close otherwise
            info = self.table.selected if self.is_mounted else None
            return info is not None and self.workspaces is not None and self.workspaces.get(info.id) is not None
        return True

    def on_reload(self, _message: Reload) -> None:
        self.load()

    def on_lifecycle_done(self, message: LifecycleDone) -> None:
        self._busy.discard(message.sandbox_id)
        self.status.end(message.key)

    def on_note(self, message: Note) -> None:
        tell(self, safe_text(message.text), timeout=3)

    def action_metrics(self) -> None:
        info = self._selected()
        if info is not None:
            from tui.screens.metrics import MetricsScreen  # made on first use

            self.app.push_screen(MetricsScreen(self.service, info))

    def on_select_sandbox(self, message: SelectSandbox) -> None:
        table = self.table
        if message.sandbox_id in table.rows:
            table.move_cursor(row=table.get_row_index(message.sandbox_id), animate=False)
