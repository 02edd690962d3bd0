"""The explorer's flat row model (pure, no widget): the visible rows of a lazily listed tree, the git mark each
folder shows (the most urgent status beneath it), and whether a path is git-ignored (it or a folder above it).

A 10,000-entry folder is 10,000 `Row` tuples built in one pass; the walk is iterative, because a sandbox can nest
folders deeper than Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import NamedTuple

from services import paths
from services.models import FileEntry

GIT_CLASSES = {
    "M": "explorer--git-modified",
    "T": "explorer--git-modified",
    "A": "explorer--git-added",
    "?": "explorer--git-untracked",
    "D": "explorer--git-deleted",
    "R": "explorer--git-renamed",
    "C": "explorer--git-renamed",
    "U": "explorer--git-conflict",
    "!": "explorer--git-ignored",
}
# A folder shows the most urgent status found beneath it.
_URGENCY = {"U": 6, "D": 5, "M": 4, "T": 4, "R": 3, "C": 3, "A": 2, "?": 1, "!": 0}


class Row(NamedTuple):
    """One visible line: an entry and how deep it sits (a tuple: 10,000 of them are built per big listing)."""

    depth: int
    entry: FileEntry


def flatten(
    listings: Mapping[str, list[FileEntry]], expanded: Collection[str], visible: Callable[[FileEntry], bool]
) -> list[Row]:
    """The rows on show, top to bottom: each listed folder's visible entries, an expanded folder's beneath it."""
    rows: list[Row] = []
    append = rows.append
    # iterative depth-first walk: a sandbox can make folders nested deeper than Python's recursion limit
    stack: list[tuple[list[FileEntry], int, int]] = [(listings.get("", []), 0, 0)]
    while stack:
        entries, i, depth = stack.pop()
        n = len(entries)
        while i < n:
            e = entries[i]
            i += 1
            if not visible(e):
                continue
            append(Row(depth, e))
            if e.kind == "dir" and e.path in expanded:
                children = listings.get(e.path)
                if children:
                    stack.append((entries, i, depth))
                    entries, i, depth, n = children, 0, depth + 1, len(children)
    return rows


def folder_marks(codes: Mapping[str, str]) -> dict[str, str]:
    """For each folder holding a changed path (`codes`: path → one-letter git code), the most urgent code beneath."""
    folders: dict[str, str] = {}
    for path, code in codes.items():
        parent = paths.parent(path)
        while True:
            old = folders.get(parent)
            if old is None or _URGENCY.get(code, 0) > _URGENCY.get(old, 0):
                folders[parent] = code
            elif old is not None:
                break  # every ancestor above already shows something at least as urgent
            if not parent:
                break
            parent = paths.parent(parent)
    return folders


def ignored_under(path: str, ignored: Collection[str]) -> bool:
    """Whether `path` or one of the folders above it is in `ignored` (git reports an ignored folder once, so its
    children are found through it: a walk up of the path's depth, for the rows on screen only)."""
    while path:
        if path in ignored:
            return True
        path = paths.parent(path)
    return False
