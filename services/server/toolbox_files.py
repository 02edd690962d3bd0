"""The toolbox's file routes (daytona-wire.md §4): list, info, create folder, delete, move, permissions, name search,
content search (`files/find`, grep run *inside the sandbox* by `run_command`) and replace.

Every path goes through `wire.workspace_path` (absolute paths only under the sandbox's home; then
`services.paths.normalize`), and every operation through the caller's `SandboxService`, so ownership, auto-start
and the audit log apply. Uploads and downloads are services/server/toolbox_transfer.py.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from services import paths
from services.errors import (
    FileNotFound,
    InvalidInput,
    ProviderError,
    SandbenchError,
    TooLarge,
)
from services.server import wire
from services.server.context import json_body, qpath, service_of, sid
from services.server.limits import MiB, in_mib
from services.server.toolbox_process import EXEC_MAX_OUTPUT, output_line, run_command
from services.server.volumes import inside_path

log = logging.getLogger(__name__)


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
        raise ProviderError(f"chmod failed: {output_line(result.stderr or result.stdout)}")


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
        raise ProviderError(f"search failed: {output_line(result.stderr)}")
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
                raise TooLarge(f"{raw[:200]!r} is over {in_mib(REPLACE_FILE_MAX)}: not replaced in")
            if old in data.data:
                await svc.write_file(box, rel, data.data.replace(old, new), expected_mtime=data.mtime)
        except SandbenchError as exc:
            results.append({"file": raw, "success": False, "error": exc.message})
            continue
        results.append({"file": raw, "success": True})
    return wire.json_response(results)


def add_routes(app: web.Application, base: str) -> None:
    r = app.router
    r.add_get(f"{base}/files", list_files)
    r.add_delete(f"{base}/files", delete_file)
    r.add_get(f"{base}/files/info", file_info)
    r.add_post(f"{base}/files/folder", create_folder)
    r.add_post(f"{base}/files/move", move_files)
    r.add_post(f"{base}/files/permissions", set_permissions)
    r.add_get(f"{base}/files/find", find_in_files)
    r.add_get(f"{base}/files/search", search_files)
    r.add_post(f"{base}/files/replace", replace_in_files)
