"""The conflict view: one conflicted file's hunks, each resolved with ours, theirs or both, then staged.

Opened from the git panel (enter or `m` on a file under Conflicts). The file is read through the service and its
conflict markers parsed (`services.git_conflicts`); each hunk shows ours (green) and theirs (blue) under its
labels, the selected one marked with `▌` in the gutter. Keys: `n`/`N` next/previous hunk, `o` ours, `t` theirs,
`b` both (ours first), `u` undo the hunk's choice, ctrl+s saves (hunks without a choice keep their markers),
`a` saves and stages (`git add` inside the sandbox: the file is resolved) once every hunk has a choice, escape
closes (asking first when choices are unsaved).

The write goes through the service (atomic, refused if the file changed since it was read: nothing is lost to a
concurrent edit). Everything shown comes from the sandbox and is made plain (`visible`), never markup.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from services.errors import FileNotFound, SandbenchError
from services.git import GitService
from services.git_conflicts import Choice, Chunk, ConflictHunk, hunks, parse_conflicts, resolve
from services.git_parse import decode, encode
from services.text import content, safe_text
from widgets.dialogs import ConfirmDialog
from widgets.footer import OwnFooter
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors, report, tell

OURS = Style(bgcolor="#16361c")
THEIRS = Style(bgcolor="#162f4d")
TAKEN = Style(bgcolor="#2a2f38")
MARK = Style(color="bright_cyan", bold=True)
LABEL = {"ours": "ours", "theirs": "theirs", "both": "both (ours, then theirs)"}


async def markers_left(git: GitService, path: str) -> int:
    """How many conflict hunks are still marked in `path` (0 when it cannot be read: git decides then)."""
    try:
        data = await git.service.read_file(git.sandbox_id, git.prefix + path)
    except SandbenchError:
        return 0
    return len(hunks(parse_conflicts(decode(data.data))))


class ConflictScreen(ReportWorkerErrors, OwnFooter, ModalScreen[None]):
    DEFAULT_CSS = """
    ConflictScreen { background: $background 70%; }
    ConflictScreen > Vertical { border: round $accent; background: $surface; }
    ConflictScreen #conflict-title { height: 1; padding: 0 1; }
    ConflictScreen #conflict-hint { height: 1; padding: 0 1; color: $text-muted; }
    ConflictScreen VerticalScroll { height: 1fr; }
    """
    BINDINGS = bindings(
        (
            Key("git.conflict.close", "escape,q", "close", "Close", "Back to the file list"),
            Key("git.conflict.next", "n,]", "move(1)", "Next", "Select the next conflict"),
            Key("git.conflict.prev", "N,[", "move(-1)", "Prev", "Select the previous conflict"),
            Key("git.conflict.ours", "o", "take('ours')", "Ours", "Keep our side of this conflict"),
            Key("git.conflict.theirs", "t", "take('theirs')", "Theirs", "Keep their side of it"),
            Key("git.conflict.both", "b", "take('both')", "Both", "Keep both sides, ours first"),
            Key("git.conflict.undo", "u", "take('')", "Undo", "Undo this conflict's choice"),
            Key("git.conflict.save", "ctrl+s", "save", "Save", "Write the file (undecided keep markers)"),
            Key("git.conflict.stage", "a", "stage", "Save+stage", "Write the file and mark it resolved"),
        )
    )

    def __init__(self, git: GitService, path: str, *, on_change: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.git = git
        self.path = path
        self.on_change = on_change
        self.chunks: list[Chunk] = []
        self.hunks: list[ConflictHunk] = []
        self.choices: dict[int, Choice] = {}
        self.current = 0
        self.loaded = False
        self.missing = False  # the file is gone on our side (a modify/delete conflict)
        self.saved = True  # the choices are in the file
        self._mtime: float | None = None
        self._offsets: list[int] = []  # the rendered line of each hunk, for scrolling

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="conflict-title")
            with VerticalScroll(id="conflict-scroll"):
                yield Static(Text("loading…", style="grey62"), id="conflict-body")
            yield Static(
                Text("n/N conflicts · o ours · t theirs · b both · u undo · a save+stage · esc close"),
                id="conflict-hint",
            )

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        self.load()

    @property
    def full_path(self) -> str:
        return self.git.prefix + self.path

    @work(exclusive=True, group="git-conflict-load", exit_on_error=False)
    async def load(self) -> None:
        try:
            data = await self.git.service.read_file(self.git.sandbox_id, self.full_path)
        except FileNotFound:
            self.missing = True
            self.chunks, self._mtime = [], None
        except SandbenchError as exc:
            report(self, exc)
            return
        else:
            self.chunks, self._mtime = parse_conflicts(decode(data.data)), data.mtime
        self.hunks = hunks(self.chunks)
        self.choices.clear()
        self.current = 0
        self.loaded = True
        self._paint()

    # -- showing -------------------------------------------------------------------------------------------
    def _title(self) -> Text:
        t = Text.assemble(("conflicts: ", "bold"), Text(safe_text(self.path)))
        if self.hunks:
            t.append(f"  {len(self.choices)}/{len(self.hunks)} decided", style="green" if self.done else "yellow")
            t.append(f"  · conflict {self.current + 1}", style="grey62")
        if not self.saved:
            t.append("  · unsaved", style="bold yellow")
        return t

    @property
    def done(self) -> bool:
        return len(self.choices) == len(self.hunks)

    def _paint(self) -> None:
        body = Text(no_wrap=True)
        self._offsets = []
        lines = 0

        def line(text: str, style: Style | str = "", mark: bool = False) -> None:
            nonlocal lines
            body.append("▌" if mark else " ", style=MARK if mark else "")
            body.append(content(text.rstrip("\r\n"), tabs=4) or " ", style=style)
            body.append("\n")
            lines += 1

        if self.missing:
            line("this file is deleted on one side of the merge: a stages that deletion (git add), esc leaves it")
        elif self.loaded and not self.hunks:
            line("no conflict markers left in this file: a stages it as it is (marks it resolved)")
        k = 0
        for chunk in self.chunks:
            if not isinstance(chunk, ConflictHunk):
                line(chunk, "grey62")
                continue
            here = k == self.current
            self._offsets.append(lines)
            choice = self.choices.get(k)
            head = f"conflict {k + 1}/{len(self.hunks)} (line {chunk.line})"
            head += f": taking {LABEL[choice]}  (u undo)" if choice else ": o ours · t theirs · b both"
            line(head, Style(bold=True, color="black", bgcolor="cyan" if here else "grey62"), here)
            if choice:
                for ln in chunk.take(choice):
                    line(ln, TAKEN, here)
            else:
                line(f"ours: {chunk.ours_label or 'HEAD'}", Style(bold=True, color="green"), here)
                for ln in chunk.ours:
                    line(ln, OURS, here)
                if chunk.base is not None:
                    line("base", Style(bold=True, color="grey62"), here)
                    for ln in chunk.base:
                        line(ln, "grey50", here)
                line(f"theirs: {chunk.theirs_label or 'other'}", Style(bold=True, color="blue"), here)
                for ln in chunk.theirs:
                    line(ln, THEIRS, here)
            k += 1
        body.rstrip()
        self.query_one("#conflict-body", Static).update(body)
        self.query_one("#conflict-title", Static).update(self._title())
        self.refresh_bindings()

    def _scroll_to_current(self) -> None:
        if 0 <= self.current < len(self._offsets):
            self.query_one(VerticalScroll).scroll_to(y=max(0, self._offsets[self.current] - 1), animate=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("move", "take") and not self.hunks:
            return False
        if action == "save" and not self.hunks:
            return False
        if action == "stage" and not self.loaded:
            return False
        return True

    # -- actions -------------------------------------------------------------------------------------------
    def action_move(self, delta: int) -> None:
        if self.hunks:
            self.current = max(0, min(len(self.hunks) - 1, self.current + delta))
            self._paint()
            self._scroll_to_current()

    def action_take(self, choice: str) -> None:
        if not self.hunks:
            return
        if choice in ("ours", "theirs", "both"):
            self.choices[self.current] = choice  # type: ignore[assignment]
        else:
            self.choices.pop(self.current, None)
        self.saved = False
        # on to the next undecided hunk, as lazygit does: resolving a file is a run of o/t/b presses
        if choice:
            undecided = [i for i in range(len(self.hunks)) if i not in self.choices]
            later = [i for i in undecided if i > self.current]
            if later or undecided:
                self.current = (later or undecided)[0]
        self._paint()
        self._scroll_to_current()

    async def _write(self) -> bool:
        if self.missing or not self.hunks:
            return True
        data = encode(resolve(self.chunks, self.choices))
        try:
            entry = await self.git.service.write_file(
                self.git.sandbox_id, self.full_path, data, expected_mtime=self._mtime
            )
        except SandbenchError as exc:
            report(self, exc)
            return False
        self._mtime = entry.mtime
        self.saved = True
        self._paint()
        return True

    @work(exclusive=True, group="git-conflict-op", exit_on_error=False)
    async def action_save(self) -> None:
        if await self._write():
            left = len(self.hunks) - len(self.choices)
            tell(
                self,
                f"saved; {left} conflicts left" if left else "saved: stage it (a) to mark it resolved",
                title="Git",
            )
            if self.on_change:
                self.on_change()

    @work(exclusive=True, group="git-conflict-op", exit_on_error=False)
    async def action_stage(self) -> None:
        if self.hunks and not self.done:
            left = len(self.hunks) - len(self.choices)
            tell(self, f"{left} conflicts still undecided: o, t or b on each first", title="Git", severity="warning")
            return
        if not await self._write():
            return
        try:
            await self.git.stage(self.path)
        except SandbenchError as exc:
            report(self, exc)
            return
        tell(self, f"{safe_text(self.path)}: resolved and staged", title="Git")
        if self.on_change:
            self.on_change()
        self.dismiss(None)

    @work(exclusive=True, group="git-conflict-op", exit_on_error=False)
    async def action_close(self) -> None:
        if not self.saved:
            ok = await self.app.push_screen_wait(
                ConfirmDialog("Unsaved choices", "Leave without writing your choices to the file?", danger=True)
            )
            if not ok:
                return
        self.dismiss(None)
