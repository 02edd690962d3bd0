"""The git panel: a lazygit-style, keyboard-driven view of one sandbox repository (DESIGN §4, issue 5).

The panel shows a header (branch, upstream, ahead/behind, clean/dirty) and the changed files in four lists with
counts (conflicts, staged, unstaged, untracked). Keys, all `Binding`s with an id, a description and a tooltip (the
app builds its palette and help from them): space stages/unstages, `a` stages all, enter opens the diff (hunk
navigation and hunk staging), `d` discards (confirmed), `c` commits, `A` amends, `p`/`P` pull/push, `f` fetches,
`b` branches, `l` log, `s` the stash list (apply, pop, drop, new), `S` stashes now, `i` initialises a repository,
`o` follows a repository inside a workspace whose top folder is none (`git clone` made it; widgets/git/nested.py).

Refreshing follows file changes instead of a timer: the workspace screen calls `follow_changes()`, which runs a
coalesced `WorkspaceWatcher` (inotify for local sandboxes, listings of a few folders otherwise) and re-reads the
status once per batch; saves in the editor arrive through `notice_saved()`; the panel also refreshes after its own
operations. Each refresh is one `git status`, and the panel posts `GitPanel.StatusChanged(status)` so the screen
can give the same result to the explorer (markers) and the status bar (branch).

Diffs open from memory: while the file list has focus, the diff of the file the cursor rests on is fetched in the
background (one exclusive worker; a move cancels it) and cached by (path, section, status generation), so enter
paints at once; a new status generation drops the cache.

Every operation runs in a worker and goes through `services.git.GitService` (git inside the sandbox); its errors
go to the app's one error route (`widgets.messages`), and a failed status call is also shown in the header, so the
pane never sits at `loading…` (nor shows a stale status as current) when git cannot run. Sandbox text
(file names, branch names, commit messages, git's own messages) is rendered as `rich.text.Text` with control
characters made visible — never as markup.

Size: one class whose key table, status refresh, change following and operation workers share the panel's state
(the status, the diff cache, the operation lock); its screens, dialogs and lists are modules of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from services.errors import SandbenchError
from services.git import GitService
from services.git_errors import MissingIdentity, NotARepository, NoUpstream
from services.git_parse import DiffFile, GitStatus
from services.git_remote import CACHE_DIR
from services.sandbox_service import SandboxService
from services.text import safe_text
from services.watch import ChangeBatch, Mode, WatchHub
from widgets.dialogs import ConfirmDialog, InputDialog
from widgets.git import nested
from widgets.git.branches import BranchScreen
from widgets.git.conflicts import ConflictScreen, markers_left
from widgets.git.dialogs import CommitDialog, SecretDialog
from widgets.git.diff_screen import GitDiffScreen
from widgets.git.header import GitHeader
from widgets.git.identity import IdentityDialog
from widgets.git.log import LogScreen
from widgets.git.recent import RECENT, RecentCommits
from widgets.git.stash import StashScreen
from widgets.git.status_list import Row, StatusList, plain, status_rows
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors, describe, report, tell

# -- the panel -------------------------------------------------------------------------------------------------
DiffKey = tuple[str, str, int]  # (path, section, status generation)
DIFF_CACHE = 8  # diffs kept per generation; the cursor's file and a few it passed
PREFETCH_DELAY = 0.06  # seconds the cursor must rest on a file before its diff is fetched
POLL_CHANGED_DIRS = 64  # changed files whose folders are polled when the provider cannot be watched natively
NESTED_RECHECK = 10.0  # seconds before repositories inside are looked for again (a listing and a stat per folder)
_NOISE_SUFFIXES = (".lock",)  # git's lock files come and go around every write; the write itself is reported


def batch_matters(batch: ChangeBatch, prefix: str) -> bool:
    """Whether a change batch can change `git status` of the repository at `prefix` ('' or 'dir/'): any path in
    the worktree or directly in `.git` (index, HEAD, MERGE_HEAD...), but not lock files or object writes alone."""
    for p in batch.paths | batch.dirs:
        if p.startswith(CACHE_DIR + "/"):
            continue  # our own helper files (askpass exchange, credentials) while a push runs
        if prefix and not (p.startswith(prefix) or p == prefix.rstrip("/")):
            continue
        rel = p[len(prefix) :] if prefix and p.startswith(prefix) else p
        if rel.endswith(_NOISE_SUFFIXES) or rel.startswith((".git/objects/", ".git/logs/")):
            continue
        return True
    return False


def _consume_error(task: asyncio.Task[list[DiffFile]]) -> None:
    """A prefetch that failed and was never opened must not log 'exception was never retrieved'; whoever opens
    the diff gets the error (or retries)."""
    if not task.cancelled():
        task.exception()


class GitPanel(ReportWorkerErrors, Vertical):
    """The git pane of the workspace screen. `GitPanel(service, sandbox_id, id="git")`."""

    DEFAULT_CSS = """
    GitPanel { height: 1fr; }
    GitPanel #git-header { height: auto; padding: 0 1; background: $panel; }
    GitPanel #git-progress { height: 1; padding: 0 1; color: $text-muted; display: none; }
    GitPanel #git-progress.busy { display: block; }
    """

    BINDINGS = bindings(
        (
            Key("git.toggle_stage", "space", "toggle_stage", "Stage/unstage", "Stage or unstage the file"),
            Key("git.stage_all", "a", "stage_all", "Stage all", "Stage every change (unstage all if none)"),
            Key("git.diff", "enter", "diff", "Diff", "Show the file's diff; stage hunks there"),
            Key("git.discard", "d", "discard", "Discard", "Throw away the file's changes (asks first)"),
            Key("git.commit", "c", "commit", "Commit", "Commit the staged changes"),
            Key("git.amend", "A", "amend", "Amend", "Amend the last commit (staged changes and message)"),
            Key("git.pull", "p", "pull", "Pull", "Pull from the upstream branch"),
            Key("git.push", "P", "push", "Push", "Push to the upstream branch"),
            Key("git.fetch", "f", "fetch", "Fetch", "Fetch from the remote"),
            Key("git.branches", "b", "branches", "Branches", "List, create, switch and delete branches"),
            Key("git.log", "l", "log", "Log", "Show the commit log"),
            Key("git.stashes", "s", "stashes", "Stashes", "Stash list: apply, pop, drop, new stash"),
            Key("git.stash", "S", "stash", "Stash now", "Stash all changes (untracked too)"),
            Key("git.refresh", "r", "refresh", "Refresh", "Re-read the repository status", show=False),
            Key("git.init", "i", "init", "Init repo", "Make this folder a git repository"),
            Key(
                "git.open_nested",
                "o",
                "open_nested",
                "Open repo",
                "Open a repository inside the workspace (a folder `git clone` made)",
            ),
            Key("git.resolve", "m", "resolve", "Resolve", "Resolve the conflicted file: ours/theirs/both"),
            Key("git.abort_merge", "M", "abort_merge", "Abort merge", "git merge --abort (asks first)"),
        )
    )

    class StatusChanged(Message):
        """One status call's result, for the explorer (markers, ignored paths) and the status bar (branch).
        `status` is None when the folder is not a repository (markers cleared)."""

        def __init__(self, status: GitStatus | None) -> None:
            super().__init__()
            self.status = status

        @property
        def markers(self) -> dict[str, str]:
            return dict(self.status.markers) if self.status else {}

        @property
        def ignored(self) -> frozenset[str]:
            """Ignored paths (sandbox-root relative; a folder stands for everything beneath it)."""
            return self.status.ignored_paths if self.status else frozenset()

        @property
        def branch(self) -> str | None:
            if self.status is None:
                return None
            return self.status.branch or (f"({self.status.oid[:8]})" if self.status.oid else None)

    class _Progress(Message):
        def __init__(self, text: str | None) -> None:
            super().__init__()
            self.text = text

    def __init__(
        self,
        service: SandboxService,
        sandbox_id: str,
        *,
        repo_dir: str = "",
        git: GitService | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.git = git or GitService(service, sandbox_id, repo_dir=repo_dir)
        if self.git.ask is None:
            self.git.ask = self._ask
        self.status: GitStatus | None = None
        self.not_repo = False
        self.nested: list[str] = []  # top-level folders that are repositories, while the workspace root is none
        self.followed = ""  # the one of them `o` made the panel follow (named in the header)
        self._nested_at = -NESTED_RECHECK  # when they were last looked for (monotonic)
        self.failure: str | None = None  # the last status call's error, shown in the header until one succeeds
        self.refreshes = 0  # also the status generation the diff cache is keyed by
        self.batches_seen = 0  # change batches received while following the workspace (tests read it)
        self.following: str | None = None  # the watcher's mode ("native" or "poll") while following changes
        self._unfollow: Callable[[], None] | None = None
        self._want = 0
        self._refresh_lock = asyncio.Lock()
        self._op_lock = asyncio.Lock()
        self._diffs: dict[DiffKey, asyncio.Task[list[DiffFile]]] = {}
        self.merging = False  # a merge is in progress (MERGE_HEAD): commit or abort it from here
        self.draft = ""  # a commit message whose commit failed: offered again, so nothing typed is lost

    def compose(self) -> ComposeResult:
        yield GitHeader(id="git-header")
        yield StatusList(id="git-files")
        yield RecentCommits(id="git-recent")
        yield Static("", id="git-progress")

    def on_resize(self) -> None:
        # a short pane keeps its rows for the file list: recent commits take what is left over
        self.query_one(RecentCommits).set_rows(min(RECENT, max(0, (self.size.height - 8) // 2)))

    def on_mount(self) -> None:
        self.request_refresh()

    @property
    def files(self) -> StatusList:
        return self.query_one(StatusList)

    # -- status ------------------------------------------------------------------------------------------------
    async def refresh_status(self) -> GitStatus | None:
        """Re-read the status (one `git status`), update the panel, post `StatusChanged`. Concurrent calls
        coalesce: callers that arrive while one runs share the next run."""
        self._want += 1
        async with self._refresh_lock:
            if self._want == 0:
                return self.status
            self._want = 0
            try:
                status = await self.git.status(ignored=True)  # the explorer mutes ignored entries
                merging = await self.git.merging()
            except NotARepository:
                if not self.git.repo_dir and time.monotonic() - self._nested_at >= NESTED_RECHECK:
                    self._nested_at = time.monotonic()
                    self.nested = await nested.find(self.git.service, self.git.sandbox_id)
                self._show(None, not_repo=True)
                return None
            except Exception as exc:
                # Any failure, typed or not, is shown in the pane (never `loading…` forever) and goes to the one
                # error route; caught here, not left to the worker, so that following changes goes on.
                self.failure = describe(exc)
                self.query_one(GitHeader).show(self.status, failure=self.failure, merging=self.merging)
                report(self, exc, "git status")
                return self.status
            self._show(status, merging=merging)
            return status

    def _show(self, status: GitStatus | None, *, not_repo: bool = False, merging: bool = False) -> None:
        self.status = status
        self.failure = None
        self.not_repo = not_repo
        self.merging = merging
        self.refreshes += 1
        self._drop_diffs(keep=None)  # a new generation: every cached diff may be stale now
        self.query_one(GitHeader).show(
            status, not_repo=not_repo, merging=merging, nested=self.nested, repo_dir=self.followed
        )
        self.files.set_rows(status_rows(status) if status else [])
        recent = self.query_one(RecentCommits)
        head = status.oid if status else None
        if head != recent.head or (head is None and recent.commits):
            self._load_recent(head)
        self.refresh_bindings()
        self.post_message(self.StatusChanged(status))

    @work(exclusive=True, group="git-recent", exit_on_error=False)
    async def _load_recent(self, head: str | None) -> None:
        commits = await self.git.log(limit=RECENT) if head is not None else []
        self.query_one(RecentCommits).show(commits, head)

    @work(group="git-refresh", exit_on_error=False)
    async def request_refresh(self) -> None:
        await self.refresh_status()

    # -- following file changes ---------------------------------------------------------------------------------
    def follow_changes(
        self,
        *,
        extra_dirs: Callable[[], Iterable[str]] | None = None,
        mode: Mode = "auto",
        hub: WatchHub | None = None,
    ) -> None:
        """Refresh on the workspace's coalesced change batches (`services.watch`) — terminal, editor or git itself
        writing — instead of on a timer. One status call per batch; batches that arrive while it runs share the
        next call (`refresh_status` coalesces), so a `git checkout` of thousands of files costs one or two.

        `hub`: the workspace's shared watcher (the explorer hears the same batches); without it the panel runs a
        watcher of its own. `extra_dirs`: folders worth polling when the provider has no host folder to watch
        (a shared hub already polls its other subscribers'); the repository root, its `.git` and the folders of
        changed files are polled anyway."""
        self._stop_following()
        own = hub is None
        hub = hub or WatchHub(self.git.service, self.git.sandbox_id, mode=mode)
        self._unfollow = hub.subscribe(self._on_batch, dirs=lambda: self._poll_dirs(extra_dirs))
        self.following = hub.mode
        if own:
            self.run_worker(
                self._run_own(hub), group="git-follow", exclusive=True, exit_on_error=False, name="git follow"
            )

    async def _run_own(self, hub: WatchHub) -> None:
        try:
            await hub.run()
        finally:
            self._stop_following()

    def _stop_following(self) -> None:
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None
        self.following = None

    def on_unmount(self) -> None:
        self._stop_following()

    def _on_batch(self, batch: ChangeBatch) -> None:
        self.batches_seen += 1
        if batch_matters(batch, self.git.prefix):
            self.request_refresh()

    def _poll_dirs(self, extra: Callable[[], Iterable[str]] | None) -> list[str]:
        repo = self.git.repo_dir
        out = [repo, f"{self.git.prefix}.git"]
        if self.status is not None:
            # where the changes are: an edit there shows as a new mtime or size in the listing
            out += [self.git.prefix + e.path.rpartition("/")[0] for e in self.status.entries[:POLL_CHANGED_DIRS]]
        if extra is not None:
            out += list(extra())
        return [d.rstrip("/") for d in dict.fromkeys(out)]

    def notice_saved(self, path: str) -> None:
        """A pane saved a file. A native watcher reports that write itself (refreshing here too would run status
        twice); a polling one may not look for seconds, so refresh now."""
        if self.following != "native":
            self.request_refresh()

    # -- the diff cache (prefetch as the cursor moves, lazygit-style) --------------------------------------------
    def _diff_key(self, row: Row) -> DiffKey:
        assert row.entry is not None
        return (row.entry.path, row.section, self.refreshes)

    def diff_future(self, row: Row) -> asyncio.Task[list[DiffFile]]:
        """The diff of `row` in this status generation: the cached (or running) one, else a new `git diff`."""
        key = self._diff_key(row)
        task = self._diffs.get(key)
        if task is None or task.cancelled() or (task.done() and task.exception() is not None):
            assert row.entry is not None
            task = asyncio.ensure_future(self.git.diff_for(row.entry, staged=row.section == "staged"))
            task.add_done_callback(_consume_error)
            self._diffs[key] = task
            while len(self._diffs) > DIFF_CACHE:
                self._diffs.pop(next(iter(self._diffs))).cancel()  # the oldest (insertion order)
        return task

    def _drop_diffs(self, keep: DiffKey | None, *, running_only: bool = False) -> None:
        """Forget cached diffs other than `keep`, cancelling those still running. `running_only`: forget only the
        running ones (the cursor moved on: finished diffs stay, for when it comes back)."""
        for key in [k for k in self._diffs if k != keep]:
            task = self._diffs[key]
            if running_only and task.done():
                continue
            del self._diffs[key]
            if not task.done():
                task.cancel()

    @on(StatusList.Highlighted)
    def _highlighted(self, event: StatusList.Highlighted) -> None:
        event.stop()
        if event.row is not None and event.row.entry is not None and self.files.has_focus:
            self._prefetch(event.row)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        row = self.files.selected
        if row is not None and self.files.has_focus:
            self._prefetch(row)

    @work(exclusive=True, group="git-prefetch", exit_on_error=False)
    async def _prefetch(self, row: Row) -> None:
        if self._diff_key(row) in self._diffs:
            return  # cached or on its way
        # A held key moves the cursor every ~30 ms: only the file the cursor rests on is worth a `git diff`.
        # (This worker is exclusive: a move cancels the wait.)
        await asyncio.sleep(PREFETCH_DELAY)
        key = self._diff_key(row)
        self._drop_diffs(keep=key, running_only=True)  # cancel on move: another file's running diff is unwanted
        self.diff_future(row)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "init":
            return self.not_repo
        if action == "open_nested":
            return self.not_repo and bool(self.nested)
        if self.not_repo and action not in ("refresh", "init"):
            return False
        if action == "resolve":
            row = self.files.selected
            return row is not None and row.section == "conflicts"
        if action == "abort_merge":
            return self.merging
        return True

    # -- helpers -----------------------------------------------------------------------------------------------
    def _fail(self, exc: SandbenchError) -> None:
        report(self, exc)

    async def _run(self, label: str, op: Callable[[], Any], *, refresh: bool = True) -> bool:
        """Run one git operation (serialised: git's index lock admits one writer), then refresh."""
        async with self._op_lock:
            self.post_message(self._Progress(f"{label}…"))
            try:
                await op()
            except SandbenchError as exc:
                report(self, exc)
                return False
            finally:
                self.post_message(self._Progress(None))
        if refresh:
            await self.refresh_status()
        return True

    def _progress(self, text: str) -> None:
        self.post_message(self._Progress(text))

    @on(_Progress)
    def _on_progress(self, event: _Progress) -> None:
        bar = self.query_one("#git-progress", Static)
        bar.set_class(event.text is not None, "busy")
        bar.update(plain(event.text or ""))

    async def _ask(self, prompt: str) -> str | None:
        """GitService's askpass bridge: a dialog in the app (hidden input unless it is a yes/no question)."""
        confirm = "yes/no" in prompt or "(yes/" in prompt
        cls = InputDialog if confirm else SecretDialog
        dialog = cls("Git asks", prompt, placeholder="yes or no" if confirm else "")
        try:
            answer = await self.app.push_screen_wait(dialog)
        except asyncio.CancelledError:
            # the service gave up waiting (timeout): do not leave the dialog behind
            with contextlib.suppress(Exception):
                if self.app.screen is dialog:
                    dialog.dismiss(None)
            raise
        return None if answer is None else str(answer)

    # -- actions -----------------------------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.request_refresh()

    @work(group="git-op", exit_on_error=False)
    async def action_toggle_stage(self) -> None:
        row = self.files.selected
        if row is None or row.entry is None:
            return
        e = row.entry
        if row.section == "staged":
            paths = [e.path] + ([e.orig_path] if e.orig_path else [])
            await self._run("unstaging", lambda: self.git.unstage(*paths))
            return
        left = await markers_left(self.git, e.path) if row.section == "conflicts" else 0
        if left and not await self.app.push_screen_wait(
            ConfirmDialog("Still conflicted", f"{safe_text(e.path)} has {left} conflicts left: mark it resolved?")
        ):
            return
        await self._run("staging", lambda: self.git.stage(e.path))

    @work(group="git-op", exit_on_error=False)
    async def action_stage_all(self) -> None:
        st = self.status
        if st is not None and not st.unstaged and not st.untracked and not st.conflicted and st.staged:
            await self._run("unstaging all", self.git.unstage_all)
        else:
            await self._run("staging all", self.git.stage_all)

    def action_diff(self) -> None:
        row = self.files.selected
        if row is None or row.entry is None:
            return
        if row.section == "conflicts":
            self.action_resolve()
            return
        self.app.push_screen(
            GitDiffScreen(
                self.git,
                row.entry,
                staged=row.section == "staged",
                on_change=self.request_refresh,
                prefetched=self.diff_future(row),
            )
        )

    @work(group="git-op", exit_on_error=False)
    async def action_discard(self) -> None:
        row = self.files.selected
        if row is None or row.entry is None:
            return
        e = row.entry
        everything = row.section in ("staged", "conflicts")
        what = (
            "delete this untracked file"
            if e.untracked
            else "throw away all its changes, staged and unstaged"
            if everything
            else "throw away its unstaged changes"
        )
        ok = await self.app.push_screen_wait(
            ConfirmDialog("Discard changes", f"{safe_text(e.path)}: {what}?", confirm="Discard", danger=True)
        )
        if ok:
            await self._run("discarding", lambda: self.git.discard(e, include_staged=everything))

    def action_commit(self) -> None:
        st = self.status
        if st is not None and st.conflicted:
            tell(self, f"resolve the {len(st.conflicted)} conflicted files first (m)", title="Git", severity="warning")
            return
        if st is not None and not st.staged and not self.merging:
            tell(self, "nothing staged: stage files first (space, or a for all)", title="Git", severity="warning")
            return
        # at once, not from a worker: the message typed fast behind c goes into the dialog, not to the panel's keys
        if self.merging and not self.draft:  # its draft is git's merge message, read by the open dialog
            self._ask_commit(
                CommitDialog(load=self.git.merge_message, loading="git's merge message", submit=self._commit)
            )
            return
        self._ask_commit(CommitDialog(message=self.draft, submit=self._commit))

    def _ask_commit(self, dialog: CommitDialog) -> None:
        def done(message: object) -> None:
            if message:
                self.run_worker(self.refresh_status(), group="git-status", exit_on_error=False)

        self.app.push_screen(dialog, done)

    async def _commit(self, message: str, *, amend: bool = False) -> None:
        """The commit dialog's submit. When git does not know who the user is, ask (a dialog that stores it with
        `git config` inside the sandbox) and try again; any other refusal (a hook) goes back into the commit dialog,
        shown inline with the message kept. A failed commit keeps its message as the next commit's draft."""
        self.draft = message
        while True:
            try:
                async with self._op_lock:
                    self._progress("amending…" if amend else "committing…")
                    try:
                        await self.git.commit(message, amend=amend)
                    finally:
                        self._progress_done()
            except MissingIdentity:
                if not await self.app.push_screen_wait(IdentityDialog(self.git)):
                    # shown inline in the commit dialog, which keeps the message
                    raise MissingIdentity("not committed: git needs your name and email (ctrl+s asks again)") from None
                continue
            break
        self.draft = ""

    def action_resolve(self) -> None:
        row = self.files.selected
        if row is not None and row.entry is not None and row.section == "conflicts":
            self.app.push_screen(ConflictScreen(self.git, row.entry.path, on_change=self.request_refresh))

    @work(group="git-op", exit_on_error=False)
    async def action_abort_merge(self) -> None:
        ok = await self.app.push_screen_wait(
            ConfirmDialog("Abort merge", "git merge --abort: throw away the merge and its resolutions?", danger=True)
        )
        if ok:
            await self._run("aborting the merge", self.git.merge_abort)

    def action_amend(self) -> None:
        if self.status is not None and self.status.initial:
            tell(self, "nothing to amend: no commit yet", title="Git", severity="warning")
            return
        git = self.git

        async def last_message() -> str:
            return (await git.last_message()).rstrip("\n")

        # at once, as `c` does: the message the dialog reads (the last commit's) comes after what is typed behind A
        self._ask_commit(
            CommitDialog(
                amend=True,
                load=last_message,
                loading="the last commit's message",
                submit=lambda m: self._commit(m, amend=True),
            )
        )

    @work(group="git-op", exit_on_error=False)
    async def action_pull(self) -> None:
        await self._run("pulling", lambda: self.git.pull(on_progress=self._progress))

    @work(group="git-op", exit_on_error=False)
    async def action_fetch(self) -> None:
        await self._run("fetching", lambda: self.git.fetch(on_progress=self._progress))

    @work(group="git-op", exit_on_error=False)
    async def action_push(self) -> None:
        async with self._op_lock:
            self._progress("pushing…")
            try:
                try:
                    await self.git.push(on_progress=self._progress)
                except NoUpstream:
                    remotes = await self.git.remotes()
                    if not remotes:
                        raise NoUpstream("no remote to push to: add one in the terminal (git remote add)") from None
                    remote = "origin" if "origin" in remotes else remotes[0]
                    ok = await self.app.push_screen_wait(
                        ConfirmDialog("Set upstream", f"This branch has no upstream. Push it to {safe_text(remote)}?")
                    )
                    if not ok:
                        return
                    await self.git.push(on_progress=self._progress, set_upstream=remote)
            except SandbenchError as exc:
                report(self, exc)
                return
            finally:
                self._progress_done()
        tell(self, "pushed", title="Git")
        await self.refresh_status()

    def _progress_done(self) -> None:
        self.post_message(self._Progress(None))

    def action_branches(self) -> None:
        self.app.push_screen(BranchScreen(self.git, on_change=self.request_refresh))

    def action_log(self) -> None:
        self.app.push_screen(LogScreen(self.git))

    @work(group="git-op", exit_on_error=False)
    async def action_stash(self) -> None:
        await self._run("stashing", self.git.stash_push)

    def action_stashes(self) -> None:
        self.app.push_screen(StashScreen(self.git, on_change=self.request_refresh))

    @work(group="git-op", exit_on_error=False)
    async def action_init(self) -> None:
        if await self.app.push_screen_wait(ConfirmDialog("Init", nested.init_question(self.git.repo_dir, self.nested))):
            await self._run("initialising", self.git.init)

    @work(group="git-op", exit_on_error=False)
    async def action_open_nested(self) -> None:
        """Follow a repository inside the workspace instead of its top folder (which is none)."""
        chosen = await nested.pick(self.app, self.nested)
        if chosen is None:
            return
        ask = self.git.ask
        self.git = GitService(self.git.service, self.git.sandbox_id, repo_dir=chosen)
        self.git.ask = ask
        self.nested, self.followed = [], chosen
        self.request_refresh()
