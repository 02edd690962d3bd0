"""The sandbox list: a `DataTable` of `SandboxInfo` rows with filter, coloured states and transition spinners.

The table is a pure view: the screen hands it `SandboxInfo`s (`set_sandboxes`, `upsert`, `remove_sandbox`) and it never
calls the service. Every cell is a `rich.text.Text` built from plain strings — never a `str`, which DataTable would
parse as markup — and every sandbox-supplied string goes through `safe_text` first, so a label holding `[bold]` or
an escape sequence shows literally (DESIGN §5.7). Relative times come from an injectable clock so snapshot tests
are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from rich.text import Text
from textual.timer import Timer
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from services.models import Isolation, SandboxInfo, SandboxState

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
TRANSITIONS = (SandboxState.STARTING, SandboxState.STOPPING)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("state", "State"),
    ("provider", "Provider"),
    ("isolation", "Isolation"),
    ("cpu", "CPU"),
    ("mem", "Mem"),
    ("disk", "Disk"),
    ("used", "Used"),
    ("activity", "Activity"),
    ("labels", "Labels"),  # last: the one column that may be long, so narrow terminals lose only its tail
)


def safe_text(text: str) -> str:
    """Sandbox-supplied text for one cell: non-printable characters (ESC, C1 controls, newlines, bidi controls)
    shown as Python escapes, never passed to the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def relative_time(then: datetime, now: datetime) -> str:
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = (now - then).total_seconds()
    if seconds < 60:
        return "just now"
    for size, unit in ((86400 * 365, "y"), (86400 * 30, "mo"), (86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "K", "M"):
        if size < 1024:
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}G"


def labels_text(info: SandboxInfo, hide: str | None) -> str:
    return ", ".join(f"{safe_text(k)}={safe_text(v)}" for k, v in sorted(info.labels.items()) if k != hide)


def _now() -> datetime:
    return datetime.now(UTC)


class SandboxTable(DataTable[Text]):
    """Rows keyed by sandbox id. `filter_text` narrows rows to those whose name, state or labels contain it."""

    DEFAULT_CSS = """
    SandboxTable { height: 1fr; }
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _now,
        owner_label: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._clock = clock
        self._owner_label = owner_label
        self._infos: dict[str, SandboxInfo] = {}
        self._order: list[str] = []
        self._filter = ""
        self._frame = 0
        self._spinner: Timer | None = None

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(Text(label), key=key)

    # -- data in -------------------------------------------------------------------------------------------
    @property
    def infos(self) -> list[SandboxInfo]:
        return [self._infos[i] for i in self._order]

    def set_sandboxes(self, infos: Iterable[SandboxInfo]) -> None:
        infos = sorted(infos, key=lambda i: (i.name.lower(), i.id))
        self._infos = {i.id: i for i in infos}
        self._order = [i.id for i in infos]
        self._rebuild()

    def upsert(self, info: SandboxInfo) -> None:
        if info.state is SandboxState.DELETED:
            self.remove_sandbox(info.id)
            return
        known = info.id in self._infos
        old = self._infos.get(info.id)
        if old is not None and info.disk_used_bytes is None:
            # state events carry no usage figure; keep the last one we measured
            info = _with_usage(info, old.disk_used_bytes)
        self._infos[info.id] = info
        if not known:
            self._order.append(info.id)
            self._order.sort(key=lambda i: (self._infos[i].name.lower(), i))
            self._rebuild()
            return
        if info.id in self.rows:
            for key, value in zip((k for k, _ in COLUMNS), self._cells(info), strict=True):
                self.update_cell(info.id, key, value)
        elif self._matches(info):
            self._rebuild()
        self._sync_spinner()

    def remove_sandbox(self, sandbox_id: str) -> None:
        if self._infos.pop(sandbox_id, None) is None:
            return
        self._order.remove(sandbox_id)
        if sandbox_id in self.rows:
            self.remove_row(sandbox_id)
        self._sync_spinner()

    def get_info(self, sandbox_id: str) -> SandboxInfo | None:
        return self._infos.get(sandbox_id)

    @property
    def selected(self) -> SandboxInfo | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return self._infos.get(str(key.value))

    @property
    def visible_names(self) -> list[str]:
        return [self._infos[str(row.value)].name for row in self.rows]

    def set_filter(self, text: str) -> None:
        self._filter = text.strip().lower()
        self._rebuild()

    def refresh_times(self) -> None:
        """Re-render the relative times (called by the screen's slow timer)."""
        for sandbox_id in self.rows:
            info = self._infos.get(str(sandbox_id.value))
            if info is not None:
                self.update_cell(sandbox_id, "activity", self._activity(info))

    # -- rendering -----------------------------------------------------------------------------------------
    def _matches(self, info: SandboxInfo) -> bool:
        if not self._filter:
            return True
        hay = " ".join([info.name, str(info.state), info.provider, *(f"{k}={v}" for k, v in info.labels.items())])
        return self._filter in hay.lower()

    def _rebuild(self) -> None:
        selected = self.selected
        self.clear()
        for sandbox_id in self._order:
            info = self._infos[sandbox_id]
            if self._matches(info):
                self.add_row(*self._cells(info), key=sandbox_id)
        if selected is not None and selected.id in self.rows:
            try:
                self.move_cursor(row=self.get_row_index(selected.id), animate=False)
            except RowDoesNotExist:
                pass
        self._sync_spinner()

    def _colour(self, name: str, fallback: str) -> str:
        theme = self.app.current_theme if self.is_attached else None
        value = getattr(theme, name, None) if theme is not None else None
        return value or fallback

    def _state(self, info: SandboxInfo) -> Text:
        state = info.state
        if state in TRANSITIONS:
            return Text(f"{SPINNER[self._frame % len(SPINNER)]} {state}", style=self._colour("warning", "yellow"))
        style = {
            SandboxState.STARTED: self._colour("success", "green"),
            SandboxState.ERROR: "bold " + self._colour("error", "red"),
            SandboxState.ARCHIVED: self._colour("secondary", "blue"),
            SandboxState.STOPPED: "dim",
        }.get(state, "")
        return Text(f"● {state}" if state is SandboxState.STARTED else f"○ {state}", style=style)

    def _activity(self, info: SandboxInfo) -> Text:
        return Text(relative_time(info.last_activity, self._clock()), style="dim")

    def _cells(self, info: SandboxInfo) -> list[Text]:
        isolation = Text(str(info.isolation))
        if info.isolation not in (Isolation.FULL, Isolation.REMOTE):
            isolation.stylize(self._colour("warning", "yellow"))
        r = info.resources
        return [
            Text(safe_text(info.name), style="bold"),
            self._state(info),
            Text(info.provider),
            isolation,
            Text(str(r.cpu), justify="right"),
            Text(f"{r.memory_gib:g}G", justify="right"),
            Text(f"{r.disk_gib:g}G", justify="right"),
            Text(human_size(info.disk_used_bytes), justify="right"),
            self._activity(info),
            Text(labels_text(info, self._owner_label), no_wrap=True, overflow="ellipsis"),
        ]

    # -- the spinner runs only while some visible row is in transition (no timer otherwise) ---------------
    def _sync_spinner(self) -> None:
        busy = any(self._infos[i].state in TRANSITIONS for i in self._order)
        if busy and self._spinner is None:
            self._spinner = self.set_interval(0.1, self._spin)
        elif not busy and self._spinner is not None:
            self._spinner.stop()
            self._spinner = None

    def _spin(self) -> None:
        self._frame += 1
        for sandbox_id in self._order:
            info = self._infos[sandbox_id]
            if info.state in TRANSITIONS and sandbox_id in self.rows:
                self.update_cell(sandbox_id, "state", self._state(info))


def _with_usage(info: SandboxInfo, used: int | None) -> SandboxInfo:
    import dataclasses

    return dataclasses.replace(info, disk_used_bytes=used)
