"""The "create sandbox" dialog: name, cpu, memory, disk, network, auto-stop, ephemeral, labels, from snapshot.

A modal that dismisses with a `SandboxSpec` (or None on cancel). It checks only what it can know without a
provider (numbers are numbers, labels are `key=value`); the provider's own rules (name characters, label keys) come
back from the service as a one-line notification. Compact fields so the whole form fits an 80x24 terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from services.models import Resources, SandboxSpec
from widgets.dialogs import DialogBase
from widgets.sandbox_table import safe_text


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


class CreateDialog(DialogBase):
    DEFAULT_CSS = """
    CreateDialog > Vertical { width: 70; }
    CreateDialog Grid {
        grid-size: 2;
        grid-columns: 14 1fr;
        grid-rows: 1;
        grid-gutter: 0 1;
        height: auto;
    }
    CreateDialog Grid Label { width: 100%; text-align: right; color: $text-muted; }
    CreateDialog Checkbox { width: auto; margin-right: 2; }
    CreateDialog Grid Horizontal { height: 1; padding: 0; align-horizontal: left; }
    """

    def __init__(self, snapshots: Sequence[str] = (), *, name: str = "") -> None:
        super().__init__()
        self._snapshots = list(snapshots)
        self._name = name

    def compose(self) -> ComposeResult:
        defaults = Resources()
        with Vertical():
            yield Static(Text("Create a sandbox"), classes="dialog-title")
            with Grid():
                yield Label("Name")
                yield Input(self._name, placeholder="letters, digits, . _ -", id="name", compact=True)
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
                yield Label("From snapshot")
                yield Select(
                    [(Text(safe_text(s)), s) for s in self._snapshots],
                    prompt="(none)",
                    allow_blank=True,
                    id="snapshot",
                    compact=True,
                    disabled=not self._snapshots,
                )
                yield Label("Options")
                with Horizontal():
                    yield Checkbox("Network", id="network", compact=True)
                    yield Checkbox("Ephemeral", id="ephemeral", compact=True)
            yield Static("", classes="dialog-error", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

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
        snapshot = self.query_one("#snapshot", Select).value
        return SandboxSpec(
            name=name,
            resources=Resources(cpu=cpu, memory_gib=memory, disk_gib=disk),
            labels=parse_labels(self._value("labels")),
            auto_stop_minutes=auto_stop,
            network=self.query_one("#network", Checkbox).value,
            ephemeral=self.query_one("#ephemeral", Checkbox).value,
            snapshot=snapshot if isinstance(snapshot, str) else None,
        )

    def _submit(self) -> None:
        try:
            spec = self.build_spec()
        except ValueError as exc:
            self.query_one("#error", Static).update(Text(str(exc)))
            return
        self.dismiss(spec)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._submit()

    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        self._submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
