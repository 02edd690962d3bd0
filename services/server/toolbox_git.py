"""The toolbox's git routes (daytona-wire.md §6). Status, add, commit, branches and checkout run git's porcelain
commands through `run_command` and parse its machine formats here; clone, init, push, pull, remotes and restore go
through `services.git.GitService` (the credential flow lives there). Either way git runs inside the sandbox with
argv lists only, and credentials the client sends reach git only through a credential file the file API writes and
removes (never argv, the environment or a log). The server's own configured git token is never offered to a
client's remote.

A clone from a path or `file://` URL reads the sandbox's own files and works offline; any other URL needs a
sandbox created with network, and an offline one says so instead of failing on DNS.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from services import paths
from services.errors import InvalidInput, SandbenchError, TooLarge
from services.git import (
    AuthenticationFailed,
    ChangesInTheWay,
    DetachedHead,
    GitError,
    GitService,
    MergeConflict,
    NotARepository,
    PushRejected,
)
from services.server import wire
from services.server.context import json_body, service_of, sid
from services.server.limits import in_mib
from services.server.toolbox_process import EXEC_MAX_OUTPUT, output_line, run_command

_GIT_TIMEOUT = 600.0


class _WireGitError(SandbenchError):
    title = "Git error"

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.http_status = status
        self.http_code = code


_TRANSPORT = ("could not resolve host", "unable to access", "connection refused", "network is unreachable")
_MISSING = ("does not exist", "not found", "does not appear to be a git repository")


def _wire_error(exc: GitError) -> _WireGitError:
    """A `GitError` with the status and `GIT_*` code the SDK maps to its typed git errors."""
    msg, low = exc.message, exc.message.lower()
    if isinstance(exc, AuthenticationFailed):
        return _WireGitError(401, "GIT_AUTH_FAILED", msg)
    if isinstance(exc, NotARepository):
        return _WireGitError(404, "GIT_REPO_NOT_FOUND", msg)
    if isinstance(exc, PushRejected):
        return _WireGitError(409, "GIT_PUSH_REJECTED", msg)
    if isinstance(exc, MergeConflict):
        return _WireGitError(409, "GIT_MERGE_CONFLICT", msg)
    if isinstance(exc, ChangesInTheWay):
        return _WireGitError(409, "GIT_DIRTY_WORKTREE", msg)
    if any(m in low for m in _TRANSPORT):
        return _WireGitError(502, "GIT_TRANSPORT_FAILED", msg)
    if any(m in low for m in _MISSING):
        return _WireGitError(404, "GIT_REPO_NOT_FOUND", msg)
    return _WireGitError(400, "GIT_OPERATION_FAILED", msg)


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "\x00" in value or "\n" in value:
        raise InvalidInput(f"{key} must be a single-line string")
    return value


def _git_service(request: web.Request, body: dict[str, Any], repo: str, **kw: Any) -> GitService:
    return GitService(
        service_of(request),
        sid(request),
        repo_dir=repo,
        token=_opt_str(body, "password"),
        username=_opt_str(body, "username"),
        configured_token=False,
        remote_timeout=_GIT_TIMEOUT,
        output_limit=EXEC_MAX_OUTPUT,  # a hook or a huge status must not grow the server without bound
        **kw,
    )


def _repo(raw: object) -> str:
    if raw is not None and not isinstance(raw, str):
        raise InvalidInput("path must be a string")
    return wire.workspace_path(raw)[0]


async def _run_git(op: Awaitable[object]) -> web.Response:
    try:
        await op
    except GitError as exc:
        raise _wire_error(exc) from None
    return web.Response(status=200)


def _is_local(url: str) -> bool:
    """A path or file:// URL: the sandbox's own files. `host:path` (scp-like) and every other scheme are remote."""
    if url.startswith(("/", "file://", "./", "../")):
        return True
    return "://" not in url and ":" not in url


async def clone(request: web.Request) -> web.Response:
    body = await json_body(request)
    url = _opt_str(body, "url")
    if url is None:
        raise InvalidInput("a repository url is required")
    dest = _repo(body.get("path"))
    if not dest:
        raise InvalidInput("clone into a new folder, not the sandbox's home")
    svc, box = service_of(request), sid(request)
    env = {"GIT_SSL_NO_VERIFY": "1"} if body.get("insecure_skip_tls") is True else None
    gs = _git_service(request, body, "", env=env)
    info = await svc.ensure_running(box)
    if not _is_local(url) and not info.network:
        raise _WireGitError(
            409,
            "GIT_TRANSPORT_FAILED",
            f"this sandbox has no network, so it cannot clone {gs.scrub(url)[:200]!r}: create it with network "
            "(network_block_all=False), or clone from a path inside the sandbox",
        )
    depth = body.get("depth")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)):
        raise InvalidInput("depth must be a positive number of commits")
    parent = paths.parent(dest)
    if parent:
        await svc.mkdir(box, parent, parents=True)
    await _run_git(gs.clone(url, dest, branch=_opt_str(body, "branch"), depth=depth))
    commit = _opt_str(body, "commit_id")
    if commit is not None:
        await _run_git(_git_service(request, body, dest).checkout_detached(commit))
    return web.Response(status=200)


async def init(request: web.Request) -> web.Response:
    body = await json_body(request)
    repo = _repo(body.get("path"))
    svc, box = service_of(request), sid(request)
    if repo:
        await svc.mkdir(box, repo, parents=True)
    branch = _opt_str(body, "initial_branch") or "main"
    return await _run_git(_git_service(request, body, repo).init(branch=branch, bare=body.get("bare") is True))


async def push(request: web.Request) -> web.Response:
    body = await json_body(request)
    gs = _git_service(request, body, _repo(body.get("path")))
    try:
        st = await gs.status()
    except GitError as exc:
        raise _wire_error(exc) from None
    branch = _opt_str(body, "branch") or st.branch
    if branch is None:
        raise _wire_error(DetachedHead("HEAD is detached: name the branch to push"))
    remote = _opt_str(body, "remote") or "origin"
    return await _run_git(gs.push_branch(remote, branch, set_upstream=body.get("set_upstream") is True))


async def pull(request: web.Request) -> web.Response:
    body = await json_body(request)
    gs = _git_service(request, body, _repo(body.get("path")))
    remote, branch = _opt_str(body, "remote"), _opt_str(body, "branch")
    try:
        st = await gs.status()
    except GitError as exc:
        raise _wire_error(exc) from None
    if remote is None and branch is None and st.upstream:
        return await _run_git(gs.pull())
    target = branch or st.branch
    if target is None:
        raise _wire_error(DetachedHead("HEAD is detached: name the branch to pull"))
    return await _run_git(gs.pull_from(remote or "origin", target))


async def list_remotes(request: web.Request) -> web.Response:
    gs = _git_service(request, {}, _repo(request.query.get("path")))
    try:
        names = await gs.remotes()
        remotes = [{"name": n, "url": gs.scrub(await gs.remote_url(n) or "")} for n in names]
    except GitError as exc:
        raise _wire_error(exc) from None
    return wire.json_response({"remotes": remotes})


async def add_remote(request: web.Request) -> web.Response:
    body = await json_body(request)
    gs = _git_service(request, body, _repo(body.get("path")))
    name, url = _opt_str(body, "name"), _opt_str(body, "url")
    if name is None or url is None:
        raise InvalidInput("a remote needs a name and a url")
    await _run_git(gs.add_remote(name, url, overwrite=body.get("overwrite") is True))
    if body.get("fetch") is True:
        await _run_git(gs.fetch_remote(name))
    return web.Response(status=200)


async def restore(request: web.Request) -> web.Response:
    body = await json_body(request)
    files = body.get("files")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and "\x00" not in f for f in files):
        raise InvalidInput("files must be a non-empty list of paths")
    gs = _git_service(request, body, _repo(body.get("path")))
    op = gs.restore(
        files, staged=body.get("staged") is True, worktree=body.get("worktree") is True, source=_opt_str(body, "source")
    )
    return await _run_git(op)


# -- porcelain: status, add, commit, branches, checkout --------------------------------------------------------
_GIT_STATUS = {
    ".": "Unmodified",
    "M": "Modified",
    "T": "Modified",
    "A": "Added",
    "D": "Deleted",
    "R": "Renamed",
    "C": "Copied",
    "U": "Updated but unmerged",
    "?": "Untracked",
}


async def _git(
    request: web.Request, repo: str, args: list[str], *, stdin: bytes | None = None, code: str = "GIT_OPERATION_FAILED"
) -> bytes:
    argv = ["git", "-c", "core.quotePath=false", *args]
    result = await run_command(
        request,
        sid(request),
        argv,
        cwd=repo,
        env={"GIT_TERMINAL_PROMPT": "0"},
        stdin=stdin,
        timeout=120,
        keep_output=EXEC_MAX_OUTPUT + 1,  # a hook or a huge status must not grow the server without bound
    )
    if len(result.stdout) > EXEC_MAX_OUTPUT:
        raise TooLarge(f"git {args[0]} printed more than {in_mib(EXEC_MAX_OUTPUT)}: narrow the request")
    if result.exit_code != 0:
        msg = output_line(result.stderr or result.stdout)
        if "not a git repository" in msg:
            raise _WireGitError(404, "GIT_REPO_NOT_FOUND", f"git: {msg}")
        if "already exists" in msg:
            raise _WireGitError(409, "GIT_BRANCH_EXISTS", f"git: {msg}")
        raise _WireGitError(400, code, f"git: {msg}")
    return result.stdout


def _git_repo(body: dict[str, Any] | None, request: web.Request) -> str:
    return _repo(body.get("path") if body is not None else request.query.get("path"))


async def git_status(request: web.Request) -> web.Response:
    repo = _git_repo(None, request)
    out = await _git(request, repo, ["status", "--porcelain=v2", "-z", "--branch"])
    status: dict[str, Any] = {"currentBranch": "", "fileStatus": [], "ahead": 0, "behind": 0, "detached": False}
    fields = out.decode("utf-8", "surrogateescape").split("\x00")
    i = 0
    while i < len(fields):
        rec = fields[i]
        i += 1
        if rec.startswith("# branch.head "):
            head = rec[len("# branch.head ") :]
            status["detached"] = head == "(detached)"
            status["currentBranch"] = "HEAD" if head == "(detached)" else head
        elif rec.startswith("# branch.upstream "):
            status["upstream"] = rec[len("# branch.upstream ") :]
            status["branchPublished"] = True
        elif rec.startswith("# branch.ab "):
            ahead, behind = rec[len("# branch.ab ") :].split()
            status["ahead"], status["behind"] = abs(int(ahead)), abs(int(behind))
        elif rec[:2] in ("1 ", "2 ", "u "):
            parts = rec.split(" ", {"1": 8, "2": 9, "u": 10}[rec[0]])
            xy, name = parts[1], parts[-1]
            extra = ""
            if rec[0] == "2":
                extra = fields[i]
                i += 1
            status["fileStatus"].append(
                {
                    "name": name,
                    "staging": _GIT_STATUS.get(xy[0], "Modified"),
                    "worktree": _GIT_STATUS.get(xy[1], "Modified"),
                    "extra": extra,
                }
            )
        elif rec.startswith("? "):
            status["fileStatus"].append({"name": rec[2:], "staging": "Untracked", "worktree": "Untracked", "extra": ""})
    return wire.json_response(status)


async def git_add(request: web.Request) -> web.Response:
    body = await json_body(request)
    repo = _git_repo(body, request)
    files = body.get("files") or []
    if not isinstance(files, list) or not all(isinstance(f, str) and "\x00" not in f for f in files) or not files:
        raise InvalidInput("files must be a non-empty list of paths")
    await _git(request, repo, ["add", "--", *files])
    return web.Response(status=200)


async def git_commit(request: web.Request) -> web.Response:
    body = await json_body(request)
    repo = _git_repo(body, request)
    message, author, email = body.get("message"), body.get("author"), body.get("email")
    if not all(isinstance(v, str) and "\x00" not in v and "\n" not in v for v in (author, email)):
        raise InvalidInput("author and email are required single-line strings")
    if not isinstance(message, str) or not message:
        raise InvalidInput("a commit message is required")
    args = ["-c", f"user.name={author}", "-c", f"user.email={email}", "commit", "-F", "-"]
    if body.get("allow_empty"):
        args.append("--allow-empty")
    # the message goes through stdin, never the command line (DESIGN §3 git.py)
    await _git(request, repo, args, stdin=message.encode())
    sha = (await _git(request, repo, ["rev-parse", "HEAD"])).decode().strip()
    return wire.json_response({"hash": sha})


async def git_branches(request: web.Request) -> web.Response:
    repo = _git_repo(None, request)
    out = await _git(request, repo, ["branch", "--format=%(HEAD)%(refname:short)"])
    branches, current = [], None
    for line in out.decode("utf-8", "replace").splitlines():
        if not line:
            continue
        name = line[1:]
        if line[0] == "*":
            current = name
        branches.append(name)
    result: dict[str, Any] = {"branches": branches}
    if current is not None:
        result["current"] = current
    return wire.json_response(result)


def _branch_name(body: dict[str, Any], key: str = "name") -> str:
    name = body.get(key)
    if not isinstance(name, str) or not name or name.startswith("-") or "\x00" in name:
        raise InvalidInput(f"{key} must be a branch name")
    return name


async def git_create_branch(request: web.Request) -> web.Response:
    body = await json_body(request)
    await _git(request, _git_repo(body, request), ["branch", "--", _branch_name(body)])
    return web.Response(status=201)


async def git_delete_branch(request: web.Request) -> web.Response:
    """Deleted even when not merged, as Daytona does; a missing branch is GIT_BRANCH_NOT_FOUND, the checked-out
    one a conflict."""
    body = await json_body(request)
    args = ["branch", "-D", "--", _branch_name(body)]
    try:
        await _git(request, _git_repo(body, request), args)
    except _WireGitError as exc:
        if exc.http_code == "GIT_REPO_NOT_FOUND":
            raise
        low = exc.message.lower()
        if "not found" in low:
            raise _WireGitError(404, "GIT_BRANCH_NOT_FOUND", exc.message) from None
        if "cannot delete" in low or "checked out" in low:
            raise _WireGitError(409, "CONFLICT", exc.message) from None
        raise
    return web.Response(status=204)


async def git_checkout(request: web.Request) -> web.Response:
    body = await json_body(request)
    await _git(request, _git_repo(body, request), ["checkout", _branch_name(body, "branch"), "--"])
    return web.Response(status=200)


def add_routes(app: web.Application, base: str) -> None:
    r = app.router
    r.add_post(f"{base}/git/clone", clone)
    r.add_post(f"{base}/git/init", init)
    r.add_post(f"{base}/git/push", push)
    r.add_post(f"{base}/git/pull", pull)
    r.add_get(f"{base}/git/remotes", list_remotes)
    r.add_post(f"{base}/git/remotes", add_remote)
    r.add_post(f"{base}/git/restore", restore)
    r.add_get(f"{base}/git/status", git_status)
    r.add_post(f"{base}/git/add", git_add)
    r.add_post(f"{base}/git/commit", git_commit)
    r.add_get(f"{base}/git/branches", git_branches)
    r.add_post(f"{base}/git/branches", git_create_branch)
    r.add_delete(f"{base}/git/branches", git_delete_branch)
    r.add_post(f"{base}/git/checkout", git_checkout)
