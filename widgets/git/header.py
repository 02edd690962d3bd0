"""The git panel's header: branch, upstream, ahead/behind, the repository's state — one line at any width.

The status line never wraps: at a narrow width the least useful parts go first (the stash count, then
"(no upstream)"/"(no commits yet)", then the upstream's name), and the branch name is cut with an ellipsis; the
state (`clean`, `dirty (3)`, `conflicts 2`, `merging`) and ahead/behind stay whole as long as they fit at all.
A failed status call adds a second line saying why (that one may wrap: it is an error to read in full).

Sandbox text (branch and upstream names, git's messages) is made plain (`visible`), never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from services.git_parse import GitStatus
from services.text import safe_text


@dataclass(frozen=True)
class _Part:
    text: Text
    drop: int = 0  # 0: kept; higher numbers are dropped first when the line is too long


def plain(text: str, style: str = "") -> Text:
    return Text(safe_text(text), style=style)


def _parts(status: GitStatus, merging: bool) -> tuple[Text, list[_Part]]:
    """The branch (elidable) and the parts after it, in order."""
    if status.branch is None:
        branch = Text("HEAD detached", style="bold yellow")
        if status.oid:
            branch.append(f" at {status.oid[:8]}", style="yellow")
    else:
        branch = Text.assemble(("⎇ ", "grey62"), plain(status.branch, "bold"))
    parts: list[_Part] = []
    if status.initial:
        parts.append(_Part(Text(" (no commits yet)", style="grey62"), 3))
    if status.upstream:
        parts.append(_Part(Text.assemble((" → ", "grey62"), plain(status.upstream, "cyan")), 2))
        ab = Text()
        if status.ahead:
            ab.append(f" ↑{status.ahead}", style="green")
        if status.behind:
            ab.append(f" ↓{status.behind}", style="red")
        if ab:
            parts.append(_Part(ab))
    elif status.branch is not None and not status.initial:
        parts.append(_Part(Text(" (no upstream)", style="grey62"), 3))
    state = Text("  ")
    if merging:
        state.append("merging ", style="bold magenta")
    if status.conflicted:
        state.append(f"conflicts {len(status.conflicted)}", style="bold magenta")
    elif status.clean:
        state.append("clean", style="green")
    else:
        changed = len([e for e in status.entries if e.kind != "ignored"])
        state.append(f"dirty ({changed})", style="yellow")
    parts.append(_Part(state))
    if status.stash_count:
        parts.append(_Part(Text(f"  stash {status.stash_count}", style="grey62"), 4))
    return branch, parts


def status_line(status: GitStatus, width: int | None = None, *, merging: bool = False) -> Text:
    """The status as one line of at most `width` cells (None: as long as it takes)."""
    branch, parts = _parts(status, merging)
    if width is not None:
        width = max(1, width)
        for level in (4, 3, 2):
            if branch.cell_len + sum(p.text.cell_len for p in parts) <= width:
                break
            parts = [p for p in parts if p.drop != level]
        rest = sum(p.text.cell_len for p in parts)
        room = width - rest
        if branch.cell_len > room:
            # cut the branch name, keeping at least "⎇ x…"; what still does not fit is cut at the end below
            branch.truncate(max(room, 4), overflow="ellipsis")
    line = Text.assemble(branch, *(p.text for p in parts))
    line.no_wrap = True
    if width is not None and line.cell_len > width:
        line.truncate(width, overflow="ellipsis")
    return line


def header_text(
    status: GitStatus | None,
    *,
    not_repo: bool = False,
    failure: str | None = None,
    width: int | None = None,
    merging: bool = False,
    nested: Sequence[str] = (),
    repo_dir: str = "",
) -> Text:
    """The header; `failure` (the last status call's error, already one safe line) replaces the status when
    there is none yet and follows it otherwise (the status shown is then the last one read). `nested`: the
    repositories inside a workspace whose top folder is none; `repo_dir`: the one followed, when not the top."""
    if failure is not None:
        t = Text("git status failed: ", style="bold red")
        t.append_text(plain(failure))
        if status is not None:
            return Text.assemble(status_line(status, width, merging=merging), "\n", t)
        return t
    if not_repo or status is None:
        t = Text.assemble(("not a git repository", "bold yellow"), ("  i: init", "grey62"))
        if nested:
            found = f"{safe_text(nested[0])}/ is one" if len(nested) == 1 else f"{len(nested)} inside"
            t = Text.assemble(t, ("  ·  ", "grey62"), found, (": o opens it", "grey62"))
        if width is not None and t.cell_len > width:
            t.truncate(max(1, width), overflow="ellipsis")
        return t
    room = width if width is None or not repo_dir else max(1, width - len(repo_dir) - 4)
    line = status_line(status, room, merging=merging)
    if repo_dir:
        line = Text.assemble((f"{safe_text(repo_dir)}/", "bold"), " · ", line)
        line.no_wrap = True
        if width is not None and line.cell_len > width:
            line.truncate(width, overflow="ellipsis")
    return line


class GitHeader(Static):
    """The header widget: re-fits the line to its own width whenever it is drawn (so a resize re-fits it)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("loading…", style="grey62"), id=id)
        self._state: tuple[GitStatus | None, bool, str | None, bool] | None = None
        self._where: tuple[Sequence[str], str] = ((), "")  # (nested repositories, the followed repo_dir)

    def show(
        self,
        status: GitStatus | None,
        *,
        not_repo: bool = False,
        failure: str | None = None,
        merging: bool = False,
        nested: Sequence[str] | None = None,
        repo_dir: str | None = None,
    ) -> None:
        self._state = (status, not_repo, failure, merging)
        if nested is not None and repo_dir is not None:
            self._where = (tuple(nested), repo_dir)
        self.refresh(layout=True)

    def render(self) -> Text:
        if self._state is None:
            return Text("loading…", style="grey62")
        status, not_repo, failure, merging = self._state
        width = self.content_size.width or None
        nested, repo_dir = self._where
        return header_text(
            status, not_repo=not_repo, failure=failure, width=width, merging=merging, nested=nested, repo_dir=repo_dir
        )
