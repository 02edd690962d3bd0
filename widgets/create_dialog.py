"""The "create sandbox" dialog: name, cpu, memory, disk, network, auto-stop, ephemeral, labels, from snapshot.

A modal that checks what it can know without a provider (numbers are numbers, labels are `key=value`), then, given
`submit` (the screen's call to the service), creates the sandbox from the dialog: the provider's own rules (name
characters, a name taken, label keys) come back inline under the form, with the field at fault focused and
everything typed kept; success dismisses with what `submit` returned (the new `SandboxInfo`). Without `submit` it
dismisses with the `SandboxSpec`. Enter in any field and ctrl+s submit (as the commit box does), escape cancels.
Compact fields so the whole form fits an 80x24 terminal; "From snapshot" is the last row, so its open list drops
over the empty space under the form rather than over another field and its label.

The dialog opens at once, with its name field focused, so a name typed fast behind `n` goes into it; the snapshots
to offer, given as `list_snapshots` (a call to the service), are listed from the dialog and fill that row when
they arrive (a failed listing says so in the row; creating still works).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from services.errors import AlreadyExists, NameRejected, SandbenchError
from services.host_limits import HostLimits
from services.models import Resources, SandboxSpec
from services.text import safe_text
from widgets.dialogs import DialogBase
from widgets.keys import Key, bindings
from widgets.messages import describe
from widgets.tick import Tick

log = logging.getLogger(__name__)


def parse_labels(text: str) -> dict[str, str]:
    """`"team=web, purpose=demo"` → dict. Raises ValueError naming the bad item."""
    labels: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"label {item[:40]!r} is not key=value")
        labels[key.strip()] = value.strip()
    return labels


class FieldError(ValueError):
    """A form value the dialog refuses, with the id of the field that gets the focus back."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class CreateDialog(DialogBase):
    DEFAULT_CSS = """
    CreateDialog > Vertical { width: 70; }
    CreateDialog Grid {
        grid-size: 2;
        grid-columns: 15 1fr;
        grid-rows: 1;
        grid-gutter: 0 1;
        height: auto;
    }
    CreateDialog Grid Label { width: 100%; text-align: right; color: $text-muted; }
    CreateDialog Tick { width: auto; margin-right: 2; }
    CreateDialog Grid Horizontal { height: 1; padding: 0; align-horizontal: left; }
    """
    BINDINGS = [
        *DialogBase.BINDINGS,
        *bindings((Key("dialog.create", "ctrl+s", "create", "Create", "Create the sandbox (enter does too)"),)),
    ]

    def __init__(
        self,
        snapshots: Sequence[str] = (),
        *,
        name: str = "",
        submit: Callable[[SandboxSpec], Awaitable[object]] | None = None,
        limits: HostLimits | None = None,
        list_snapshots: Callable[[], Awaitable[Sequence[str]]] | None = None,
    ) -> None:
        super().__init__()
        self._limits = limits  # a local sandbox cannot have more than the host (None: not checked, Daytona)
        self._snapshots = list(snapshots)
        self._initial_name = name  # not `_name`: that is the DOMNode's own name attribute
        self._submit_call = submit
        self._list_snapshots = list_snapshots

    def compose(self) -> ComposeResult:
        defaults = Resources()
        with Vertical():
            yield Static(Text("Create a sandbox"), classes="dialog-title")
            with Grid():
                yield Label("Name")
                yield Input(self._initial_name, placeholder="letters, digits, . _ -", id="name", compact=True)
                yield Label("CPUs")
                yield Input(str(defaults.cpu), type="integer", id="cpu", compact=True)
                yield Label("Memory (GiB)")
                yield Input(f"{defaults.memory_gib:g}", type="number", id="memory", compact=True)
                yield Label("Disk (GiB)")
                yield Input(f"{defaults.disk_gib:g}", type="number", id="disk", compact=True)
                yield Label("Auto-stop (min)")
                yield Input("15", type="integer", id="auto_stop", placeholder="0 = never", compact=True)
                yield Label("Labels")
                yield Input(placeholder="key=value, key=value", id="labels", compact=True)
                yield Label("Options")
                with Horizontal():
                    yield Tick("Network", id="network", compact=True)
                    yield Tick("Ephemeral", id="ephemeral", compact=True)
                yield Label("From snapshot")
                yield Select(
                    [(Text(safe_text(s)), s) for s in self._snapshots],
                    prompt=self._snapshot_prompt(),
                    allow_blank=True,
                    id="snapshot",
                    compact=True,
                    disabled=not self._snapshots,
                )
            yield Static("", classes="dialog-error", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary")

    def _snapshot_prompt(self) -> str:
        if self._snapshots:
            return "(none)"
        return "(listing snapshots…)" if self._list_snapshots is not None else "(no snapshots yet)"

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        listing = self._list_snapshots
        if listing is not None:

            async def work() -> None:
                try:
                    names = await listing()
                except SandbenchError as exc:
                    self.show_snapshots(None, error=describe(exc))
                else:
                    self.show_snapshots(names)

            self.run_worker(work(), name="list snapshots", group="snapshots", exclusive=True, exit_on_error=False)

    def show_snapshots(self, names: Sequence[str] | None, *, error: str = "") -> None:
        """Fill the "From snapshot" row with `names`; None: they could not be listed (`error` says why)."""
        self._list_snapshots = None
        select: Select[str] = self.query_one("#snapshot", Select)
        if names is None:
            log.info("listing snapshots for the create dialog failed: %s", error)
            select.set_options([])
            select.prompt = "(could not list snapshots)"
            return
        self._snapshots = sorted(names)
        select.set_options([(Text(safe_text(s)), s) for s in self._snapshots])
        select.prompt = self._snapshot_prompt()
        select.disabled = not self._snapshots

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def build_spec(self) -> SandboxSpec:
        """The spec the form describes. Raises ValueError with a message for the user."""
        name = self._value("name")
        if not name:
            raise ValueError("a sandbox needs a name")
        try:
            cpu = int(self._value("cpu"))
            memory = float(self._value("memory"))
            disk = float(self._value("disk"))
            auto_stop = int(self._value("auto_stop") or "0")
        except ValueError:
            raise ValueError("cpu, memory, disk and auto-stop must be numbers") from None
        if cpu < 1 or memory <= 0 or disk <= 0:
            raise ValueError("cpu, memory and disk must be positive")
        if auto_stop < 0:
            raise ValueError("auto-stop must be 0 (never) or more minutes")
        resources = Resources(cpu=cpu, memory_gib=memory, disk_gib=disk)
        too_much = self._limits.check(resources) if self._limits is not None else None
        if too_much is not None:
            raise FieldError(*too_much)
        snapshot = self.query_one("#snapshot", Select).value
        return SandboxSpec(
            name=name,
            resources=resources,
            labels=parse_labels(self._value("labels")),
            auto_stop_minutes=auto_stop,
            network=self.query_one("#network", Tick).value,
            ephemeral=self.query_one("#ephemeral", Tick).value,
            snapshot=snapshot if isinstance(snapshot, str) else None,
        )

    def _field_at_fault(self, error: BaseException) -> Widget:
        """Where the focus goes back after a rejection: the name for name errors, the labels for label errors,
        else the field the user was in (the name when that was a button)."""
        if isinstance(error, FieldError):
            return self.query_one(f"#{error.field}", Input)
        if isinstance(error, NameRejected | AlreadyExists) and "label" not in str(error):
            return self.query_one("#name", Input)
        if "label" in str(error):
            return self.query_one("#labels", Input)
        focused = self.focused
        return focused if isinstance(focused, Input) else self.query_one("#name", Input)

    def _submit(self) -> None:
        try:
            spec = self.build_spec()
        except ValueError as exc:
            self.show_error(str(exc))
            self._field_at_fault(exc).focus()
            return
        submit = self._submit_call
        if submit is None:
            self.dismiss(spec)
            return
        self.submit_in_place(lambda: submit(spec), field=self._field_at_fault, working=f"creating {spec.name}…")

    def action_create(self) -> None:
        self._submit()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._submit()

    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        self._submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()
