"""The toolbox's commands (daytona-wire.md §5): `process/execute` (a shell command string, run by the sandbox's
own shell), `process/code-run` (Python or JavaScript source, with matplotlib charts collected), and `env` (the
sandbox's variables for what it starts next).

`run_command` is the one way a toolbox route runs a process (here, and content search and git in the sibling
modules): inside the caller's per-identity cap on commands running at once, ended when its client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
from pathlib import Path
from typing import Any

from aiohttp import web

from services.errors import (
    InvalidInput,
    OperationTimeout,
    SandbenchError,
)
from services.exec_mark import APP_ENV, app_argv
from services.models import ExecResult
from services.server import charts, sandbox_env, wire
from services.server.context import actor_of, identity_of, json_body, service_of, sid, state_of
from services.server.limits import in_mib
from services.server.volumes import exec_cwd
from services.text import first_line

log = logging.getLogger(__name__)


EXEC_MAX_OUTPUT = 16 * 1024 * 1024
# `sh -c SCRIPT CMD CWD`: the client's command string arrives as $0 and its working directory as $1 — data, never
# spliced into our script. The `cd` runs inside the sandbox, so any folder of the sandbox's own file system (its
# home, /tmp, /usr/...) is a valid cwd and no host path is ever reached. A failed `cd` is the only thing that can
# write to the original stderr (the command's stderr is merged into stdout, as the Daytona daemon does).
EXEC_WRAPPER = 'cd -- "$1" 2>/dev/null || { echo cwd >&2; exit 1; }; exec 2>&1; exec "${SHELL:-/bin/sh}" -c "$0"'
CWD_MAX = 4096

CLIENT_CHECK = 1.0  # seconds between checks that the client of a running command is still connected


def output_line(data: bytes) -> str:
    """The first line of a failed command's output, safe, for its error message."""
    return first_line(data.decode("utf-8", "replace"), 300, empty="no output")


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
    shown = _app_exec(request, envs, command)
    env = state_of(request).env.merged(sid(request), envs)
    result = await run_command(
        request,
        sid(request),
        ["/bin/sh", "-c", EXEC_WRAPPER, command, cwd],
        env=env,
        timeout=timeout,
        keep_output=EXEC_MAX_OUTPUT + 1,
        # the audit log shows the agent's command, not our wrapper (the app's own: as it ran it, internal)
        shown_argv=shown or ["sh", "-c", command],
        shown_cwd=cwd,
        shown_internal=shown is not None,
    )
    if result.timed_out:
        raise OperationTimeout(f"command execution timeout: the command ran longer than {timeout:g} s and was killed")
    if result.stderr:
        raise InvalidInput(f"cwd {cwd[:200]!r} is not a folder inside the sandbox")
    return wire.json_response({"exitCode": result.exit_code, "result": _output_text(result)})


def _app_exec(request: web.Request, envs: dict[str, str], command: str) -> list[str] | None:
    """The argv the sandbench app ran, when `command` is the app's own exec (its Daytona provider's mark in
    `envs`, which is dropped here: services/exec_mark.py), for the audit log to show as the app's, hidden by
    default. None for anything else — and always for an acting token, so an agent can never hide its commands
    from the Timeline's default view. Display only: nothing else depends on it."""
    marked = envs.pop(APP_ENV, None) == "1"
    if not marked or actor_of(request) != identity_of(request):
        return None
    return app_argv(command)


def _output_text(result: ExecResult) -> str:
    """The merged output of an exec, cut at `EXEC_MAX_OUTPUT` with a note saying so (the provider kept one byte
    more than that, so a cut is visible)."""
    return _cut_text(result.stdout + result.stderr)


def _cut_text(output: bytes) -> str:
    note = ""
    if len(output) > EXEC_MAX_OUTPUT:
        output = output[:EXEC_MAX_OUTPUT]
        note = f"\n[sandbench serve: output cut at {in_mib(EXEC_MAX_OUTPUT)}]\n"
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
        request,
        sid(request),
        command,
        env=env,
        timeout=timeout,
        keep_output=EXEC_MAX_OUTPUT + 1,
        shown_argv=[*runner, code, *argv],  # the agent's code as the audit log shows it, without the chart hook
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


async def update_env(request: web.Request) -> web.Response:
    """`sandbox.update_env`: the sandbox's variables for the processes it starts from now on (sandbox_env.py)."""
    sandbox_id = sid(request)
    await service_of(request).get(sandbox_id)  # ownership: another owner's sandbox is a plain 404
    body = await json_body(request)
    store = state_of(request).env
    store.set(sandbox_id, sandbox_env.updated(store.get(sandbox_id), body))
    return wire.json_response({})


def add_routes(app: web.Application, base: str) -> None:
    r = app.router
    r.add_post(f"{base}/process/execute", execute)
    r.add_post(f"{base}/process/code-run", code_run)
    r.add_post(f"{base}/env", update_env)
