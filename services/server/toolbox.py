"""The toolbox API under `{toolboxProxyUrl}/{sandboxId}`: files, exec, git and info (daytona-wire.md §4-6).

Every path goes through `wire.workspace_path` (absolute paths only under the sandbox's home; then
`services.paths.normalize`), and every operation through the caller's `SandboxService`, so ownership, auto-start
and the audit log apply. Git and content search run *inside the sandbox* through exec: the host never runs a tool
that reads a sandbox's config or hooks (DESIGN §5.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import posixpath
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from services import paths
from services.errors import (
    FileNotFound,
    InvalidInput,
    OperationTimeout,
    PathRejected,
    ProviderError,
    SandbenchError,
    TooLarge,
)
from services.models import ExecResult
from services.provider import WriteStream
from services.sandbox_service import SandboxService
from services.server import charts, interpreter, pty, sandbox_env, sessions, toolbox_git, unsupported, wire
from services.server.context import identity_of, json_body, read_body, service_of, state_of
from services.server.limits import MiB, ServeLimits
from services.server.volumes import exec_cwd, inside_path

log = logging.getLogger(__name__)

EXEC_MAX_OUTPUT = 16 * 1024 * 1024
# `sh -c SCRIPT CMD CWD`: the client's command string arrives as $0 and its working directory as $1 — data, never
# spliced into our script. The `cd` runs inside the sandbox, so any folder of the sandbox's own file system (its
# home, /tmp, /usr/...) is a valid cwd and no host path is ever reached. A failed `cd` is the only thing that can
# write to the original stderr (the command's stderr is merged into stdout, as the Daytona daemon does).
EXEC_WRAPPER = 'cd -- "$1" 2>/dev/null || { echo cwd >&2; exit 1; }; exec 2>&1; exec "${SHELL:-/bin/sh}" -c "$0"'
CWD_MAX = 4096


def sid(request: web.Request) -> str:
    return request.match_info["sid"]


CLIENT_CHECK = 1.0  # seconds between checks that the client of a running command is still connected


async def run_command(request: web.Request, box: str, argv: list[str], **kw: Any) -> ExecResult:
    """The caller's command in sandbox `box`, within its identity's cap on commands running at once. A client
    that disconnects (its request timed out, it was killed) ends the command: aiohttp does not cancel a handler
    when its client goes, and the process would otherwise run on, holding its slot, until it ended by itself."""
    with state_of(request).exec_slot(identity_of(request)):
        task = asyncio.ensure_future(service_of(request).exec(box, argv, **kw))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=CLIENT_CHECK)
                if done:
                    return task.result()
                transport = request.transport
                if transport is None or transport.is_closing():
                    log.info("client of %s in %s went away: the command is ended", argv[0], box)
                    raise ClientGone("the client disconnected; the command was ended")
        finally:
            if not task.done():
                task.cancel()  # cancelling the exec kills its process (the provider's contract)
                with contextlib.suppress(asyncio.CancelledError, SandbenchError):
                    await task


class ClientGone(SandbenchError):
    http_status, http_code = 499, "CLIENT_CLOSED_REQUEST"


def qpath(request: web.Request, key: str = "path") -> tuple[str, str]:
    return wire.workspace_path(request.query.get(key))


# -- files ------------------------------------------------------------------------------------------------------
async def list_files(request: web.Request) -> web.Response:
    rel, prefix = qpath(request)
    entries = await service_of(request).list_dir(sid(request), rel)
    return wire.json_response([wire.file_info(e, prefix) for e in entries])


async def file_info(request: web.Request) -> web.Response:
    rel, prefix = qpath(request)
    entry = await service_of(request).stat(sid(request), rel)
    return wire.json_response(wire.file_info(entry, prefix))


async def create_folder(request: web.Request) -> web.Response:
    rel, _ = qpath(request)
    if not rel:
        return web.Response(status=201)
    svc = service_of(request)
    try:
        entry = await svc.stat(sid(request), rel)
    except FileNotFound:
        entry = await svc.mkdir(sid(request), rel, parents=True)
    else:
        if not entry.is_dir:
            raise InvalidInput(f"{rel!r} exists and is not a folder")
    mode = request.query.get("mode")
    # the SDK always sends a mode; a chmod is a sandboxed process, so run one only when it changes something
    if mode and not (re.fullmatch(r"[0-7]{3,4}", mode) and int(mode, 8) == entry.mode & 0o7777):
        await _chmod(request, rel, mode)
    return web.Response(status=201)


async def delete_file(request: web.Request) -> web.Response:
    rel, _ = qpath(request)
    recursive = request.query.get("recursive", "false").lower() == "true"
    await service_of(request).delete_path(sid(request), rel, recursive=recursive)
    return web.Response(status=204)


async def move_files(request: web.Request) -> web.Response:
    src, _ = qpath(request, "source")
    dst, _ = qpath(request, "destination")
    # like the daemon (a rename), a move replaces an existing file; DaytonaProvider checks first when asked not to
    await service_of(request).move(sid(request), src, dst, overwrite=True)
    return web.Response(status=200)


async def _chmod(request: web.Request, rel: str, mode: str) -> None:
    if not re.fullmatch(r"[0-7]{3,4}", mode):
        raise InvalidInput("mode must be octal digits, e.g. 644")
    result = await run_command(request, sid(request), ["chmod", mode, "--", await inside_path(request, rel)])
    if result.exit_code != 0:
        raise ProviderError(f"chmod failed: {_first_line(result.stderr or result.stdout)}")


async def set_permissions(request: web.Request) -> web.Response:
    rel, _ = qpath(request)
    if request.query.get("owner") or request.query.get("group"):
        raise InvalidInput("changing owner or group is not supported in a local sandbox")
    mode = request.query.get("mode")
    if mode:
        await _chmod(request, rel, mode)
    return web.Response(status=200)


async def search_files(request: web.Request) -> web.Response:
    rel, prefix = qpath(request)
    pattern = request.query.get("pattern", "*")
    found = await service_of(request).search(sid(request), pattern, path=rel)
    return wire.json_response({"files": [wire.to_sandbox_path(p, prefix) for p in found]})


async def find_in_files(request: web.Request) -> web.Response:
    rel, prefix = qpath(request)
    pattern = request.query.get("pattern", "")
    if not pattern or "\x00" in pattern:
        raise InvalidInput("a non-empty pattern is required")
    # grep runs inside the sandbox; -Z separates the file name with NUL so any name parses. Under a volume's mount
    # point it is given the mount's absolute path (the volume is not in the home it runs in), its names mapped back.
    where = await inside_path(request, rel)
    argv = ["grep", "-rnIZF", "--exclude-dir=.git", "-e", pattern, "--", where]
    # kept output is bounded; a match cut at the end of it only loses the rest of its line
    result = await run_command(request, sid(request), argv, timeout=60, keep_output=EXEC_MAX_OUTPUT)
    if result.exit_code not in (0, 1) and not result.stdout:
        raise ProviderError(f"search failed: {_first_line(result.stderr)}")
    matches: list[dict[str, Any]] = []
    for line in result.stdout.split(b"\n"):
        name, sep, rest = line.partition(b"\x00")
        if not sep:
            continue
        num, _, content = rest.partition(b":")
        if not num.isdigit():
            continue
        found = name.decode("utf-8", "replace")
        file_rel = paths.normalize(rel + found[len(where) :] if where.startswith("/") else found)
        matches.append(
            {
                "file": wire.to_sandbox_path(file_rel, prefix),
                "line": int(num),
                "content": content.decode("utf-8", "replace"),
            }
        )
        if len(matches) >= 10_000:
            break
    return wire.json_response(matches)


REPLACE_FILE_MAX = 64 * MiB  # a file is read whole to replace in it
REPLACE_MAX_FILES = 10_000


async def replace_in_files(request: web.Request) -> web.Response:
    """Replace every occurrence of `pattern` (a literal string, as the daemon's `strings.ReplaceAll`) by `newValue`
    in each file, through the file API: symlinks are never followed, each file is replaced atomically and only if it
    did not change since it was read. A file that fails gets `success: false` and its error; the others go on."""
    body = await json_body(request)
    files, pattern, new_value = body.get("files"), body.get("pattern"), body.get("newValue")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise InvalidInput("files must be a list of paths")
    if len(files) > REPLACE_MAX_FILES:
        raise InvalidInput(f"at most {REPLACE_MAX_FILES} files per replace")
    if not isinstance(pattern, str) or not pattern:
        raise InvalidInput("a non-empty pattern is required")
    if not isinstance(new_value, str):
        raise InvalidInput("newValue must be a string")
    svc, box = service_of(request), sid(request)
    await svc.ensure_running(box)  # ownership first: another owner's sandbox is a 404, not a list of failures
    old, new = pattern.encode(), new_value.encode()
    results: list[dict[str, Any]] = []
    for raw in files:
        try:
            rel, _ = wire.workspace_path(raw)
            data = await svc.read_file(box, rel, limit=REPLACE_FILE_MAX)
            if data.truncated:
                raise TooLarge(f"{raw[:200]!r} is over {_mib(REPLACE_FILE_MAX)}: not replaced in")
            if old in data.data:
                await svc.write_file(box, rel, data.data.replace(old, new), expected_mtime=data.mtime)
        except SandbenchError as exc:
            results.append({"file": raw, "success": False, "error": exc.message})
            continue
        results.append({"file": raw, "success": True})
    return wire.json_response(results)


PATH_PART_MAX = 8192  # bytes of a `files[i].path` part: a path, never content
CHUNK = 256 * 1024  # bytes per read from disk or from the request, and per write to either


def _limits(request: web.Request) -> ServeLimits:
    return state_of(request).limits


def _mib(n: int) -> str:
    return f"{n / MiB:g} MiB"


async def bulk_upload(request: web.Request) -> web.Response:
    """Each `files[i].file` part streams into an atomic write (temp file beside the target, renamed when the part
    is complete): nothing is held in memory whole, and the sandbox never sees a half-written file."""
    limits = _limits(request)
    cap = limits.upload_max_bytes
    if request.content_length is not None and request.content_length > cap:
        raise _upload_too_large(f"an upload of {_mib(request.content_length)} is over the {_mib(cap)} limit")
    if request.content_type != "multipart/form-data":  # aiohttp's reader would fail on anything else, untyped
        raise InvalidInput("a bulk upload is a multipart/form-data body")
    reader = await request.multipart()
    targets: dict[str, tuple[str, str]] = {}
    written: list[dict[str, Any]] = []
    received = 0
    while True:
        part = await read_body(request, reader.next())
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("nested multipart is not supported")
        m = re.fullmatch(r"files\[(\d+)\]\.(path|file)", part.name or "")
        if m is None:
            await read_body(request, part.release())
            continue
        index, kind = m.group(1), m.group(2)
        if kind == "path":
            # the destination comes from the `.path` part; the file part's filename is only a percent-encoded echo
            raw = await _read_small(request, part, PATH_PART_MAX, "a files[i].path part")
            received += len(raw)
            targets[index] = _upload_target(raw.decode("utf-8", "surrogateescape"))
            continue
        if index not in targets:
            raise InvalidInput(f"files[{index}].path must come before files[{index}].file")
        if len(written) >= limits.upload_max_files:
            raise _upload_too_large(f"an upload of more than {limits.upload_max_files} files is over the limit")
        rel, prefix = targets.pop(index)
        stream = await _open_write(request, rel)
        try:
            while chunk := await read_body(request, part.read_chunk(CHUNK)):
                received += len(chunk)
                if received > cap:
                    raise _upload_too_large(f"the upload is over the {_mib(cap)} limit; {rel!r} was not written")
                await stream.write(chunk)
            await stream.commit()
        finally:
            await stream.abort()
        written.append({"path": wire.to_sandbox_path(rel, prefix), "bytes": stream.written})
    if targets:
        raise InvalidInput("each upload needs both files[i].path and files[i].file")
    return wire.json_response({"files": written})


def _upload_target(raw: str) -> tuple[str, str]:
    try:
        return wire.workspace_path(raw)
    except PathRejected:
        if not raw.startswith("/"):
            raise
        # the SDK turns every upload failure into a plain DaytonaError("<status>: <message>"): the message must
        # say what to do. Only the home persists: /tmp is private to each process of a local sandbox.
        raise PathRejected(
            f"uploads go under {wire.HOME} (the sandbox's workspace, the only folder that persists): "
            f"{raw[:200]!r} is outside it"
        ) from None


def _upload_too_large(message: str) -> TooLarge:
    return TooLarge(f"{message} (sandbench serve --upload-max-mib / --upload-max-files)")


async def _read_small(request: web.Request, part: BodyPartReader, limit: int, what: str) -> bytes:
    buf = bytearray()
    while chunk := await read_body(request, part.read_chunk(CHUNK)):
        buf += chunk
        if len(buf) > limit:
            raise InvalidInput(f"{what} is over {limit} bytes")
    return bytes(buf)


async def _open_write(request: web.Request, rel: str) -> WriteStream:
    svc = service_of(request)
    try:
        return await svc.open_write(sid(request), rel)
    except FileNotFound:
        # like the daemon, uploads create the missing parent folders
        parent = paths.parent(rel)
        if not parent:
            raise
        await svc.mkdir(sid(request), parent, parents=True)
        return await svc.open_write(sid(request), rel)


def _disposition(name: str, path: str) -> str:
    quoted = path.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
    # filename* wins in the SDK's parser and carries any byte exactly; the SDK matches it against what it asked for
    return f'form-data; name="{name}"; filename="{quoted}"; filename*=utf-8\'\'{quote(path, safe="")}'


def _error_part(boundary: str, raw: str, exc: SandbenchError) -> bytes:
    status, code = wire.status_of(exc)
    err = json.dumps({"message": exc.public, "statusCode": status, "code": code, "source": "DAYTONA_DAEMON"})
    data = err.encode()
    head = f"Content-Disposition: {_disposition('error', raw)}\r\nContent-Type: application/json\r\n"
    return f"--{boundary}\r\n{head}Content-Length: {len(data)}\r\n\r\n".encode() + data + b"\r\n"


def _too_large(request: web.Request, message: str) -> web.Response:
    """413 with the message also as the reason phrase: the SDK's download raises `ClientResponseError`, whose text
    carries the reason, not the body."""
    full = f"{message} (sandbench serve --download-max-mib / --download-max-paths)"
    resp = wire.error_response(413, full, "TOO_LARGE", request)
    resp.set_status(413, reason=f"Payload Too Large: {full}")
    return resp


async def bulk_download(request: web.Request) -> web.StreamResponse:
    """A multipart response streamed from disk, one file at a time in `CHUNK`s; the request is refused (413) up
    front when it names more paths, or more bytes, than the limits allow."""
    body = await json_body(request)
    requested = body.get("paths")
    if not isinstance(requested, list) or not all(isinstance(p, str) for p in requested):
        raise InvalidInput("paths must be a list of strings")
    limits = _limits(request)
    if len(requested) > limits.download_max_paths:
        return _too_large(
            request, f"{len(requested)} paths is over the limit of {limits.download_max_paths} per download"
        )
    svc = service_of(request)
    box = sid(request)
    # ownership before anything: another owner's sandbox is a 404, not a multipart of per-file errors
    await svc.ensure_running(box, write=False)
    cap = limits.download_max_bytes
    total = 0
    for raw in requested:
        with contextlib.suppress(SandbenchError):  # a path that fails becomes an error part below
            entry = await svc.stat(box, wire.workspace_path(raw)[0])
            total += entry.size if entry.kind == "file" else 0
    if total > cap:
        return _too_large(request, f"a download of {_mib(total)} is over the {_mib(cap)} limit")
    boundary = secrets.token_hex(16)
    resp = web.StreamResponse(headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    await resp.prepare(request)
    try:
        await _send_parts(resp, svc, box, boundary, requested, cap)
    except (ConnectionError, SandbenchError) as exc:
        # the status is sent already: end the connection, so the client sees a truncated multipart, not a success
        log.info("bulk-download in %s cut short: %s", box, getattr(exc, "message", None) or type(exc).__name__)
        if request.protocol is not None:
            request.protocol.force_close()
        return resp
    await resp.write_eof()
    return resp


async def _send_parts(
    resp: web.StreamResponse, svc: SandboxService, box: str, boundary: str, requested: list[str], cap: int
) -> None:
    sent = 0
    for raw in requested:
        try:
            stream = await svc.open_read(box, wire.workspace_path(raw)[0])
        except SandbenchError as exc:
            await resp.write(_error_part(boundary, raw, exc))
            continue
        try:
            size = stream.size
            if sent + size > cap:  # it grew since the check above
                await resp.write(_error_part(boundary, raw, TooLarge(f"{raw!r} grew past the download limit")))
                continue
            head = f"Content-Disposition: {_disposition('file', raw)}\r\nContent-Type: application/octet-stream\r\n"
            await resp.write(f"--{boundary}\r\n{head}Content-Length: {size}\r\n\r\n".encode())
            # exactly the size the part announced: a file that grows meanwhile is cut there, one that shrinks ends
            # the response early (the SDK reports it truncated), never a part that lies about its length
            left = size
            while left:
                chunk = await stream.read(min(CHUNK, left))
                if not chunk:
                    raise ProviderError(f"{raw!r} shrank while it was being sent")
                await resp.write(chunk)
                left -= len(chunk)
            await resp.write(b"\r\n")
            sent += size
        finally:
            await stream.close()
    await resp.write(f"--{boundary}--\r\n".encode())


# -- process ----------------------------------------------------------------------------------------------------
async def execute(request: web.Request) -> web.Response:
    body = await json_body(request)
    command = body.get("command")
    if not isinstance(command, str) or not command.strip():
        raise InvalidInput("command must be a non-empty string")
    cwd = await exec_cwd(request, _exec_cwd(body.get("cwd")))
    envs = body.get("envs") or {}
    if not isinstance(envs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in envs.items()):
        raise InvalidInput("envs must map strings to strings")
    timeout = body.get("timeout")
    if timeout is not None and (not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0):
        raise InvalidInput("timeout must be a positive number of seconds")
    env = state_of(request).env.merged(sid(request), envs)
    result = await run_command(
        request,
        sid(request),
        ["/bin/sh", "-c", EXEC_WRAPPER, command, cwd],
        env=env,
        timeout=timeout,
        keep_output=EXEC_MAX_OUTPUT + 1,
    )
    if result.timed_out:
        raise OperationTimeout(f"command execution timeout: the command ran longer than {timeout:g} s and was killed")
    if result.stderr:
        raise InvalidInput(f"cwd {cwd[:200]!r} is not a folder inside the sandbox")
    return wire.json_response({"exitCode": result.exit_code, "result": _output_text(result)})


def _output_text(result: ExecResult) -> str:
    """The merged output of an exec, cut at `EXEC_MAX_OUTPUT` with a note saying so (the provider kept one byte
    more than that, so a cut is visible)."""
    return _cut_text(result.stdout + result.stderr)


def _cut_text(output: bytes) -> str:
    note = ""
    if len(output) > EXEC_MAX_OUTPUT:
        output = output[:EXEC_MAX_OUTPUT]
        note = f"\n[sandbench serve: output cut at {_mib(EXEC_MAX_OUTPUT)}]\n"
    # surrogateescape keeps bytes that are not UTF-8 (as \udcXX escapes in the JSON) instead of losing them
    return output.decode("utf-8", "surrogateescape") + note


def _exec_cwd(raw: object) -> str:
    """The absolute in-sandbox folder an exec runs in: relative paths (and the home's aliases) name the workspace
    as everywhere else; other absolute paths are taken as the sandbox sees them, for exec only (the file API still
    refuses them), since the `cd` happens inside the sandbox's mount namespace."""
    if raw is not None and not isinstance(raw, str):
        raise InvalidInput("cwd must be a string")
    if raw and raw.startswith("/") and not any(raw == h or raw.startswith(h + "/") for h in wire.HOME_ALIASES):
        if "\x00" in raw or len(raw) > CWD_MAX:
            raise InvalidInput("cwd must be a path without NUL bytes")
        return posixpath.normpath(raw)
    rel, _ = wire.workspace_path(raw)
    return f"{wire.HOME}/{rel}" if rel else wire.HOME


CODE_RUNNERS = {"python": ["python3", "-c"], "javascript": ["node", "-e"]}
# stderr merged into stdout as the daemon does; the program and the code stay argv, never shell text
MERGE_WRAPPER = 'exec 2>&1; exec "$@"'
# python: the code's stdout and stderr both go to the exec's stderr, its stdout becomes fd 3, the chart channel of
# `chart_hook` (one JSON chart a line), so no chart marker can ever be in (or be forged by) the code's output
CHART_WRAPPER = 'exec 3>&1 1>&2; exec "$@"'
CHART_HOOK = Path(__file__).with_name("chart_hook.py").read_text()
CHART_DESCRIBE = Path(__file__).with_name("chart_describe.py").read_text()
# `python3 -c CHART_BOOT HOOK DESCRIBE CODE ARGV...`: builtins only, nothing bound in the user's __main__
# (chart_hook.py says how the code still runs as under `python3 -c CODE ARGV...`)
CHART_BOOT = 'exec(compile(__import__("sys").argv.pop(1), "<sandbench-charts>", "exec"), {"__name__": "_charts"})'


CODE_MAX_BYTES = 120 * 1024  # below Linux's 128 KiB for one argument (MAX_ARG_STRLEN)


async def code_run(request: web.Request) -> web.Response:
    body = await json_body(request)
    code, language = body.get("code"), body.get("language", "python")
    if not isinstance(code, str):
        raise InvalidInput("code must be a string")
    if len(code.encode()) > CODE_MAX_BYTES:
        # the code travels as one argv entry, which Linux caps at 128 KiB: say so instead of failing to start
        raise InvalidInput(
            f"code is {len(code.encode()) // 1024} KiB: code_run takes at most {CODE_MAX_BYTES // 1024} KiB; "
            "upload it as a file (fs.upload_file) and run it with process.exec"
        )
    runner = CODE_RUNNERS.get(language) if isinstance(language, str) else None
    if runner is None:
        raise InvalidInput(f"language {str(language)[:40]!r} is not supported here (python, javascript)")
    argv = body.get("argv") or []
    envs = body.get("envs") or {}
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise InvalidInput("argv must be a list of strings")
    if not isinstance(envs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in envs.items()):
        raise InvalidInput("envs must map strings to strings")
    timeout = body.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0):
        raise InvalidInput("timeout must be a positive number of seconds")
    python = language == "python"
    if python:
        command = [
            "/bin/sh",
            "-c",
            CHART_WRAPPER,
            "sh",
            "python3",
            "-c",
            CHART_BOOT,
            CHART_HOOK,
            CHART_DESCRIBE,
            code,
            *argv,
        ]
    else:
        command = ["/bin/sh", "-c", MERGE_WRAPPER, "sh", *runner, code, *argv]
    env = state_of(request).env.merged(sid(request), envs)
    result = await run_command(
        request, sid(request), command, env=env, timeout=timeout, keep_output=EXEC_MAX_OUTPUT + 1
    )
    if result.timed_out:
        raise OperationTimeout(f"code execution timeout: the code ran longer than {timeout} s and was killed")
    if python:
        output = _cut_text(result.stderr)
        return wire.json_response(
            {"exitCode": result.exit_code, "result": output, "artifacts": {"charts": charts.parse(result.stdout)}}
        )
    return wire.json_response(
        {"exitCode": result.exit_code, "result": _output_text(result), "artifacts": {"charts": []}}
    )


# -- git (inside the sandbox) -----------------------------------------------------------------------------------
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


def _first_line(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    line = text.splitlines()[0] if text else "no output"
    return "".join(c if c.isprintable() else "?" for c in line)[:300]


async def _git(
    request: web.Request, repo: str, args: list[str], *, stdin: bytes | None = None, code: str = "GIT_OPERATION_FAILED"
) -> bytes:
    argv = ["git", "-c", "core.quotePath=false", *args]
    result = await run_command(
        request, sid(request), argv, cwd=repo, env={"GIT_TERMINAL_PROMPT": "0"}, stdin=stdin, timeout=120
    )
    if result.exit_code != 0:
        msg = _first_line(result.stderr or result.stdout)
        if "not a git repository" in msg:
            raise _GitError(404, "GIT_REPO_NOT_FOUND", msg)
        if "already exists" in msg:
            raise _GitError(409, "GIT_BRANCH_EXISTS", msg)
        raise _GitError(400, code, msg)
    return result.stdout


class _GitError(SandbenchError):
    title = "Git error"

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"git: {message}")
        self.http_status = status
        self.http_code = code


def _git_repo(body: dict[str, Any] | None, request: web.Request) -> str:
    raw = body.get("path") if body is not None else request.query.get("path")
    if raw is not None and not isinstance(raw, str):
        raise InvalidInput("path must be a string")
    return wire.workspace_path(raw)[0]


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
    except _GitError as exc:
        if exc.http_code == "GIT_REPO_NOT_FOUND":
            raise
        low = exc.message.lower()
        if "not found" in low:
            raise _GitError(404, "GIT_BRANCH_NOT_FOUND", exc.message.removeprefix("git: ")) from None
        if "cannot delete" in low or "checked out" in low:
            raise _GitError(409, "CONFLICT", exc.message.removeprefix("git: ")) from None
        raise
    return web.Response(status=204)


async def git_checkout(request: web.Request) -> web.Response:
    body = await json_body(request)
    await _git(request, _git_repo(body, request), ["checkout", _branch_name(body, "branch"), "--"])
    return web.Response(status=200)


# -- info -------------------------------------------------------------------------------------------------------
async def home_dir(request: web.Request) -> web.Response:
    await service_of(request).get(sid(request))
    return wire.json_response({"dir": wire.HOME})


async def version(request: web.Request) -> web.Response:
    await service_of(request).get(sid(request))
    return wire.json_response({"version": "sandbench"})


async def update_env(request: web.Request) -> web.Response:
    """`sandbox.update_env`: the sandbox's variables for the processes it starts from now on (sandbox_env.py)."""
    sandbox_id = sid(request)
    await service_of(request).get(sandbox_id)  # ownership: another owner's sandbox is a plain 404
    body = await json_body(request)
    store = state_of(request).env
    store.set(sandbox_id, sandbox_env.updated(store.get(sandbox_id), body))
    return wire.json_response({})


def add_routes(app: web.Application) -> None:
    r = app.router
    base = "/toolbox/{sid}"
    r.add_get(f"{base}/files", list_files)
    r.add_delete(f"{base}/files", delete_file)
    r.add_get(f"{base}/files/info", file_info)
    r.add_post(f"{base}/files/folder", create_folder)
    r.add_post(f"{base}/files/move", move_files)
    r.add_post(f"{base}/files/permissions", set_permissions)
    r.add_get(f"{base}/files/find", find_in_files)
    r.add_get(f"{base}/files/search", search_files)
    r.add_post(f"{base}/files/bulk-upload", bulk_upload)
    r.add_post(f"{base}/files/bulk-download", bulk_download)
    r.add_post(f"{base}/files/replace", replace_in_files)
    r.add_post(f"{base}/process/execute", execute)
    r.add_post(f"{base}/process/code-run", code_run)
    r.add_get(f"{base}/git/status", git_status)
    r.add_post(f"{base}/git/add", git_add)
    r.add_post(f"{base}/git/commit", git_commit)
    r.add_get(f"{base}/git/branches", git_branches)
    r.add_post(f"{base}/git/branches", git_create_branch)
    r.add_delete(f"{base}/git/branches", git_delete_branch)
    r.add_post(f"{base}/git/checkout", git_checkout)
    r.add_get(f"{base}/user-home-dir", home_dir)
    r.add_get(f"{base}/work-dir", home_dir)
    r.add_get(f"{base}/version", version)
    pty.add_routes(app, base)
    sessions.add_routes(app, base)
    interpreter.add_routes(app, base)
    toolbox_git.add_routes(app, base)
    r.add_post(f"{base}/env", update_env)
    # last: whatever the SDK can call that is not above (after authentication, like every route)
    r.add_route("*", f"{base}/{{rest:.*}}", unsupported.handler)
