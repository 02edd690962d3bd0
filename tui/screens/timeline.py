"""The Timeline of a sandbox (issue 13 §2, DESIGN §8 "The audit log is the timeline"): every operation on it —
by you at the app or the CLI, or by an agent through `sandbench serve` — newest first, live.

`services.timeline` reads and follows the audit log; `widgets.timeline_list.TimelineList` draws the rows. This
screen adds the filter (`/`: `who:NAME`, `kind:KIND` and words, as you type), the toggle for reads and the app's
own probes (`i`), an entry's details (enter: a command's exit code, its output — bounded, plain text — and the
files it changed with their diffs, from the automatic checkpoints around it) and restoring the workspace to the
state before an entry (`r`: the confirmation says what changes and that it can be undone; `u` undoes it).

Opened from the workspace (`workspace.timeline`, and the palette's "Timeline") and from the sandbox list
(`list.timeline`, `t`, on the selected sandbox). Workers never touch widgets: results come back as messages.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from services.checkpoints.changes import Change
from services.errors import SandbenchError
from services.sandbox_service import SandboxService
from services.text import safe_text
from services.timeline import MAX_ENTRIES, Entry, Page, TimelineReader, git_summary, open_timeline
from services.timeline_view import Filter, checkpoint_before, diff_files, output_text, undone_too
from tui.keymap import FOCUS_KEYS
from tui.screens.view_switch import ViewSwitch, view_keys
from widgets.clock import app_now
from widgets.dialogs import ConfirmDialog
from widgets.diff_view import DiffView
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors, tell
from widgets.timeline_list import TimelineList, duration, outcome

TIMELINE_KEYS: tuple[Key, ...] = (
    Key("timeline.close", "escape", "close", "Back", "Close the details (or the filter), else leave the Timeline"),
    Key(
        "timeline.filter",
        "slash",
        "focus_filter",
        "Filter",
        "Filter as you type: who:NAME, kind:exec|file|git|lifecycle|checkpoint|terminal, and words",
    ),
    Key(
        "timeline.expand",
        "enter",
        "expand",
        "Details",
        "The entry's details: a command's exit code, its output and the files it changed, with their diffs",
    ),
    Key(
        "timeline.restore",
        "r",
        "restore",
        "Restore before",
        "Restore the workspace to its state before this entry (says what changes and asks first; undoable)",
    ),
    Key("timeline.undo", "u", "undo", "Undo restore", "Undo the last restore made here", show=False),
    Key("timeline.internal", "i", "toggle_internal", "Probes", "Show or hide reads and the app's own probes"),
)
DETAIL_FILES = 200  # files of one command's changes shown with diffs
LIST_NAMES = 6  # paths named in the restore confirmation
LIST_ACTIONS = 3  # earlier actions a restore also undoes, named in its confirmation
WORKING_OUT = "Working out what the restore changes…"  # the confirmation's message until it has its list


class Loaded(Message):
    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page


class Appended(Message):
    def __init__(self, entries: list[Entry]) -> None:
        super().__init__()
        self.entries = entries


class Details(Message):
    def __init__(self, entry: Entry, head: Text, output: str | None, files: list[Any], note: str) -> None:
        super().__init__()
        self.entry, self.head, self.output, self.files, self.note = entry, head, output, files, note


class Restored(Message):
    def __init__(self, text: str, undo: str | None) -> None:
        super().__init__()
        self.text, self.undo = text, undo


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _change_line(ch: Change) -> str:
    # the restore undoes each change made since the checkpoint
    verb = {"added": "removed", "deleted": "put back", "modified": "restored", "mode-changed": "mode restored"}
    return f"{safe_text(ch.path)} ({verb.get(ch.status, ch.status)})"


class TimelineScreen(ViewSwitch, ReportWorkerErrors, Screen[None], inherit_bindings=False):
    BINDINGS = bindings(TIMELINE_KEYS + view_keys("timeline", "Timeline", skip=("timeline",)) + FOCUS_KEYS)
    HELP_TITLE = "Timeline"
    AUTO_FOCUS = "#timeline-list"
    DEFAULT_CSS = """
    TimelineScreen #timeline-title { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    TimelineScreen #timeline-filter { height: 1; border: none; padding: 0 1; background: $surface-lighten-1; }
    TimelineScreen #timeline-filter:focus { border: none; background: $surface-lighten-2; }
    TimelineScreen #timeline-detail { height: 60%; display: none; border-top: solid $primary; }
    TimelineScreen.-expanded #timeline-detail { display: block; }
    TimelineScreen #detail-head { height: auto; max-height: 4; padding: 0 1; }
    TimelineScreen #detail-output-scroll { height: auto; max-height: 7; padding: 0 1; background: $background; }
    TimelineScreen #detail-files { height: 1; padding: 0 1; color: $text-muted; }
    TimelineScreen #detail-diff { height: 1fr; }
    TimelineScreen #timeline-status { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(
        self,
        service: SandboxService,
        sandbox_id: str,
        name: str,
        *,
        now: Callable[[], float] | None = None,
        interval: float = 0.25,
    ) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.sandbox_name = name
        self._now = now or self._app_now
        self._interval = interval
        self.reader: TimelineReader | None = None
        self.page: Page | None = None
        self.internal = False
        self.undo_id: str | None = None
        self.status_text = ""  # the status line when the filter is not being typed: the last restore
        self.detail_entry: Entry | None = None

    def _app_now(self) -> float:
        """The app's clock (fixed in snapshot tests), for "today or earlier" in the time column."""
        return app_now(self.app).timestamp()

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="timeline-title")
        yield Input(placeholder="/ filter: who:NAME kind:exec words…", id="timeline-filter")
        yield TimelineList(self.service.identity, now=self._now, id="timeline-list")
        with Vertical(id="timeline-detail"):
            yield Static(id="detail-head")
            with VerticalScroll(id="detail-output-scroll"):
                yield Static(id="detail-output")
            yield Static(id="detail-files")
            yield DiffView(id="detail-diff", highlight=True)
        yield Static(id="timeline-status")
        yield Footer()

    @property
    def timeline(self) -> TimelineList:
        return self.query_one(TimelineList)

    def _title(self) -> Text:
        title = Text(f"Timeline · {safe_text(self.sandbox_name)}")
        if self.page is not None and self.timeline.new_above:
            # new entries went in above a scrolled view: say so first, or they pass unseen (home shows them)
            title.append(f" · ↑ {self.timeline.new_above} new above (home)", style="bold yellow")
        if self.page is not None:
            total, shown = len(self.timeline.all), len(self.timeline.rows)
            title.append(f" · {total} entries" if shown == total else f" · {shown} of {total} entries", style="dim")
            older = self.page.older + self.timeline.dropped + (self.reader.skipped if self.reader else 0)
            if older:
                more = "more than " if self.page.older_capped else ""
                title.append(f", {more}{older} older not shown", style="dim")
            if self.page.garbage:
                title.append(f", {self.page.garbage} unreadable lines skipped", style="dim")
            title.append(" · live", style="green")
        if not self.internal:
            title.append(" · probes hidden (i)", style="dim")
        return title

    # -- loading and following ---------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._load()

    @work(group="timeline-load", exit_on_error=False)
    async def _load(self) -> None:
        reader = await open_timeline(self.service, self.sandbox_id)
        self.reader = reader
        page = await asyncio.to_thread(reader.load)
        self.post_message(Loaded(page))
        async for batch in reader.follow(self._interval):
            self.post_message(Appended(batch))

    def on_loaded(self, message: Loaded) -> None:
        self.page = message.page
        self.timeline.set_entries(message.page.entries)
        self._apply_filter()
        self._refresh_title()

    def on_appended(self, message: Appended) -> None:
        self.timeline.prepend(message.entries, cap=MAX_ENTRIES)
        self._refresh_title()

    def on_timeline_list_new_above(self, _message: TimelineList.NewAbove) -> None:
        self._refresh_title()

    def _refresh_title(self) -> None:
        self.query_one("#timeline-title", Static).update(self._title())

    # -- filter ------------------------------------------------------------------------------------------------
    def _apply_filter(self) -> None:
        text = self.query_one("#timeline-filter", Input).value
        # "who:you" is the person at the app, as the rows show them
        text = re.sub(r"(?i)\bwho:you\b", lambda _m: f"who:{self.service.identity}", text)
        self.timeline.set_filter(Filter.parse(text, internal=self.internal))

    @on(Input.Changed, "#timeline-filter")
    def _filter_changed(self) -> None:
        self._apply_filter()
        self._refresh_title()

    FILTER_HINT = "filtering: who:NAME kind:exec|file|git|lifecycle|checkpoint|terminal words · enter: to the list"

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if event.widget.id == "timeline-filter":
            self.query_one("#timeline-status", Static).update(Text(self.FILTER_HINT))

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        if event.widget.id == "timeline-filter":
            self.query_one("#timeline-status", Static).update(Text(self.status_text))

    @on(Input.Submitted, "#timeline-filter")
    def _filter_done(self) -> None:
        self.timeline.focus()

    def action_focus_filter(self) -> None:
        self.query_one("#timeline-filter", Input).focus()

    def action_toggle_internal(self) -> None:
        self.internal = not self.internal
        self._apply_filter()
        self._refresh_title()

    def action_close(self) -> None:
        if self.focused is self.query_one("#timeline-filter", Input):
            self.timeline.focus()
        elif self.has_class("-expanded"):
            self.remove_class("-expanded")
            self.detail_entry = None
            self.timeline.focus()
        else:
            self.dismiss(None)

    # -- details -----------------------------------------------------------------------------------------------
    def action_expand(self) -> None:
        entry = self.timeline.current
        if entry is None:
            return
        if self.has_class("-expanded") and self.detail_entry is not None and self.detail_entry.key == entry.key:
            self.action_close()
            return
        self.detail_entry = entry
        self.query_one("#detail-head", Static).update(Text(f"{entry.what}  …"))
        self.query_one("#detail-output", Static).update("")
        self.query_one("#detail-files", Static).update("")
        self.query_one(DiffView).set_diff(())
        self.query_one(DiffView).display = False  # until the details say which files changed
        self.add_class("-expanded")
        self._details(entry)

    def on_timeline_list_highlighted(self, message: TimelineList.Highlighted) -> None:
        # the details follow the cursor while they are open
        entry = message.entry
        if entry is not None and self.has_class("-expanded") and self.detail_entry is not None:
            if entry.key != self.detail_entry.key:
                self.detail_entry = entry
                self._details(entry)

    @work(group="timeline-details", exclusive=True, exit_on_error=False)
    async def _details(self, entry: Entry) -> None:
        head = Text()
        head.append(entry.what, style="bold")
        head.append("\n")
        who = "you" if entry.who == self.service.identity else entry.who
        if entry.acting_for is not None and entry.acting_for != entry.who:
            # an agent's serve token acting for an owner: its own name, and whose rights it used
            who += " for " + ("you" if entry.acting_for == self.service.identity else entry.acting_for)
        out_text, _ = outcome(entry, full=True)
        facts = [_stamp(entry.ts), f"by {who}", entry.op, out_text]
        if entry.exit is not None and not out_text.startswith("exit "):  # "exit 1" says it already
            facts.append(f"exit code {entry.exit}")
        if entry.ms is not None:
            facts.append(duration(entry.ms))
        head.append(" · ".join(facts), style="dim")
        if entry.kind == "git" and entry.argv and git_summary(entry.argv) != entry.argv:
            # the row shows the subcommand; the whole command line as it ran is one look away
            head.append(f"\nas run: {shlex.join(entry.argv)}", style="dim")
        if entry.before or entry.after:
            head.append(f"\ncheckpoints: before {entry.before or '—'} → after {entry.after or '—'}", style="dim")
        output: str | None = None
        note = ""
        files: list[Any] = []
        if entry.output:
            read = getattr(self.service, "exec_output", None)
            if callable(read):
                try:
                    output = output_text(await read(self.sandbox_id, entry.output))
                except SandbenchError as exc:
                    output = f"(output not available: {safe_text(str(exc))})"
        elif entry.kind in ("exec", "git"):
            output = "(no output kept for this command)"
        if entry.kind in ("exec", "git"):
            if entry.before and entry.after and entry.before != entry.after:
                try:
                    _, changes = await self.service.checkpoints.diff_between(self.sandbox_id, entry.before, entry.after)
                except SandbenchError as exc:  # a checkpoint no longer kept (retention), a store refusal
                    note = f"files it changed: not available ({safe_text(str(exc))})"
                else:
                    files = diff_files(changes[:DETAIL_FILES])
                    note = f"files it changed: {len(changes)}" + (
                        f" (first {DETAIL_FILES} shown)" if len(changes) > DETAIL_FILES else ""
                    )
            elif entry.before or entry.after:
                note = "files it changed: none"
            else:
                note = "files it changed: unknown (no automatic checkpoints around this command)"
        self.post_message(Details(entry, head, output, files, note))

    def on_details(self, message: Details) -> None:
        if self.detail_entry is None or message.entry.key != self.detail_entry.key:
            return  # the cursor moved on meanwhile
        self.query_one("#detail-head", Static).update(message.head)
        scroll = self.query_one("#detail-output-scroll")
        scroll.display = message.output is not None
        self.query_one("#detail-output", Static).update(Text(message.output or ""))
        self.query_one("#detail-files", Static).update(Text(message.note))
        diff = self.query_one(DiffView)
        diff.set_diff(message.files)
        # only files have diffs: an empty diff would say "no changes" under "files it changed: unknown"
        diff.display = bool(message.files)

    # -- restore -----------------------------------------------------------------------------------------------
    def _read_only(self) -> bool:
        """Another owner's sandbox, seen read-only (`show_others`): its Timeline is shown, restoring is theirs."""
        info = self.service.cached(self.sandbox_id)
        if info is not None and not self.service.owns(info):
            tell(self, "read-only: this sandbox is not yours, so restoring it is its owner's to do", severity="warning")
            return True
        return False

    def action_restore(self) -> None:
        entry = self.timeline.current
        if entry is not None and not self._read_only():
            self._restore(entry)

    def action_undo(self) -> None:
        if self._read_only():
            return
        if self.undo_id is None:
            tell(self, "nothing to undo: no restore made here yet")
            return
        self._restore_to(self.undo_id, f"checkpoint {self.undo_id} (before the last restore)")

    def _restore(self, entry: Entry) -> None:
        async def target() -> tuple[str, str] | None:
            cps, _ = await self.service.checkpoints.list_checkpoints(self.sandbox_id)
            found = checkpoint_before(entry, cps)
            if found is None:
                tell(
                    self,
                    "no checkpoint of the state before this entry (checkpoints began after it)",
                    severity="warning",
                )
                return None
            label = f"before “{entry.what}”: checkpoint {found.id}, taken {_stamp(found.created_at)}"
            later = undone_too(entry, found, self.timeline.all)
            if later:
                # the nearest checkpoint is older than the entry: say what else going back to it undoes
                named = "; ".join(f"{self._who(e)} {e.what} ({_stamp(e.ts)[11:]})" for e in later[:LIST_ACTIONS])
                more = f"; and {len(later) - LIST_ACTIONS} more" if len(later) > LIST_ACTIONS else ""
                n = len(later)
                label += f" — also before {n} later action{'s' if n != 1 else ''}, undone too: {named}{more}"
            return found.id, label

        self._confirm_and_restore(target)

    def _who(self, entry: Entry) -> str:
        return "you" if entry.who == self.service.identity else entry.who

    def _restore_to(self, ref: str, label: str) -> None:
        async def target() -> tuple[str, str]:
            return ref, label

        self._confirm_and_restore(target)

    def _confirm_and_restore(self, target: Callable[[], Awaitable[tuple[str, str] | None]]) -> None:
        """Ask, then restore to the checkpoint `target()` names. The dialog opens at once and works out what the
        restore changes itself (`ConfirmDialog(load=)`): a `y` typed fast behind `r` or `u` answers it, where it
        reached the Timeline while the changes were listed before the dialog was pushed. No toast is over its
        buttons: it holds them until it closes (widgets/toast_hold.py)."""
        chosen: list[str] = []

        async def question() -> str | None:
            found = await target()
            if found is None:
                return None
            ref, label = found
            cs = await self.service.checkpoints.changes(self.sandbox_id, since=ref)
            changes = [c for c in cs.changes if not (c.kind == "dir" and c.old_kind in (None, "dir"))] or cs.changes
            if not changes:
                tell(self, f"the workspace already matches the state {label}: nothing to restore")
                return None
            chosen.append(ref)
            named = ", ".join(_change_line(c) for c in changes[:LIST_NAMES])
            more = f", and {len(changes) - LIST_NAMES} more" if len(changes) > LIST_NAMES else ""
            return (
                f"Restore the workspace to its state {label}.\n\n"
                f"{len(changes)} path{'s' if len(changes) != 1 else ''} change: {named}{more}.\n\n"
                "A checkpoint of the current state is taken first, so this can be undone (u). Running programs keep "
                "running and see their files change."
            )

        def answer(yes: object) -> None:
            if yes and chosen:
                self._run_restore(chosen[-1])

        dialog = ConfirmDialog("Restore?", WORKING_OUT, confirm="Restore", danger=True, load=question)
        self.app.push_screen(dialog, answer)

    @work(group="timeline-restore", exclusive=True, exit_on_error=False)
    async def _run_restore(self, ref: str) -> None:
        result = await self.service.checkpoints.restore(self.sandbox_id, ref)
        text = (
            f"restored to {result.target.id} · undo: u (checkpoint {result.before.id}) · "
            f"{result.written} written, {result.deleted} deleted"
        )
        self.post_message(Restored(text, result.before.id))

    def on_restored(self, message: Restored) -> None:
        self.undo_id = message.undo
        self.status_text = message.text
        self.query_one("#timeline-status", Static).update(Text(message.text))
        tell(self, f"{message.text.split(' · ')[0]}; u undoes it", title="Restored", timeout=4)


def open_timeline_screen(app: Any, service: SandboxService, sandbox_id: str, name: str) -> None:
    """Show the Timeline of a sandbox over the current screen (escape comes back)."""
    app.push_screen(TimelineScreen(service, sandbox_id, name))
