"""Git's failures as typed errors: the `GitError` family, and `classify`, which reads what a failed command said
(stderr locally, stdout on Daytona, whose exec merges them) and picks the error whose one line says what to do.
"""

from __future__ import annotations

from collections.abc import Callable

from services.errors import Conflict, OperationTimeout, PermissionDenied, SandbenchError, bounded_details
from services.git_parse import decode
from services.models import ExecResult


# -- the errors ------------------------------------------------------------------------------------------------
class GitError(SandbenchError):
    title = "Git"


class NotARepository(GitError):
    title = "Not a repository"


class DetachedHead(GitError):
    title = "Detached HEAD"


class MergeConflict(GitError, Conflict):
    title = "Merge conflict"


class PushRejected(GitError, Conflict):
    title = "Push rejected"


class NoUpstream(GitError):
    title = "No upstream"


class AuthenticationFailed(GitError, PermissionDenied):
    title = "Authentication failed"


class AskTimeout(GitError, OperationTimeout):
    title = "Timed out"


class ChangesInTheWay(GitError, Conflict):
    title = "Local changes"


class NothingToCommit(GitError):
    title = "Nothing to commit"


class BranchNotMerged(GitError):
    title = "Branch not merged"


class MissingIdentity(GitError):
    """git refused to commit: no user name/email (the panel offers to set them, then retries)."""

    title = "Who are you?"


_IDENTITY_MARKERS = (
    "author identity unknown",
    "committer identity unknown",
    "please tell me who you are",
    "unable to auto-detect email address",
    "empty ident name",
    "no email was given",
    "no name was given",
)


_AUTH_MARKERS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "permission denied (publickey",
    "host key verification failed",
    "invalid username or password",
    "http basic: access denied",
    "the requested url returned error: 401",
    "the requested url returned error: 403",
    "could not read from remote repository",
)


def is_auth_failure(stderr: str) -> bool:
    low = stderr.lower()
    return any(m in low for m in _AUTH_MARKERS)


def diagnostics(r: ExecResult) -> bytes:
    """What git said about a failure. Locally that is stderr; Daytona's exec merges stderr into stdout and returns
    `stderr=b""`, so there the same words are in stdout. Classifying on stderr alone would miss every one."""
    return r.stderr if r.stderr.strip() else r.stdout


def classify(op: str, r: ExecResult, scrub: Callable[[str], str]) -> GitError:
    """A failed git command as the `GitError` that says what to do; `scrub` takes credentials out of git's words.
    Everything git (and its hooks) said, scrubbed, goes with it as `details`: the one line cannot hold 200 lines
    of a pre-commit hook, and the details view shows them all."""
    error = _classify(op, r, scrub)
    err = scrub(decode(diagnostics(r)).strip())
    out = scrub(decode(r.stdout).strip())
    said = err if not out or out == err else f"{err}\n{out}" if err else out
    error.details = bounded_details(said)
    return error


def _classify(op: str, r: ExecResult, scrub: Callable[[str], str]) -> GitError:
    if r.timed_out:
        return GitError(f"git {op} timed out")
    err = scrub(decode(diagnostics(r)).strip())
    out = scrub(decode(r.stdout).strip())
    low = err.lower()
    both = f"{low}\n{out.lower()}"
    if any(m in low for m in _IDENTITY_MARKERS):
        return MissingIdentity(f"git {op}: no user name/email set for this repository — set them to commit")
    if "not a git repository" in low:
        return NotARepository("not a git repository: initialise one (i) or clone one into this folder")
    if op == "push" and "hook declined" in both:
        return PushRejected("push rejected by a hook on the remote: its reasons are in the details")
    if op == "push" and ("[rejected]" in both or "[remote rejected]" in both or "rejected" in low):
        return PushRejected("push rejected: the remote has commits you do not have — pull (p) first, then push")
    if "has no upstream branch" in low or "no tracking information" in low or "no upstream configured" in low:
        return NoUpstream("this branch has no upstream: push with an upstream (P) to set one")
    if "not currently on a branch" in low or "you are not currently on a branch" in low:
        return DetachedHead("HEAD is detached: switch to a branch (b) first")
    if is_auth_failure(err):
        return AuthenticationFailed(
            f"git {op}: authentication failed — set a token (SANDBENCH_GIT_TOKEN) or check the remote's access"
        )
    if "conflict" in both or "unmerged" in low or "you have not concluded your merge" in low:
        return MergeConflict(f"git {op}: merge conflicts — resolve the files marked U, stage them, then commit")
    if "nothing to commit" in both or "no changes added to commit" in both:
        return NothingToCommit("nothing to commit: stage changes first (space, or a for all)")
    if "not fully merged" in low:
        return BranchNotMerged("the branch is not fully merged: delete it anyway only if you mean to lose it")
    if "divergent branches" in low or "not possible to fast-forward" in low:
        return GitError("pull: the branches have diverged — merge or rebase in the terminal (or set pull.rebase)")
    if "would be overwritten" in low:
        return ChangesInTheWay(f"git {op}: local changes would be overwritten — commit or stash (s) them first")
    line = next((ln for ln in err.splitlines() if ln.startswith(("fatal:", "error:"))), None)
    line = line or (err.splitlines()[-1] if err else "") or (out.splitlines()[-1] if out else "")
    return GitError(f"git {op} failed: {line[:300] or f'exit code {r.exit_code}'}")
