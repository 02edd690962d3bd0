"""The sandbox list: a `DataTable` of `SandboxInfo` rows with filter, coloured states and transition spinners.

The table is a pure view: the screen hands it `SandboxInfo`s (`set_sandboxes`, `upsert`, `remove_sandbox`) and it never
calls the service. Every cell is a `rich.text.Text` built from plain strings — never a `str`, which DataTable would
parse as markup — and every sandbox-supplied string goes through `safe_text` first, so a label holding `[bold]` or
an escape sequence shows literally (DESIGN §5.7). Relative times come from an injectable clock so snapshot tests
are deterministic.

Layout follows the table's width, so nothing is cut mid-word at 80 columns (`column_specs`):

- at `WIDE` columns and more, every field has its own column and the labels get what is left;
- below that, provider and labels leave the table for the detail line under it (`detail_text`), cpu/memory/disk
  share one column (`4/8G/20G`), and sizes are compact (`204K`).

Every column but the name (and the owner) has a fixed width that fits all its values, so a spinner frame or a new
usage figure never resizes a column; the name column takes what the others leave, and a longer name is cut in
the middle (`pro…alpha-1`: names of one family differ at the end).
A `CPU%` column draws each running sandbox's CPU share over the last four minutes as a sparkline (the screen feeds
it the sampler's points, `set_cpu_history`; widgets/metrics_chart.py draws it on a fixed 0-100 % scale); it is
fixed-width like the others and left out only where even the narrowest name would not fit beside it.
With others' sandboxes shown (`show_owner`), an Owner column names the owner and marks the row read-only, and
those rows are dimmed. A sandbox whose workspace is open (kept alive in the background, `set_live`) has `◆`
before its name, and the detail line says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from services.models import Isolation, SandboxInfo, SandboxState, minutes_text
from services.text import safe_text  # re-exported: the app and screens import it from here
from widgets.clock import utc_now
from widgets.keys import bindings
from widgets.metrics_chart import buckets, spark_text
from widgets.table_keys import ROW_JUMP_KEYS, RowJumps

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
TRANSITIONS = (SandboxState.STARTING, SandboxState.STOPPING)
WIDE = 120  # from this many columns on every field has its own column (the workspace folds at the same width)
SCROLLBAR = 2  # kept free for the vertical scrollbar, so a long list never pushes the last column off screen
MIN_NAME = 10  # the name column never gets narrower (a narrower terminal scrolls sideways instead)
STATE_WIDTH = len("⠋ stopping")  # the widest state cell: transitions never resize the column
USED_WIDTH = len("1023K")  # `human_size` never gives more than five cells
ACTIVITY_WIDTH = len("just now")  # `relative_time` never gives more than eight ("11mo ago")
ISOLATION_WIDTH = max(len("Isolation"), *(len(i) for i in Isolation))
READ_ONLY = "read-only"
LIVE = "◆ "  # before the name of a sandbox whose workspace is open (alive in the background)
RO_SHORT = "ro"  # the narrow layout's read-only marker (the title line spells it out)
SPARK_LABEL = "CPU%"  # the sparkline column: CPU share over the last `SPARK_SPAN` seconds, 0-100 %
SPARK_WIDTH = 8  # cells at a narrow width (the name gives way first, down to MIN_NAME)
SPARK_WIDE = 16
SPARK_MIN = len(SPARK_LABEL)  # narrower than this, the column is left out (others' view at 80 columns)
SPARK_SPAN = 240.0  # seconds the sparkline covers: one cell is 30 s at 8 cells, 15 s at 16


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    label: str
    width: int  # cells of content, without the table's cell padding


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
    """At most five cells: `512B`, `1.5K`, `204K`, `46M`, `1.2G`, `1023K` (one decimal only below ten)."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            if unit == "B":
                return f"{size:.0f}B"
            # 9.96 rounds to "10.0": past that point show whole units, or the cell grows to six
            return f"{size:.1f}{unit}" if size < 9.95 else f"{size:.0f}{unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def resources_text(info: SandboxInfo) -> str:
    r = info.resources
    return f"{r.cpu}/{r.memory_gib:g}G/{r.disk_gib:g}G"


def labels_text(info: SandboxInfo, hide: str | None) -> str:
    return ", ".join(f"{safe_text(k)}={safe_text(v)}" for k, v in sorted(info.labels.items()) if k != hide)


def owner_of(info: SandboxInfo, owner_label: str | None) -> str | None:
    """Whose `info` is: the provider's word (`info.owner`: Daytona's `sandbenchOwner`, which `sandbench serve` fills
    and keeps the owner label to itself), else the owner label; as `SandboxService.owns` decides it."""
    if info.owner is not None:
        return info.owner
    return info.labels.get(owner_label) if owner_label else None


def detail_text(
    info: SandboxInfo,
    *,
    owner_label: str | None,
    mine: bool,
    columns: Iterable[str],
    width: int | None = None,
    live: bool = False,
) -> Text:
    """The line under the table for the selected sandbox: whose it is when not the user's, what the table has no
    column for at this width (isolation, labels), and the settings no column shows (network, auto-stop, auto-archive,
    auto-delete when set).

    Parts come most important first; given a `width`, the parts that would not fit are left out whole rather than
    cut mid-word, except the labels, which end in "…" (they are the one part of unbounded length).
    """
    shown = set(columns)
    parts: list[tuple[str, str]] = [(safe_text(info.name), "bold")]
    if not mine:
        owner = owner_of(info, owner_label)
        whose = f"{safe_text(owner)}'s" if owner else "no owner"
        parts.append((f"read-only: {whose} (A adopts)", "bold"))
    if info.error:
        parts.append((f"error: {safe_text(info.error)}", "bold"))
    if live:
        parts.append((f"{LIVE}workspace open (w closes it)", "bold"))
    if "isolation" not in shown:
        parts.append((f"isolation: {info.isolation_text}", ""))
    labels = labels_text(info, owner_label) if "labels" not in shown else ""
    if labels:
        parts.append((labels, "labels"))
    parts.append(("network: on" if info.network else "network: blocked", "dim"))
    parts.append(
        (f"auto-stop: {minutes_text(info.auto_stop_minutes)}" if info.auto_stop_minutes else "auto-stop: off", "dim")
    )
    # what happens once it is stopped (Daytona's lifecycle, honoured locally by the reaper)
    parts.append((f"archive: {minutes_text(info.auto_archive_minutes)}", "dim"))
    if info.auto_delete_minutes == 0:
        parts.append(("delete: on stop", "dim"))
    elif info.auto_delete_minutes > 0:
        parts.append((f"delete: {minutes_text(info.auto_delete_minutes)}", "dim"))
    if "isolation" in shown and info.bwrap is not None:  # the column has the level; what enforces it, if room
        parts.append((info.bwrap.label, "dim"))

    out = Text(no_wrap=True, overflow="ellipsis")
    for text, style in parts:
        gap = "  " if out.plain else ""
        room = None if width is None else width - len(out.plain) - len(gap)
        if room is not None and len(text) > room:
            if style == "labels" and room > 8:
                out.append(gap + text[: room - 1] + "…")
            continue  # a smaller part further on may still fit
        out.append(gap + text, style="" if style == "labels" else style)
    return out


def column_specs(
    width: int,
    infos: Iterable[SandboxInfo],
    *,
    show_owner: bool,
    owner_label: str | None,
    identity: str | None,
    live: Iterable[str] = (),
) -> list[ColumnSpec]:
    """The columns for a table `width` cells wide holding `infos` (see the module docstring)."""
    infos = list(infos)
    wide = width >= WIDE

    def fit(label: str, values: Iterable[str], floor: int = 0) -> int:
        return max(len(label), floor, *(len(v) for v in values))

    owner_width = 0
    if show_owner:
        marker = f" ({READ_ONLY})" if wide else f" ({RO_SHORT})"
        owners = [_owner_cell(i, owner_label, identity, marker) for i in infos]
        owner_width = min(fit("Owner", owners), 12 + len(marker))
    specs: list[ColumnSpec] = []
    if wide:
        specs += [
            ColumnSpec("state", "State", STATE_WIDTH),
            ColumnSpec("provider", "Provider", fit("Provider", (i.provider for i in infos))),
            ColumnSpec("isolation", "Isolation", ISOLATION_WIDTH),
            ColumnSpec("cpu", "CPU", fit("CPU", (str(i.resources.cpu) for i in infos))),
            ColumnSpec("mem", "Mem", fit("Mem", (f"{i.resources.memory_gib:g}G" for i in infos))),
            ColumnSpec("disk", "Disk", fit("Disk", (f"{i.resources.disk_gib:g}G" for i in infos))),
            ColumnSpec("used", "Used", USED_WIDTH),
            ColumnSpec("activity", "Activity", ACTIVITY_WIDTH),
        ]
    else:
        specs += [ColumnSpec("state", "State", STATE_WIDTH)]
        if not show_owner:  # the owner column takes its place; the detail line still says it
            specs += [ColumnSpec("isolation", "Isolation", ISOLATION_WIDTH)]
        specs += [
            ColumnSpec("resources", "CPU/Mem/Disk", fit("CPU/Mem/Disk", (resources_text(i) for i in infos))),
            ColumnSpec("used", "Used", USED_WIDTH),
            ColumnSpec("activity", "Activity", ACTIVITY_WIDTH),
        ]
    padding = 2  # DataTable's cell_padding on each side of every column
    columns = len(specs) + 1 + (1 if show_owner else 0) + (1 if wide else 0)
    fixed = sum(s.width for s in specs) + owner_width + padding * columns + SCROLLBAR
    # the sparkline goes after the state; narrow, it takes the room a MIN_NAME name leaves, up to SPARK_WIDTH
    spark = SPARK_WIDE if wide else min(SPARK_WIDTH, width - fixed - MIN_NAME - padding)
    if spark >= SPARK_MIN:
        specs.insert(1, ColumnSpec("spark", SPARK_LABEL, spark))
        fixed += spark + padding
    live = set(live)
    longest = fit("Name", ((LIVE if i.id in live else "") + safe_text(i.name) for i in infos))
    if wide:
        # the labels take what the others leave, but never squeeze a name that fits
        name_width = max(MIN_NAME, min(longest, width - fixed - len("Labels")))
        labels_width = max(len("Labels"), width - fixed - name_width)
        specs.append(ColumnSpec("labels", "Labels", labels_width))
    else:
        name_width = max(MIN_NAME, min(longest, width - fixed))
    head = [ColumnSpec("name", "Name", name_width)]
    if show_owner:
        head.append(ColumnSpec("owner", "Owner", owner_width))
    return head + specs


def _owner_cell(info: SandboxInfo, owner_label: str | None, identity: str | None, marker: str) -> str:
    owner = owner_of(info, owner_label)
    if identity and owner == identity:
        return "you"
    return (safe_text(owner) if owner else "nobody") + marker


class SandboxTable(RowJumps, DataTable[Text], inherit_bindings=False):
    """Rows keyed by sandbox id. `filter_text` narrows rows to those whose name, state, owner or labels contain
    it. `identity` is whose sandboxes are "mine": the others are dimmed and marked read-only.

    Its keys are DataTable's cursor keys but enter (the screen's `list.open` takes it, so the footer shows
    "⏎ Open": DataTable's hidden "Select" shadowed it), with home/end on the first and last row."""

    DEFAULT_CSS = """
    SandboxTable { height: 1fr; width: 100%; }  /* not auto (a ScrollView's default): columns follow the width */
    """
    BINDINGS = [
        *(b for b in DataTable.BINDINGS if isinstance(b, Binding) and b.key not in ("enter", "home", "end")),
        *bindings(ROW_JUMP_KEYS),
    ]

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utc_now,
        owner_label: str | None = None,
        identity: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._clock = clock
        self._owner_label = owner_label
        self._identity = identity
        self._infos: dict[str, SandboxInfo] = {}
        self._order: list[str] = []
        self._filter = ""
        self._frame = 0
        self._spinner: Timer | None = None
        self._show_owner = False
        self._specs: list[ColumnSpec] = []
        self._live: set[str] = set()
        self._cpu: dict[str, tuple[list[tuple[float, float]], float]] = {}  # id -> (points, end) of its CPU share

    # -- layout --------------------------------------------------------------------------------------------
    @property
    def wide(self) -> bool:
        return self._width() >= WIDE

    def _width(self) -> int:
        # before the first layout the table has no size yet; it is as wide as the screen
        return self.size.width or (self.app.size.width if self.is_attached else WIDE)

    @property
    def column_keys(self) -> list[str]:
        return [s.key for s in self._specs]

    def _wanted_specs(self) -> list[ColumnSpec]:
        return column_specs(
            self._width(),
            self._infos.values(),
            show_owner=self._show_owner,
            owner_label=self._owner_label,
            identity=self._identity,
            live=self._live,
        )

    def on_resize(self, _event: events.Resize) -> None:
        if self._wanted_specs() != self._specs:
            self._rebuild()

    def set_show_owner(self, show: bool) -> None:
        if show != self._show_owner:
            self._show_owner = show
            self._rebuild()

    def set_live(self, sandbox_ids: Iterable[str]) -> None:
        """Which sandboxes have a live workspace (marked before the name)."""
        live = set(sandbox_ids)
        if live != self._live:
            self._live = live
            self._rebuild()

    @property
    def live(self) -> set[str]:
        return set(self._live)

    def mine(self, info: SandboxInfo) -> bool:
        return bool(self._identity) and owner_of(info, self._owner_label) == self._identity

    def detail(self, info: SandboxInfo) -> Text:
        return detail_text(
            info,
            owner_label=self._owner_label,
            mine=self.mine(info),
            columns=self.column_keys,
            width=max(self._width() - 2, 20),  # the line's padding
            live=info.id in self._live,
        )

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
            info = dataclasses.replace(info, disk_used_bytes=old.disk_used_bytes)
        self._infos[info.id] = info
        if not known:
            self._order.append(info.id)
            self._order.sort(key=lambda i: (self._infos[i].name.lower(), i))
            self._rebuild()
            return
        if self._wanted_specs() != self._specs:  # e.g. a longer owner after an adopt: lay the columns out again
            self._rebuild()
        elif info.id in self.rows:
            for key, value in zip(self.column_keys, self._cells(info), strict=True):
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

    def row_text(self, sandbox_id: str) -> dict[str, str]:
        """The plain text of one row by column key (tests read cells by key, not by position, which changes
        with the width)."""
        return {key: cell.plain for key, cell in zip(self.column_keys, self.get_row(sandbox_id), strict=True)}

    def set_filter(self, text: str) -> None:
        self._filter = text.strip().lower()
        self._rebuild()

    def set_cpu_history(self, sandbox_id: str, points: Sequence[tuple[float, float]], end: float) -> None:
        """The sandbox's CPU share as (monotonic time, percent) points, the latest at `end`, for its sparkline."""
        self._cpu[sandbox_id] = (list(points), end)
        if "spark" in self.column_keys and sandbox_id in self.rows and sandbox_id in self._infos:
            self.update_cell(sandbox_id, "spark", self._spark(self._infos[sandbox_id]))

    def forget_cpu_history(self, sandbox_id: str) -> None:
        self._cpu.pop(sandbox_id, None)

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
        specs = self._wanted_specs()
        if specs != self._specs:
            self.clear(columns=True)
            for spec in specs:
                self.add_column(Text(spec.label), width=spec.width, key=spec.key)
            self._specs = specs
        else:
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

    def _spark(self, info: SandboxInfo) -> Text:
        got = self._cpu.get(info.id)
        width = next((spec.width for spec in self._specs if spec.key == "spark"), SPARK_WIDTH)
        if got is None or info.state is not SandboxState.STARTED:
            return Text(" " * width)
        points, end = got
        return spark_text(buckets(points, width, SPARK_SPAN, end), 100.0, style=self._colour("accent", "cyan"))

    def _cells(self, info: SandboxInfo) -> list[Text]:
        r = info.resources
        isolation = Text(str(info.isolation))
        if info.isolation not in (Isolation.FULL, Isolation.REMOTE):
            isolation.stylize(self._colour("warning", "yellow"))
        mine = self.mine(info)
        marker = f" ({READ_ONLY})" if self.wide else f" ({RO_SHORT})"
        live = LIVE if info.id in self._live else ""
        name_width = next((spec.width for spec in self._specs if spec.key == "name"), None)
        name = safe_text(info.name)
        if name_width is not None:
            name = middle_cut(name, name_width - cell_len(live))
        cells: dict[str, Text] = {
            "name": _clipped(live + name, style="bold" if mine else ""),
            "owner": _clipped(
                _owner_cell(info, self._owner_label, self._identity, marker), style="" if mine else "italic"
            ),
            "state": self._state(info),
            "provider": Text(info.provider),
            "isolation": isolation,
            "cpu": Text(str(r.cpu), justify="right"),
            "mem": Text(f"{r.memory_gib:g}G", justify="right"),
            "disk": Text(f"{r.disk_gib:g}G", justify="right"),
            "resources": Text(resources_text(info), justify="right"),
            "used": Text(human_size(info.disk_used_bytes), justify="right"),
            "activity": self._activity(info),
            "labels": _clipped(labels_text(info, self._owner_label)),
        }
        if "spark" in self.column_keys:
            cells["spark"] = self._spark(info)
        out = [cells[key] for key in self.column_keys]
        if not mine:
            # read-only rows: dimmed as a whole, so mine stand out when both are shown
            for cell in out:
                cell.stylize("dim")
        return out

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


def middle_cut(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut in the middle: names that differ at the end (`project-alpha-1`,
    `project-alpha-2`) still differ (`pro…alpha-1`), where an end cut made both `project-alp…`. The end is the part
    kept longer: that is where names of one family differ."""
    if cell_len(text) <= width:
        return text
    if width < 4:
        return text[: max(width - 1, 0)] + "…" if width > 0 else ""
    room = width - 1  # the "…"
    head_room = room // 3
    head, used = "", 0
    for ch in text:
        if used + cell_len(ch) > head_room:
            break
        head += ch
        used += cell_len(ch)
    tail, used = "", 0
    for ch in reversed(text):
        if used + cell_len(ch) > room - cell_len(head):
            break
        tail = ch + tail
        used += cell_len(ch)
    return f"{head}…{tail}"


def _clipped(text: str, style: str = "") -> Text:
    """A cell that ends in "…" when its column is narrower than the text, instead of wrapping or cutting."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")
