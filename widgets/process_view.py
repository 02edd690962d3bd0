"""The tables of the Processes view (issue 13 §3): a sandbox's process tree and its listening ports.

Rows are built from `services.processes` values as `rich.text.Text` (never markup): command lines, names and users
are the sandbox's and are already sanitized by the service. Each table keeps the cursor on the same process (or
port) across refreshes, and asks its screen to act through messages (kill, forward, copy, close a forward); the
screen owns the service calls and the dialogs.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable

from services.processes import PortInfo, ProcessInfo, human_age
from services.units import byte_size
from widgets.keys import Key, bindings
from widgets.table_keys import ROW_JUMP_KEYS, RowJumps

PROCESS_TABLE_KEYS: tuple[Key, ...] = (
    Key(
        "processes.kill",
        "k,f9",
        "kill",
        "Kill",
        "End the selected process: TERM after a confirmation, then KILL offered if it is still running",
        group="Processes",
    ),
)
PORT_TABLE_KEYS: tuple[Key, ...] = (
    Key(
        "processes.forward",
        "f",
        "forward",
        "Forward",
        "Forward the selected port to 127.0.0.1 (sandboxes with network); the local URL is shown and copyable",
        group="Processes",
    ),
    Key("processes.copy_url", "c", "copy_url", "Copy URL", "Copy the selected port's local URL", group="Processes"),
    Key(
        "processes.unforward",
        "x",
        "unforward",
        "Stop forward",
        "Close the selected port's forward",
        group="Processes",
    ),
)


def _command_cell(branch: str, command: str) -> Text:
    cell = Text(no_wrap=True, overflow="ellipsis")
    cell.append(branch, style="dim")
    cell.append(command)
    return cell


class _FittedTable(RowJumps, DataTable[Text]):
    """A table whose last column (the command) takes the width left, so a long line ends in "…" instead of
    scrolling the table sideways; home/end go to the first and last row (widgets/table_keys.py)."""

    BINDINGS = bindings(ROW_JUMP_KEYS)

    def _fit_last(self) -> None:
        if not self.columns or not self.size.width:
            return
        *fixed, last = self.columns.values()
        used = sum(c.width + 2 * self.cell_padding for c in fixed)
        # the vertical scrollbar's width, whether or not it shows now (rows come and go every refresh)
        want = max(10, self.size.width - used - 2 * self.cell_padding - 2)
        if last.width != want or last.auto_width:
            last.width = want
            last.auto_width = False
            self._require_update_dimensions = True
            self.refresh()

    def on_resize(self, _event: events.Resize) -> None:
        self._fit_last()


class ProcessTable(_FittedTable):
    """The process tree: one row per process, keyed by pid, children indented under their parent."""

    DEFAULT_CSS = """
    ProcessTable { height: 1fr; }
    """
    BINDINGS = bindings(PROCESS_TABLE_KEYS)

    class KillRequested(Message):
        def __init__(self, process: ProcessInfo) -> None:
            super().__init__()
            self.process = process

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._rows: dict[int, ProcessInfo] = {}
        # the screen's filter field, given text to type ("" for `/`: just focus it); see `_on_key`
        self.type_into: Callable[[str], None] | None = None

    async def _on_key(self, event: events.Key) -> None:
        # `/` focuses the filter here, in the key handler, not as a binding: a binding runs once the key has
        # bubbled up to the app, after the keys typed right behind it were already queued to this table; those
        # (printable, arriving after the focus moved) are typed into the filter instead of being lost
        if self.type_into is None:
            return
        if event.key == "slash" and self.screen.focused is self:
            text = ""
        elif self.screen.focused is not self and event.is_printable and event.character:
            text = event.character
        else:
            return
        event.stop()
        event.prevent_default()
        self.type_into(text)

    def on_mount(self) -> None:
        for label, width in (("PID", 7), ("USER", 8), ("CPU%", 5), ("MEM", 6), ("S", 1), ("AGE", 6)):
            self.add_column(
                Text(label, justify="right" if label in ("PID", "CPU%", "MEM", "AGE") else "left"),
                width=width,
                key=label,
            )
        self.add_column(Text("COMMAND"), key="COMMAND")
        self._fit_last()

    @property
    def selected(self) -> ProcessInfo | None:
        if self.row_count == 0:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self._rows.get(int(key)) if key is not None else None

    def show(self, rows: list[tuple[ProcessInfo, int]]) -> None:
        """Replace the rows, keeping the cursor on the process it was on (or the same row number)."""
        current = self.selected
        at = self.cursor_row
        self.clear()
        self._rows = {p.pid: p for p, _d in rows}
        for p, depth in rows:
            cpu = "-" if p.cpu_percent is None else f"{p.cpu_percent:.1f}"
            branch = "  " * (depth - 1) + "└ " if depth else ""
            state_style = "bold green" if p.state == "R" else "red" if p.state in ("Z", "D") else ""
            self.add_row(
                Text(str(p.shown_pid), justify="right"),  # as the sandbox sees it (`echo $$`)
                Text(p.user[:8]),
                Text(cpu, justify="right", style="bold" if (p.cpu_percent or 0) >= 50 else ""),
                Text(byte_size(p.rss_bytes), justify="right"),
                Text(p.state, style=state_style),
                Text(human_age(p.age), justify="right"),
                _command_cell(branch, p.command),
                key=str(p.pid),
            )
        if current is not None and current.pid in self._rows:
            self.move_cursor(row=self.get_row_index(str(current.pid)), animate=False)
        elif self.row_count:
            self.move_cursor(row=min(at, self.row_count - 1), animate=False)

    def action_kill(self) -> None:
        proc = self.selected
        if proc is not None:
            self.post_message(self.KillRequested(proc))


class PortTable(_FittedTable):
    """Listening ports, with the local address of each one's forward."""

    DEFAULT_CSS = """
    PortTable { height: auto; max-height: 6; }
    """
    BINDINGS = bindings(PORT_TABLE_KEYS)

    class Requested(Message):
        """`what` is "forward", "copy" or "unforward"."""

        def __init__(self, what: str, port: PortInfo) -> None:
            super().__init__()
            self.what = what
            self.port = port

    def __init__(self, *, can_forward: bool = True, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, show_cursor=True)
        self._rows: list[PortInfo] = []
        self._forwarded: set[int] = set()
        self.can_forward = can_forward  # the sandbox has network: the footer offers `f` only then

    def on_mount(self) -> None:
        self.add_column(Text("PORT", justify="right"), width=5, key="PORT")
        self.add_column(Text("ADDRESS"), width=15, key="ADDRESS")
        self.add_column(Text("PID", justify="right"), width=7, key="PID")
        self.add_column(Text("FORWARD"), width=23, key="FORWARD")
        self.add_column(Text("COMMAND"), key="COMMAND")
        self._fit_last()

    @property
    def selected(self) -> PortInfo | None:
        if not self._rows:
            return None
        return self._rows[min(self.cursor_row, len(self._rows) - 1)]

    def show(self, ports: list[PortInfo], forwards: dict[int, str]) -> None:
        at = self.cursor_row
        self.clear()
        self._rows = list(ports)
        self._forwarded = set(forwards)
        for p in ports:
            self.add_row(
                Text(str(p.port), justify="right"),
                Text(p.address + (" (v6)" if p.family == "tcp6" and ":" in p.address else "")),
                Text("-" if p.shown_pid is None else str(p.shown_pid), justify="right"),  # as the process list
                Text(forwards.get(p.port, ""), style="bold"),
                Text(p.command, no_wrap=True, overflow="ellipsis"),
            )
        if self.row_count:
            self.move_cursor(row=min(at, self.row_count - 1), animate=False)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer shows only what works on the selected port: forward it, or copy / close its forward."""
        port = self.selected
        if action == "forward":
            return self.can_forward and port is not None and port.port not in self._forwarded
        if action in ("copy_url", "unforward"):
            return port is not None and port.port in self._forwarded
        return True

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def _ask(self, what: str) -> None:
        port = self.selected
        if port is not None:
            self.post_message(self.Requested(what, port))

    def action_forward(self) -> None:
        self._ask("forward")

    def action_copy_url(self) -> None:
        self._ask("copy")

    def action_unforward(self) -> None:
        self._ask("unforward")
