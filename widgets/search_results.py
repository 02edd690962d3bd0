"""The search view's results list: `SearchResults`, matches grouped by file — a header row per file (fold with
left/right), a row per matching line — drawn through the line API, only the rows on screen, so 10,000 matches
cost what one screenful costs. Enter on a match posts `SearchResults.OpenMatch`.

Everything shown from the sandbox (paths, line text) is data: drawn as `rich.text.Text`/segments, never markup,
with control characters shown as visible escapes (`line_text`). The view that feeds it is widgets/search_view.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from services.search import Match
from services.text import escape_char
from widgets.cursor_list import CursorList
from widgets.explorer_text import name_runs
from widgets.keys import Key, bindings

LINE_NO_WIDTH = 5


def line_text(text: str, spans: Sequence[tuple[int, int]], match: Style, escape: Style, start: int = 0) -> Text:
    """`text[start:]` as a literal `Text`: spans (offsets into `text`) highlighted, tabs as one space, every other
    non-printable character as a visible escape (offsets mapped so the highlight stays on the match)."""
    out = Text(no_wrap=True, end="")
    offsets: list[int] = []
    pos = 0
    for ch in text[start:]:
        offsets.append(pos)
        if ch == "\t":
            out.append(" ")
            pos += 1
        elif ch.isprintable():
            out.append(ch)
            pos += 1
        else:
            esc = escape_char(ch)
            out.append(esc, escape)
            pos += len(esc)
    offsets.append(pos)
    for a, b in spans:
        a, b = max(a - start, 0), max(b - start, 0)
        if b > a and a < len(offsets):
            out.stylize(match, offsets[a], offsets[min(b, len(offsets) - 1)])
    return out


@dataclass
class FileGroup:
    path: str
    matches: list[Match] = field(default_factory=list)
    collapsed: bool = False


FLUSH_EVERY = 0.05  # seconds between additions to the results list while a search streams in


class SearchResults(CursorList, can_focus=True):
    """Matches grouped by file: a header row per file (fold with left/right), a row per matching line."""

    DEFAULT_CSS = """
    /* the scrollbar always shown: its appearing with the first screenful would lay the whole screen out again */
    SearchResults { height: 1fr; overflow-x: hidden; overflow-y: scroll; background: $surface; }
    SearchResults > .search-results--cursor { background: $block-cursor-blurred-background; }
    SearchResults:focus > .search-results--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
    }
    SearchResults > .search-results--path { color: $text-primary; text-style: bold; }
    SearchResults > .search-results--dim { color: $text-muted; }
    SearchResults > .search-results--match { background: $warning 40%; text-style: bold; }
    SearchResults > .search-results--escape { color: $text-warning; text-style: reverse; }
    """

    COMPONENT_CLASSES = {
        "search-results--cursor",
        "search-results--path",
        "search-results--dim",
        "search-results--match",
        "search-results--escape",
    }

    BINDINGS = bindings(
        (
            Key("search.open", "enter", "open", "Open", "Open the file in the editor at this match"),
            Key("search.fold", "left", "fold(True)", "Fold", "Fold this file's matches", show=False),
            Key("search.unfold", "right", "fold(False)", "Unfold", "Show this file's matches", show=False),
            Key("search.down", "down", "cursor_down", "Down", show=False),
            Key("search.up", "up", "cursor_up", "Up", show=False),
            Key("search.page_down", "pagedown", "page_down", "Page down", show=False),
            Key("search.page_up", "pageup", "page_up", "Page up", show=False),
            Key("search.first", "home", "first", "First", show=False),
            Key("search.last", "end", "last", "Last", show=False),
        )
    )

    class OpenMatch(Message):
        def __init__(self, match: Match) -> None:
            super().__init__()
            self.match = match

    class AtTop(Message):
        """Up on the first row: the view gives the keyboard back to the search field."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.groups: list[FileGroup] = []
        self._index: dict[str, int] = {}
        self._rows: list[tuple[int, int]] = []  # (group, match) with match -1 for the file's header
        self.cursor = 0
        self.more_text = ""  # the "N more not shown" row, when there is one

    # -- content --------------------------------------------------------------------------------------------
    @property
    def match_count(self) -> int:
        return sum(len(g.matches) for g in self.groups)

    def clear(self) -> None:
        self.groups, self._index, self._rows, self.cursor, self.more_text = [], {}, [], 0, ""
        self.scroll_to(y=0, animate=False, immediate=True)
        self._resize()

    def add(self, matches: Sequence[Match]) -> None:
        """Append a batch. grep reports a file's lines together, so a match almost always extends the last group
        (rows appended); one for an earlier file (never seen so far) rebuilds the rows."""
        rebuild = False
        first_new = len(self._rows)
        for m in matches:
            gi = self._index.get(m.path)
            if gi is None:
                gi = len(self.groups)
                self._index[m.path] = gi
                self.groups.append(FileGroup(m.path))
                self._rows.append((gi, -1))
            elif gi != len(self.groups) - 1:
                rebuild = True
            group = self.groups[gi]
            group.matches.append(m)
            if not rebuild and not group.collapsed:
                self._rows.append((gi, len(group.matches) - 1))
        if rebuild:
            self._rebuild()
        self._resize(appended_from=None if rebuild else first_new)

    def remove_file(self, path: str) -> None:
        gi = self._index.get(path)
        if gi is None:
            return
        del self.groups[gi]
        self._index = {g.path: i for i, g in enumerate(self.groups)}
        self._rebuild()
        self._resize()

    def _rebuild(self) -> None:
        rows: list[tuple[int, int]] = []
        for gi, group in enumerate(self.groups):
            rows.append((gi, -1))
            if not group.collapsed:
                rows.extend((gi, mi) for mi in range(len(group.matches)))
        self._rows = rows

    def _resize(self, *, appended_from: int | None = None) -> None:
        """After rows changed: the scrollable height, the cursor kept in range, and a repaint — only when the rows
        from `appended_from` on are on screen (a batch landing below the view changes the scrollbar alone)."""
        size = Size(0, len(self._rows) + (1 if self.more_text else 0))
        self.cursor = max(0, min(self.cursor, len(self._rows) - 1))
        if size != self.virtual_size:
            # `virtual_size` is a layout reactive: set plainly, every batch laid out the whole screen (in the
            # workspace, most of a search's time). This list's own size never depends on it (1fr), so set it
            # quietly and update the scrollbars, as Textual does for a resize without layout.
            self.set_reactive(ScrollView.virtual_size, size)
            self._scroll_update(size)
        if appended_from is None or appended_from < self.scroll_offset.y + self.size.height:
            self.refresh()

    def set_more(self, text: str) -> None:
        if text != self.more_text:
            self.more_text = text
            self._resize()

    @property
    def current(self) -> tuple[FileGroup, Match | None] | None:
        if not self._rows:
            return None
        gi, mi = self._rows[self.cursor]
        group = self.groups[gi]
        return group, (group.matches[mi] if mi >= 0 else None)

    # -- keys -----------------------------------------------------------------------------------------------
    def row_count(self) -> int:
        return len(self._rows)

    def action_cursor_up(self) -> None:
        if self.cursor == 0:
            self.post_message(self.AtTop())
            return
        super().action_cursor_up()

    def action_fold(self, fold: bool) -> None:
        current = self.current
        if current is None:
            return
        group, _ = current
        if group.collapsed != fold:
            group.collapsed = fold
            gi = self._index[group.path]
            self._rebuild()
            self.cursor = self._rows.index((gi, -1))
            self._resize()
            self.move_cursor(self.cursor)

    def action_open(self) -> None:
        current = self.current
        if current is None:
            return
        group, match = current
        if match is None:
            if group.collapsed:
                self.action_fold(False)
                return
            match = group.matches[0]
        self.post_message(self.OpenMatch(match))

    # -- drawing --------------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = int(self.scroll_y) + y
        dim = base + self.get_component_rich_style("search-results--dim")
        if index >= len(self._rows):
            if index == len(self._rows) and self.more_text:
                return Strip([Segment(" " + self.more_text, dim)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        gi, mi = self._rows[index]
        group = self.groups[gi]
        cursor = index == self.cursor
        style = base + self.get_component_rich_style("search-results--cursor") if cursor else base
        if cursor:
            dim = dim + self.get_component_rich_style("search-results--cursor")
        escape = style + self.get_component_rich_style("search-results--escape")
        if mi < 0:
            path_style = style + self.get_component_rich_style("search-results--path")
            folder, _, name = group.path.rpartition("/")
            segments = [Segment("▸ " if group.collapsed else "▾ ", style)]
            for text, is_escape in name_runs(name):
                segments.append(Segment(text, escape if is_escape else path_style))
            if folder:
                segments.append(Segment("  ", style))
                for text, is_escape in name_runs(folder):
                    segments.append(Segment(text, escape if is_escape else dim))
            segments.append(Segment(f"  ({len(group.matches)})", dim))
            return Strip(segments).crop_extend(0, width, style)
        match = group.matches[mi]
        number = f"{match.line:>{LINE_NO_WIDTH}}  "
        room = max(1, width - len(number) - 2)
        # a match far to the right of a long line: start the text a little before it, marked with an ellipsis
        start = 0
        if match.spans and match.spans[0][1] > room:
            start = max(0, match.spans[0][0] - room // 3)
        highlight = style + self.get_component_rich_style("search-results--match")
        body = line_text(match.text, match.spans, highlight, escape, start)
        segments = [Segment("  ", style), Segment(number, dim)]
        if start:
            segments.append(Segment("…", dim))
        segments.extend(body.render(self.app.console))
        strip = Strip(segments).crop_extend(0, width, style)
        return strip.apply_style(style)  # the row's base (cursor) under the line's own styles

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()
