"""Git for one repository in one sandbox, run INSIDE the sandbox (DESIGN §3 `git.py`, §5 rules 1, 2 and 5).

Why inside: a repository carries config (`core.fsmonitor`, aliases, `diff.external`) and hooks that run programs;
git on the host over sandbox files would run them on the host (measured: isolation.md). So every command here is
`service.exec([...argv...], cwd=repo_dir)`: argv lists only, user-supplied names after `--` or validated with
`git check-ref-format --branch` (itself run inside the sandbox), commit messages on stdin (`commit -F -`), and
`GIT_LITERAL_PATHSPECS=1` so a file named `*` or `:(glob)x` means only itself.

Output is read from machine formats (`services.git_parse`). Failures become `GitError` subclasses whose one-line
message says what to do; a configured git token never appears in any of them (`scrub`).

Remote operations (clone, fetch, pull, push) go through `services.git_remote.RemoteFlow`: without credentials,
then with a configured token, then asking the user. Failures are classified in `services.git_errors`.

Size: one class of many small methods, one per git operation on the same plumbing (~720 lines), so that the
service's rules (argv, environment, scrubbing) live in one place.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import quote

from services import paths
from services.errors import FileNotFound, InvalidInput, NameRejected, SandbenchError, TooLarge
from services.git_errors import (
    AskTimeout,
    AuthenticationFailed,
    BranchNotMerged,
    ChangesInTheWay,
    DetachedHead,
    GitError,
    MergeConflict,
    MissingIdentity,
    NotARepository,
    NothingToCommit,
    NoUpstream,
    PushRejected,
    classify,
    diagnostics,
)
from services.git_parse import (
    BRANCH_FORMAT,
    LOG_FORMAT,
    STASH_FORMAT,
    Branch,
    Commit,
    DiffFile,
    FileStatus,
    GitStatus,
    Hunk,
    Stash,
    added_file,
    decode,
    encode,
    hunk_patch,
    parse_branches,
    parse_diff,
    parse_log,
    parse_stashes,
    parse_status,
)
from services.git_remote import TOKEN_ENV, AskCallback, ProgressCallback, RemoteFlow, RemoteResult
from services.models import ExecResult
from services.sandbox_service import SandboxService

# git's errors are imported from here by services/server/toolbox_git.py and older callers; new code imports them
# from services.git_errors, where they live
__all__ = [
    "FOLDER_FILES",
    "FOLDER_FILE_BYTES",
    "AskTimeout",
    "AuthenticationFailed",
    "BranchNotMerged",
    "ChangesInTheWay",
    "DetachedHead",
    "GitError",
    "GitService",
    "MergeConflict",
    "MissingIdentity",
    "NoUpstream",
    "NotARepository",
    "NothingToCommit",
    "PushRejected",
    "check_identity",
]


# stash builds pathspecs of its own internally (for untracked files); literal pathspecs break it. It is given no
# user paths, so turning pattern matching back on for it is safe.
_PATTERN_PATHSPECS = {"GIT_LITERAL_PATHSPECS": "0"}
_HEX = re.compile(r"[0-9a-fA-F]{4,64}")
_MAX_LOG = 1000


def _stash_ref(index: int) -> str:
    """`stash@{N}` from a number only: nothing the user typed reaches git's revision parser."""
    n = int(index)
    if n < 0:
        raise InvalidInput(f"no stash {n}")
    return f"stash@{{{n}}}"


_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+")
# how git refuses `status --ignored=matching`: with status.showUntrackedFiles=no, and (before 2.16) any mode at all
_IGNORED_REFUSED = (b"Unsupported combination of ignored", b"option `ignored' takes no value")
# An untracked folder's diff: files shown (the rest counted), and bytes read of each (its head only).
FOLDER_FILES = 100
FOLDER_FILE_BYTES = 64 * 1024


def check_identity(name: str, email: str) -> tuple[str, str]:
    """`(name, email)` stripped, or `InvalidInput` saying what is wrong. git itself strips `<>` and newlines out
    of idents; refusing them here means what is stored is what was typed."""
    name, email = name.strip(), email.strip()
    if not name:
        raise InvalidInput("type a name (shown as the author of your commits)")
    if len(name) > 200 or any(c < " " or c in "<>\x7f" for c in name):
        raise InvalidInput("a name cannot hold <, >, control characters or more than 200 characters")
    if not email:
        raise InvalidInput("type an email address")
    if len(email) > 254 or any(c < " " or c == "\x7f" for c in email) or not _EMAIL.fullmatch(email):
        raise InvalidInput(f"not an email address: {email[:60]!r} (like ada@example.com)")
    return name, email


# -- the service -----------------------------------------------------------------------------------------------
# git subcommands that read only: the app's probes, run without automatic checkpoints around them (they may still
# refresh .git/index's stat cache, which the next checkpoint of a real command then sees, as it should)
_READ_ONLY = frozenset(
    {
        "status", "log", "diff", "show", "rev-parse", "ls-files", "cat-file", "for-each-ref", "rev-list", "blame",
        "ls-tree", "merge-base", "check-ref-format", "check-ignore", "describe", "grep", "shortlog", "name-rev",
    }
)  # fmt: skip


def read_only(args: Sequence[str]) -> bool:
    """Whether `git ARGS` only reads (so it is an internal probe, not a command that may change files)."""
    if not args:
        return False
    cmd, rest = args[0], list(args[1:])
    if cmd in _READ_ONLY:
        return True
    if cmd == "config":
        return bool(rest) and rest[0] in ("--get", "--get-all", "--list", "-l", "--get-regexp")
    if cmd == "remote":
        return not rest or rest[0] in ("get-url", "-v", "show")
    if cmd == "branch":
        return not rest or all(
            a in ("--list", "-l", "-a", "-r", "-v", "-vv", "--no-color") or a.startswith("--format=") for a in rest
        )
    return False


class GitService:
    """Git over one repository (`repo_dir`, relative to the sandbox root) in one sandbox.

    `ask(prompt) -> answer | None` is how a remote operation asks the user for a password, passphrase or
    host-key confirmation; `git_argv` is the git program (a wrapper may be put in front of it)."""

    def __init__(
        self,
        service: SandboxService,
        sandbox_id: str,
        *,
        repo_dir: str = "",
        token: str | None = None,
        ask: AskCallback | None = None,
        ask_timeout: float = 120.0,
        timeout: float = 120.0,
        remote_timeout: float = 600.0,
        env: Mapping[str, str] | None = None,
        git_argv: Sequence[str] = ("git",),
        username: str | None = None,
        configured_token: bool = True,
        output_limit: int | None = None,
    ) -> None:
        """`configured_token=False`: only `token`, never the config's or the environment's (a server acting for
        clients must not offer its operator's token to their remotes). `output_limit`: bytes of each of git's
        streams held (a server bounds every request: a hook may print without end); stdout past it is `TooLarge`
        (its parse would be wrong), stderr is cut (it only feeds messages)."""
        self.service = service
        self.sandbox_id = sandbox_id
        self.repo_dir = paths.normalize(repo_dir)
        cfg_token = getattr(service.config, "git_token", None) if configured_token else None
        self._token = token or cfg_token or (os.environ.get(TOKEN_ENV) if configured_token else None) or None
        self._username = username or None
        redactor = getattr(service, "redactor", None)
        if redactor is not None:  # the token may show in a remote's URL or git's output: never in the audit log
            redactor.add(self._token, quote(self._token, safe="") if self._token else None)
        self.ask = ask
        self.ask_timeout = ask_timeout
        self.timeout = timeout
        self.remote_timeout = remote_timeout
        self.extra_env = dict(env or {})
        self.git_argv = list(git_argv)
        self.output_limit = output_limit
        self._resolved = False
        self._remote_flow = RemoteFlow(self)  # every remote command: no credentials, then the token, then asking
        self._merge_head: str | None = None  # MERGE_HEAD's path from the sandbox root ('' = ask git each time)
        self._ask_ignored = True  # until git refuses `--ignored=matching` here (see `status`)

    # -- plumbing ----------------------------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        """The repository folder relative to the sandbox root, as a path prefix ('' or 'dir/')."""
        return f"{self.repo_dir}/" if self.repo_dir else ""

    def scrub(self, text: str) -> str:
        """`text` without the token (plain or URL-encoded) and without credentials embedded in URLs."""
        if self._token:
            for form in {self._token, quote(self._token, safe="")}:
                text = text.replace(form, "***")
        return re.sub(r"(\w+://)[^/@\s:]+:[^/@\s]+@", r"\1***@", text)

    def _error(self, op: str, r: ExecResult) -> GitError:
        return classify(op, r, self.scrub)

    def _env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_LITERAL_PATHSPECS": "1",
            "GIT_PAGER": "cat",
            "PAGER": "cat",
            "GIT_EDITOR": "true",  # a merge or revert never waits for an editor nobody sees
            "GIT_SEQUENCE_EDITOR": "true",
            "GIT_MERGE_AUTOEDIT": "no",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            # no terminal in here: ssh must fail fast instead of waiting for one
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
        }
        env.update(self.extra_env)
        if extra:
            env.update(extra)
        return env

    async def _exec(
        self,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        on_output: Callable[[str, bytes], None] | None = None,
        cwd: str | None = None,
        config: Sequence[str] = (),
    ) -> ExecResult:
        argv = [*self.git_argv, "--no-pager", "-c", "color.ui=false", "-c", "core.quotepath=false"]
        for item in config:
            argv += ["-c", item]
        argv += list(args)
        limit = self.output_limit
        r = await self.service.exec(
            self.sandbox_id,
            argv,
            cwd=self.repo_dir if cwd is None else cwd,
            env=self._env(env),
            timeout=timeout or self.timeout,
            stdin=stdin,
            on_output=on_output,
            keep_output=None if limit is None else limit + 1,
            internal=read_only(args),
        )
        if limit is not None and len(r.stdout) > limit:
            raise TooLarge(f"git {args[0] if args else ''} printed more than {limit // 2**20} MiB: narrow the request")
        if limit is not None and len(r.stderr) > limit:
            r = dataclasses.replace(r, stderr=r.stderr[:limit])
        return r

    async def _git(self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None) -> bytes:
        """Run git; stdout on success, a classified `GitError` on failure."""
        r = await self._exec(args, stdin=stdin, env=env)
        if r.exit_code != 0:
            raise self._error(args[0] if args else "git", r)
        return r.stdout

    async def resolve(self) -> None:
        """Move `repo_dir` up to the top of its worktree, once, so paths in git's output are relative to it."""
        if self._resolved:
            return
        r = await self._exec(["rev-parse", "--show-cdup"])
        if r.exit_code != 0:
            raise self._error("status", r)
        cdup = decode(r.stdout).strip()
        if cdup:
            joined = posixpath.normpath(posixpath.join(self.repo_dir or ".", cdup))  # pure string work
            self.repo_dir = paths.normalize("" if joined == "." else joined)
        self._resolved = True

    # -- reading -----------------------------------------------------------------------------------------------
    async def is_repo(self) -> bool:
        r = await self._exec(["rev-parse", "--git-dir"])
        return r.exit_code == 0

    async def status(self, *, ignored: bool = False) -> GitStatus:
        """One `git status` call: branch, upstream, ahead/behind, every changed path, stash count; with `ignored`,
        the ignored paths too (`GitStatus.ignored`, for the explorer to mute), in the same call.

        `--ignored=matching`, not `traditional`: matching names an ignored folder (`node_modules/`) without walking
        into it, and keeps it one record even where the repository sets `status.showUntrackedFiles=all`;
        traditional walks every ignored folder to learn whether all of it is ignored (bench/git.py: +18% over
        plain status with a 20,000-file node_modules, matching +0%). Never `-uall` here: that would list each
        untracked file, and the panel lists untracked folders as one row.

        git refuses matching where the repository sets `status.showUntrackedFiles=no` (a dotfiles repository:
        "Unsupported combination"), and a git older than 2.16 knows no mode: then the status is read without
        ignored entries (nothing is lost: with untracked files off git would show no ignored ones either), and
        this service stops asking."""
        await self.resolve()
        args = ["status", "--porcelain=v2", "-z", "--branch", "--show-stash"]
        asking = ignored and self._ask_ignored
        env = {"GIT_OPTIONAL_LOCKS": "0"}  # a read must not take index.lock from under the user's own git
        r = await self._exec([*args, "--ignored=matching"] if asking else args, env=env)
        if asking and r.exit_code != 0 and any(m in r.stderr for m in _IGNORED_REFUSED):
            self._ask_ignored = False
            r = await self._exec(args, env=env)
        if r.exit_code != 0:
            raise self._error("status", r)
        return parse_status(r.stdout, prefix=self.prefix)

    async def diff(self, path: str | None = None, *, staged: bool = False, context: int = 3) -> list[DiffFile]:
        args = ["diff", "--no-color", "--no-ext-diff", f"-U{int(context)}"]
        if staged:
            args.append("--cached")
        args.append("--")
        if path is not None:
            args.append(path)
        return parse_diff(await self._git(*args))

    async def diff_untracked(self, path: str) -> list[DiffFile]:
        """An untracked file as an all-added diff (`diff --no-index` exits 1 when files differ, as they do)."""
        r = await self._exec(["diff", "--no-color", "--no-ext-diff", "--no-index", "--", "/dev/null", path])
        if r.exit_code not in (0, 1):
            raise self._error("diff", r)
        return parse_diff(r.stdout)

    async def diff_untracked_folder(self, folder: str) -> list[DiffFile]:
        """An untracked folder (`dir/` in the status) as the all-added diffs of its files: the files git would
        add (`ls-files --others --exclude-standard`, so ignored ones stay out), at most `FOLDER_FILES` of them,
        each read through the file API (no symlink followed) up to `FOLDER_FILE_BYTES`."""
        r = await self._exec(["ls-files", "-z", "--others", "--exclude-standard", "--", folder])
        if r.exit_code != 0:
            raise self._error("ls-files", r)
        names = sorted(decode(n) for n in r.stdout.split(b"\0") if n)
        shown = names[:FOLDER_FILES]
        gate = asyncio.Semaphore(8)

        async def one(path: str) -> DiffFile:
            async with gate:
                try:
                    data = await self.service.read_file(
                        self.sandbox_id, self.prefix + path, head=True, limit=FOLDER_FILE_BYTES
                    )
                except SandbenchError as exc:
                    return added_file(path, b"", note=f"not shown: {exc}")
            return added_file(path, data.data, truncated=data.truncated)

        files = list(await asyncio.gather(*(one(p) for p in shown)))
        if len(names) > len(shown):
            files.append(added_file("", b"", note=f"{len(names) - len(shown)} more files not shown"))
        return files

    async def diff_for(self, entry: FileStatus, *, staged: bool) -> list[DiffFile]:
        if entry.untracked and entry.path.endswith("/"):
            return await self.diff_untracked_folder(entry.path)
        if entry.untracked:
            return await self.diff_untracked(entry.path)
        return await self.diff(entry.path, staged=staged)

    async def log(self, *, skip: int = 0, limit: int = 100, ref: str | None = None) -> list[Commit]:
        args = ["log", "-z", f"--format={LOG_FORMAT}", f"--skip={max(0, int(skip))}", f"-n{min(int(limit), _MAX_LOG)}"]
        if ref is not None:
            args.append(await self._verified_rev(ref))
        args.append("--")
        r = await self._exec(args)
        if r.exit_code != 0:
            err = decode(diagnostics(r))
            if "does not have any commits yet" in err or "bad default revision" in err:
                return []
            raise self._error("log", r)
        return parse_log(r.stdout)

    async def _verified_rev(self, rev: str) -> str:
        """A revision given by the user, resolved inside the sandbox to a full object name (so nothing that
        looks like an option ever reaches git's argument parser)."""
        if rev.startswith("-") or "\x00" in rev or not rev:
            raise InvalidInput(f"not a revision: {rev[:60]!r}")
        r = await self._exec(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"])
        if r.exit_code != 0:
            raise InvalidInput(f"no such commit or branch: {rev[:60]!r}")
        return decode(r.stdout).strip()

    async def show(self, oid: str) -> tuple[Commit, list[DiffFile]]:
        if not _HEX.fullmatch(oid):
            oid = await self._verified_rev(oid)
        head = await self._git("log", "-z", "-n1", f"--format={LOG_FORMAT}", oid, "--")
        commits = parse_log(head)
        if not commits:
            raise FileNotFound(f"no commit {oid[:12]}")
        body = await self._git("show", "--no-color", "--no-ext-diff", "--format=", "-m", "--first-parent", oid, "--")
        return commits[0], parse_diff(body)

    async def last_message(self) -> str:
        return decode(await self._git("log", "-n1", "--format=%B", "--"))

    async def head_oid(self) -> str | None:
        r = await self._exec(["rev-parse", "--verify", "--quiet", "HEAD"])
        return decode(r.stdout).strip() or None if r.exit_code == 0 else None

    # -- staging -----------------------------------------------------------------------------------------------
    async def stage(self, *paths_: str) -> None:
        if paths_:
            await self._git("add", "-A", "--", *paths_)

    async def stage_all(self) -> None:
        await self._git("add", "-A")

    async def unstage(self, *paths_: str) -> None:
        if not paths_:
            return
        if await self.head_oid() is None:
            await self._git("rm", "--cached", "-r", "-q", "--", *paths_)  # no HEAD to reset to yet
        else:
            await self._git("reset", "-q", "HEAD", "--", *paths_)

    async def unstage_all(self) -> None:
        if await self.head_oid() is None:
            await self._git("rm", "--cached", "-r", "-q", "--", ".")
        else:
            await self._git("reset", "-q")

    async def discard(self, entry: FileStatus, *, include_staged: bool = False) -> None:
        """Throw away a file's changes: untracked → deleted; tracked → back to the index (or to HEAD with
        `include_staged`). Callers confirm first."""
        if entry.untracked:
            await self._git("clean", "-f", "-d", "-q", "--", entry.path)
            return
        if entry.conflicted:
            include_staged = True
        targets = [entry.path] + ([entry.orig_path] if entry.orig_path and include_staged else [])
        if include_staged:
            if entry.index == "A" or entry.kind == "renamed" or await self.head_oid() is None:
                # not in HEAD: drop it from the index, then from the worktree
                await self._git("rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", entry.path)
                if entry.orig_path:
                    await self._git("checkout", "-q", "HEAD", "--", entry.orig_path)
                await self._git("clean", "-f", "-q", "--", entry.path)
                return
            await self._git("checkout", "-q", "HEAD", "--", *targets)
        else:
            await self._git("checkout", "-q", "--", *targets)

    async def _apply(self, patch: bytes, *flags: str) -> None:
        await self._git("apply", "--whitespace=nowarn", *flags, "-", stdin=patch)

    async def stage_hunk(self, file: DiffFile, hunk: Hunk) -> None:
        """Stage one hunk of the unstaged diff (`git apply --cached`, patch on stdin)."""
        await self._apply(hunk_patch(file, hunk), "--cached")

    async def unstage_hunk(self, file: DiffFile, hunk: Hunk) -> None:
        """Unstage one hunk of the staged diff."""
        await self._apply(hunk_patch(file, hunk, reverse=True), "--cached", "--reverse")

    async def discard_hunk(self, file: DiffFile, hunk: Hunk) -> None:
        """Throw away one hunk of the unstaged diff from the worktree. Callers confirm first."""
        await self._apply(hunk_patch(file, hunk, reverse=True), "--reverse")

    # -- committing --------------------------------------------------------------------------------------------
    async def commit(self, message: str, *, amend: bool = False, env: Mapping[str, str] | None = None) -> str:
        """Commit the index with `message` (given on stdin, stored as written save for git's whitespace cleanup).
        Returns the new commit's id."""
        if not message.strip():
            raise InvalidInput("the commit message is empty: write a summary line")
        if "\x00" in message:
            raise InvalidInput("a commit message cannot contain NUL")
        args = ["commit", "-q", "--cleanup=whitespace", "-F", "-"]
        if amend:
            args.append("--amend")
        await self._git(*args, stdin=encode(message), env=env)
        oid = await self.head_oid()
        return oid or ""

    async def identity(self) -> tuple[str, str]:
        """The user name and email git would use here ('' where none is set), from any config level."""
        out = []
        for key in ("user.name", "user.email"):
            r = await self._exec(["config", "--get", key])
            out.append(decode(r.stdout).strip() if r.exit_code == 0 else "")
        return out[0], out[1]

    async def set_identity(self, name: str, email: str) -> None:
        """Store the user name and email in this repository's own config (`git config --local`, inside the
        sandbox), after `check_identity`."""
        name, email = check_identity(name, email)
        await self._git("config", "--local", "--", "user.name", name)
        await self._git("config", "--local", "--", "user.email", email)

    # -- merging -----------------------------------------------------------------------------------------------
    async def _git_path(self, name: str) -> str | None:
        """Where `.git/<name>` is, relative to the sandbox root (None: outside it, e.g. a linked worktree's)."""
        r = await self._exec(["rev-parse", "--git-path", name])
        path = decode(r.stdout).strip()
        if r.exit_code != 0 or not path or path.startswith("/"):
            return None
        return paths.normalize(self.prefix + path)

    async def merging(self) -> bool:
        """Whether a merge is in progress (MERGE_HEAD exists). Asked on every panel refresh, so it costs one
        file-API stat once git has said (once) where MERGE_HEAD lives; outside the sandbox root, git is asked."""
        if self._merge_head is None:
            self._merge_head = await self._git_path("MERGE_HEAD") or ""
        if self._merge_head:
            try:
                await self.service.stat(self.sandbox_id, self._merge_head)
            except FileNotFound:
                return False
            except SandbenchError:
                pass  # the file API would not look (a path policy refusal, say): git is asked instead
            else:
                return True
        r = await self._exec(["rev-parse", "-q", "--verify", "MERGE_HEAD"])
        return r.exit_code == 0

    async def merge_message(self) -> str:
        """The message git prepared for the merge commit (MERGE_MSG, its comment lines dropped), or ''."""
        where = await self._git_path("MERGE_MSG")
        if where is None:
            return ""
        try:
            text = decode((await self.service.read_file(self.sandbox_id, where)).data)
        except SandbenchError:
            return ""
        return "\n".join(ln for ln in text.splitlines() if not ln.startswith("#")).strip()

    async def merge_abort(self) -> None:
        """`git merge --abort`: back to the state before the merge. Callers confirm first."""
        await self._git("merge", "--abort")

    # -- branches ----------------------------------------------------------------------------------------------
    async def branches(self, *, remotes: bool = False) -> list[Branch]:
        args = ["branch", "--list", f"--format={BRANCH_FORMAT}"]
        if remotes:
            args.insert(1, "--all")
        return parse_branches(await self._git(*args))

    async def check_branch_name(self, name: str) -> str:
        """`name` if git accepts it as a new branch name (asked inside the sandbox), else `NameRejected`."""
        if not name or name.startswith("-") or any(c < " " or c == "\x7f" for c in name) or len(name) > 250:
            raise NameRejected(f"not a valid branch name: {name[:60]!r}")
        r = await self._exec(["check-ref-format", "--branch", name])
        if r.exit_code != 0 or decode(r.stdout).strip() != name:
            raise NameRejected(f"not a valid branch name: {name[:60]!r}")
        return name

    async def create_branch(self, name: str, *, switch: bool = True, start: str | None = None) -> None:
        await self.check_branch_name(name)
        base = [await self._verified_rev(start)] if start else []
        if switch:
            await self._git("switch", "-q", "-c", name, *base)
        else:
            await self._git("branch", name, *base)

    async def switch(self, name: str) -> None:
        await self.check_branch_name(name)
        await self._git("switch", "-q", name)

    async def delete_branch(self, name: str, *, force: bool = False) -> None:
        await self.check_branch_name(name)
        await self._git("branch", "-D" if force else "-d", "-q", name)

    # -- stash -------------------------------------------------------------------------------------------------
    async def stashes(self) -> list[Stash]:
        return parse_stashes(await self._git("stash", "list", "-z", f"--format={STASH_FORMAT}"))

    async def stash_push(self, message: str | None = None, *, include_untracked: bool = True) -> None:
        args = ["stash", "push", "-q"]
        if include_untracked:
            args.append("--include-untracked")
        if message:
            args += ["-m", message]
        r = await self._exec(args, env=_PATTERN_PATHSPECS)
        if r.exit_code != 0:
            raise self._error("stash", r)
        if b"No local changes to save" in r.stdout + r.stderr:
            raise NothingToCommit("nothing to stash: the worktree is clean")

    async def stash_pop(self, index: int = 0) -> None:
        """Apply stash `index` (its staged part staged again) and drop it; kept when applying it conflicts."""
        await self._git("stash", "pop", "-q", "--index", _stash_ref(index), env=_PATTERN_PATHSPECS)

    async def stash_apply(self, index: int = 0) -> None:
        """Apply stash `index` (its staged part staged again) and keep it."""
        await self._git("stash", "apply", "-q", "--index", _stash_ref(index), env=_PATTERN_PATHSPECS)

    async def stash_drop(self, index: int = 0) -> None:
        """Delete stash `index` for good. Callers confirm first."""
        await self._git("stash", "drop", "-q", _stash_ref(index))

    # -- creating ----------------------------------------------------------------------------------------------
    async def init(self, *, branch: str = "main", bare: bool = False) -> None:
        await self.check_branch_name(branch)
        await self._git("init", "-q", *(["--bare"] if bare else []), "-b", branch)
        self._resolved = False
        self._merge_head = None

    async def clone(
        self,
        url: str,
        dest: str,
        *,
        on_progress: ProgressCallback | None = None,
        branch: str | None = None,
        depth: int | None = None,
    ) -> RemoteResult:
        """Clone `url` into `dest` (relative to the sandbox root). Tried without credentials first."""
        if not url or url.startswith("-") or "\x00" in url or "\n" in url:
            raise InvalidInput("not a repository URL")
        d = paths.normalize(dest)
        if not d:
            raise InvalidInput("clone into a new folder, not the sandbox root")
        parent, _, name = d.rpartition("/")
        opts: list[str] = []
        if branch is not None:
            opts += ["--branch", await self.check_branch_name(branch)]
        if depth is not None:
            if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
                raise InvalidInput("depth must be a positive number of commits")
            opts.append(f"--depth={depth}")
        return await self._remote_flow.run(
            ["clone", "--progress", *opts, "--", url, name], on_progress, op="clone", cwd=parent, url=url
        )

    async def checkout_detached(self, rev: str) -> None:
        """Check out a commit (verified inside the sandbox) with a detached HEAD."""
        await self._git("checkout", "-q", "--detach", await self._verified_rev(rev))

    async def restore(
        self, paths_: Sequence[str], *, staged: bool = False, worktree: bool = True, source: str | None = None
    ) -> None:
        """`git restore` of `paths_` (literal pathspecs): the worktree, the index (`staged`), or both, from
        `source` (a verified revision) or git's default (the index for the worktree, HEAD for the index)."""
        if not paths_:
            raise InvalidInput("name the files to restore")
        args = ["restore"]
        if staged:
            args.append("--staged")
        if worktree or not staged:
            args.append("--worktree")
        if source is not None:
            args.append(f"--source={await self._verified_rev(source)}")
        await self._git(*args, "--", *paths_)

    async def add_remote(self, name: str, url: str, *, overwrite: bool = False) -> None:
        if not name or name.startswith("-") or not re.fullmatch(r"[A-Za-z0-9._/-]{1,100}", name):
            raise NameRejected(f"not a valid remote name: {name[:60]!r}")
        if not url or url.startswith("-") or "\x00" in url or "\n" in url:
            raise InvalidInput("not a repository URL")
        if overwrite and name in await self.remotes():
            await self._git("remote", "set-url", "--", name, url)
        else:
            await self._git("remote", "add", "--", name, url)

    async def fetch_remote(self, name: str, *, on_progress: ProgressCallback | None = None) -> RemoteResult:
        url = await self.remote_url(await self._known_remote(name))
        return await self._remote_flow.run(["fetch", "--progress", name], on_progress, op="fetch", url=url)

    # -- remotes -----------------------------------------------------------------------------------------------
    async def remote_url(self, remote: str) -> str | None:
        r = await self._exec(["remote", "get-url", "--", remote])
        return decode(r.stdout).strip() or None if r.exit_code == 0 else None

    async def remotes(self) -> list[str]:
        return decode(await self._git("remote")).split()

    async def _known_remote(self, name: str) -> str:
        """`name`, when it is one of the repository's remotes; otherwise InvalidInput naming it."""
        if name not in await self.remotes():
            raise InvalidInput(f"no remote {name!r}")
        return name

    async def _upstream_remote(self) -> str:
        r = await self._exec(["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"])
        if r.exit_code == 0:
            up = decode(r.stdout).strip()
            for rem in await self.remotes():
                if up.startswith(rem + "/"):
                    return rem
        rems = await self.remotes()
        return "origin" if "origin" in rems else (rems[0] if rems else "origin")

    async def fetch(self, *, on_progress: ProgressCallback | None = None) -> RemoteResult:
        await self.resolve()
        remote = await self._upstream_remote()
        return await self._remote_flow.run(
            ["fetch", "--progress", "--prune", remote], on_progress, op="fetch", url=await self.remote_url(remote)
        )

    async def pull(self, *, on_progress: ProgressCallback | None = None) -> RemoteResult:
        await self.resolve()
        st = await self.status()
        if st.detached:
            raise DetachedHead("HEAD is detached: switch to a branch (b) before pulling")
        if st.conflicted:
            raise MergeConflict("resolve the conflicts (files marked U) and commit before pulling")
        if not st.upstream:
            raise NoUpstream(f"branch {st.branch!r} has no upstream: push it with an upstream first (P)")
        remote = await self._upstream_remote()
        args = await self._pull_args()
        return await self._remote_flow.run(args, on_progress, op="pull", url=await self.remote_url(remote))

    async def _pull_args(self) -> list[str]:
        """`git pull`'s options: a merge, unless the repository's config chose rebase or fast-forward only."""
        args = ["pull", "--progress", "--no-edit"]
        configured = await self._exec(["config", "--get", "pull.rebase"])
        if configured.exit_code != 0 and (await self._exec(["config", "--get", "pull.ff"])).exit_code != 0:
            args.append("--no-rebase")  # the user chose nothing: merge, git's behaviour before 2.27, not an error
        return args

    async def pull_from(self, remote: str, branch: str, *, on_progress: ProgressCallback | None = None) -> RemoteResult:
        """Pull `branch` of `remote` into the current branch (a merge unless the repository says otherwise)."""
        await self.resolve()
        await self._known_remote(remote)
        await self.check_branch_name(branch)
        args = [*await self._pull_args(), remote, f"refs/heads/{branch}"]
        return await self._remote_flow.run(args, on_progress, op="pull", url=await self.remote_url(remote))

    async def push_branch(
        self, remote: str, branch: str, *, set_upstream: bool = False, on_progress: ProgressCallback | None = None
    ) -> RemoteResult:
        """Push local `branch` to the branch of the same name on `remote`."""
        await self.resolve()
        await self._known_remote(remote)
        await self.check_branch_name(branch)
        args = ["push", "--progress", "--porcelain"]
        if set_upstream:
            args.append("--set-upstream")
        args += [remote, f"refs/heads/{branch}:refs/heads/{branch}"]
        return await self._remote_flow.run(args, on_progress, op="push", url=await self.remote_url(remote))

    async def push(
        self, *, on_progress: ProgressCallback | None = None, set_upstream: str | None = None, force: bool = False
    ) -> RemoteResult:
        """Push the current branch. Without an upstream, `set_upstream=<remote>` pushes with `-u`; otherwise
        `NoUpstream` (the panel offers to set one)."""
        await self.resolve()
        st = await self.status()
        if st.detached:
            raise DetachedHead("HEAD is detached: switch to a branch (b) before pushing")
        if st.initial:
            raise GitError("nothing to push: make a first commit (c)")
        args = ["push", "--progress", "--porcelain"]
        if force:
            args.append("--force-with-lease")
        if st.upstream is None:
            if set_upstream is None:
                raise NoUpstream(f"branch {st.branch!r} has no upstream: push with an upstream (P, then confirm)")
            await self._known_remote(set_upstream)
            args += ["--set-upstream", set_upstream, f"HEAD:refs/heads/{st.branch}"]
            remote = set_upstream
        else:
            remote = await self._upstream_remote()
        return await self._remote_flow.run(args, on_progress, op="push", url=await self.remote_url(remote))
