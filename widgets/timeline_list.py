"""The Timeline's rows: one line per audit entry of a sandbox, newest first (issue 13 §2; data: services/timeline.py).

A line-API list (`ScrollView.render_line`): only the rows on screen are drawn, so a timeline of thousands of
entries costs one screenful. Columns: time, who, kind, what, duration, outcome; the what column takes the room
left. Who: the person at the app shows as "you" (dim), anyone else — an agent's `serve` token, including one acting
for you under its own name (`Entry.acting_for`) — as its own name, bold, so an agent's work stands out from the
user's.

The cursor and its moves are `CursorList`'s (widgets/cursor_list.py). Live: `prepend` puts new entries at the top
without moving the cursor off its entry (`CursorList.rows_inserted_above`: the cursor follows the entry, not the row
number; the view scrolls by the rows added above it unless it shows the top, and `new_above` counts those out of
sight, `NewAbove` saying so, until the view is scrolled up to them). `set_filter` keeps the
cursor on its entry when the entry still matches. Everything drawn is sandbox text made printable by the reader
(`safe_text`) and drawn as segments, never markup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from services.timeline import Entry, error_title
from services.timeline_view import Filter
from widgets.cursor_list import CursorList
from widgets.keys import Key, bindings

WHO_WIDTH = 10
KIND_WIDTH = 5
DUR_WIDTH = 6
OUTCOME_WIDTH = 11
# the service's error types (services/errors.py), as the outcome column says them (it is 11 cells wide: the
# details say the whole title, `services.timeline.error_title`)
ERRORS = {
    "OperationTimeout": "timed out",
    "NotRunning": "not running",
    "PermissionDenied": "denied",
    "SandboxNotFound": "not found",
    "FileNotFound": "no such file",
    "SnapshotNotFound": "not found",
    "PathRejected": "bad path",
    "NameRejected": "bad name",
    "InvalidInput": "invalid",
    "TooLarge": "too large",
    "DiskLimitExceeded": "disk full",
    "Conflict": "conflict",
    "AlreadyExists": "exists",
    "IsolationUnavailable": "isolation",
    "StateDatabaseDamaged": "damaged",
    "ProviderError": "failed",
    "error": "failed",
}
KIND_LABEL = {
    "exec": "exec",
    "git": "git",
    "file": "file",
    "lifecycle": "life",
    "checkpoint": "ckpt",
    "terminal": "term",
    "other": "op",
}


def duration(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(int(ms // 1000), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def outcome(entry: Entry, *, full: bool = False) -> tuple[str, str]:
    """The outcome column's text and its component class; `full`: the error's whole title (the details)."""
    if not entry.ok:
        if full:
            return ("✗ " + error_title(entry.outcome), "timeline--error")
        text = entry.outcome.removeprefix("error:")
        return ("✗ " + ERRORS.get(text, "failed"), "timeline--error")
    if entry.exit not in (None, 0):
        return (f"exit {entry.exit}", "timeline--warn")
    return ("ok", "timeline--ok")


def when(ts: float, now: float) -> str:
    """HH:MM:SS for today's entries (local time), the month and day for older ones."""
    local, today = time.localtime(ts), time.localtime(now)
    if local[:3] == today[:3]:
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%b %d", local).ljust(8)


def _cell(text: str, width: int) -> str:
    return text[: width - 1] + "…" if len(text) > width else text.ljust(width)


class TimelineList(CursorList, can_focus=True):
    DEFAULT_CSS = """
    TimelineList { height: 1fr; overflow-x: hidden; overflow-y: scroll; background: $surface; }
    TimelineList > .timeline--cursor { background: $block-cursor-blurred-background; }
    TimelineList:focus > .timeline--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    TimelineList > .timeline--dim { color: $text-muted; }
    TimelineList > .timeline--agent { color: $text-accent; text-style: bold; }
    TimelineList > .timeline--ok { color: $text-success; }
    TimelineList > .timeline--warn { color: $text-warning; }
    TimelineList > .timeline--error { color: $text-error; text-style: bold; }
    TimelineList > .timeline--internal { color: $text-muted; text-style: italic; }
    """
    COMPONENT_CLASSES = {
        "timeline--cursor",
        "timeline--dim",
        "timeline--agent",
        "timeline--ok",
        "timeline--warn",
        "timeline--error",
        "timeline--internal",
    }
    BINDINGS = bindings(
        (
            Key("timeline.down", "down,j", "cursor_down", "Down", show=False, palette=False, help=False),
            Key("timeline.up", "up,k", "cursor_up", "Up", show=False, palette=False, help=False),
            Key("timeline.page_down", "pagedown", "page_down", "Page down", show=False, palette=False, help=False),
            Key("timeline.page_up", "pageup", "page_up", "Page up", show=False, palette=False, help=False),
            Key("timeline.first", "home,g", "first", "Newest", "Go to the newest entry", show=False, group="Timeline"),
            Key("timeline.last", "end,G", "last", "Oldest", "Go to the oldest entry", show=False, group="Timeline"),
        )
    )

    class Highlighted(Message):
        def __init__(self, entry: Entry | None) -> None:
            super().__init__()
            self.entry = entry

    class NewAbove(Message):
        """How many entries arrived above the top of the view, not seen yet (0 once the view shows the top)."""

        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count

    def __init__(self, identity: str, *, now: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.identity = identity
        self._now = now
        self.all: list[Entry] = []  # newest first, unfiltered
        self.rows: list[Entry] = []  # newest first, what the filter lets through
        self.filter = Filter()
        self.footnote = ""  # "N older entries not shown": the last row when set
        self.dropped = 0  # the oldest entries let go to keep at most `cap` while following
        self.new_above = 0  # entries that arrived above the view's top while it was scrolled: "N new above"

    # -- content --------------------------------------------------------------------------------------------
    @property
    def current(self) -> Entry | None:
        return self.rows[self.cursor] if self.rows else None

    def set_entries(self, entries: Sequence[Entry], footnote: str = "") -> None:
        self.all, self.footnote = list(entries), footnote
        self._refilter(keep=None)

    def set_filter(self, flt: Filter) -> None:
        self.filter = flt
        self._refilter(keep=self.current)

    def prepend(self, entries: Sequence[Entry], cap: int | None = None) -> None:
        """New entries (newest first) at the top; the cursor stays on its entry, on the same screen line."""
        if not entries:
            return
        keep = self.current
        self.all[:0] = entries
        if cap is not None and len(self.all) > cap:
            self.dropped += len(self.all) - cap
            del self.all[cap:]
        added = sum(1 for e in entries if self.filter.matches(e))
        if not added:
            return
        self._set_rows()
        self.rows_inserted_above(added, self._index_of(keep) if keep is not None else 0)
        # the view kept its rows where they were: what came in above them is out of sight until scrolled to
        self._unseen(min(self.new_above + added, int(self.scroll_y)))

    def _unseen(self, count: int) -> None:
        if count != self.new_above:
            self.new_above = count
            self.post_message(self.NewAbove(count))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.new_above > int(new_value):  # scrolling up brings them into view
            self._unseen(int(new_value))

    def _index_of(self, entry: Entry | None) -> int | None:
        if entry is None:
            return None
        return next((i for i, e in enumerate(self.rows) if e.key == entry.key), None)

    def _set_rows(self) -> None:
        self.rows = self.filter.apply(self.all)
        size = Size(0, len(self.rows) + (1 if self.footnote else 0))
        if size != self.virtual_size:
            self.virtual_size = size

    def _refilter(self, keep: Entry | None) -> None:
        self._set_rows()
        self._unseen(0)  # other rows now: the count is of rows no longer shown as such
        old = self.cursor
        self.keep_cursor(self._index_of(keep))
        if self.cursor == old:
            self.post_message(self.Highlighted(self.current))  # the entry under the same row may be another now

    # -- the cursor (its moves are CursorList's) -------------------------------------------------------------
    def row_count(self) -> int:
        return len(self.rows)  # the footnote row, when shown, cannot hold the cursor: it is past the rows

    def cursor_moved(self, old: int, new: int) -> None:
        self.refresh()
        if new != old:
            self.post_message(self.Highlighted(self.current))

    # -- drawing --------------------------------------------------------------------------------------------
    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = int(self.scroll_y) + y
        if index >= len(self.rows):
            if index == len(self.rows) and (self.footnote or not self.rows):
                text = self.footnote or "nothing here yet (or nothing the filter lets through)"
                return Strip([Segment(" " + text, base + self._style("timeline--dim"))]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        entry = self.rows[index]
        style = base + self._style("timeline--cursor") if index == self.cursor else base
        dim = style + self._style("timeline--dim")
        mine = entry.who == self.identity
        who = _cell("you" if mine else entry.who, WHO_WIDTH)
        out_text, out_class = outcome(entry)
        room = max(8, width - (8 + 1 + WHO_WIDTH + 1 + KIND_WIDTH + 1 + 1 + DUR_WIDTH + 1 + OUTCOME_WIDTH))
        what_style = style + self._style("timeline--internal") if entry.internal else style
        segments = [
            Segment(when(entry.ts, self._now()) + " ", dim),
            Segment(who + " ", dim if mine else style + self._style("timeline--agent")),
            Segment(_cell(KIND_LABEL.get(entry.kind, entry.kind), KIND_WIDTH) + " ", dim),
            Segment(_cell(entry.what, room) + " ", what_style),
            Segment(duration(entry.ms).rjust(DUR_WIDTH) + " ", dim),
            Segment(_cell(out_text, OUTCOME_WIDTH), style + self._style(out_class)),
        ]
        return Strip(segments).crop_extend(0, width, style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()
