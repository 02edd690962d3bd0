"""The toolbox API under `{toolboxProxyUrl}/{sandboxId}` (daytona-wire.md §4-6): its route table, and the two info
routes. The routes live by job: files (toolbox_files.py), uploads and downloads (toolbox_transfer.py), commands
and code runs (toolbox_process.py), git (toolbox_git.py), PTYs (pty.py), process sessions (sessions.py), the code
interpreter (interpreter.py); whatever else the SDK calls under the toolbox answers 501 (unsupported.py).

Every operation goes through the caller's `SandboxService`, so ownership, auto-start and the audit log apply. Git
and content search run *inside the sandbox* through exec: the host never runs a tool that reads a sandbox's config
or hooks (DESIGN §5.2).
"""

from __future__ import annotations

from aiohttp import web

from services.server import (
    interpreter,
    pty,
    sessions,
    toolbox_files,
    toolbox_git,
    toolbox_process,
    toolbox_transfer,
    unsupported,
    wire,
)
from services.server.context import service_of, sid

BASE = "/toolbox/{sid}"


async def home_dir(request: web.Request) -> web.Response:
    await service_of(request).get(sid(request))
    return wire.json_response({"dir": wire.HOME})


async def version(request: web.Request) -> web.Response:
    await service_of(request).get(sid(request))
    return wire.json_response({"version": "sandbench"})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{BASE}/user-home-dir", home_dir)
    r.add_get(f"{BASE}/work-dir", home_dir)
    r.add_get(f"{BASE}/version", version)
    for family in (toolbox_files, toolbox_transfer, toolbox_process, toolbox_git, pty, sessions, interpreter):
        family.add_routes(app, BASE)
    # last: whatever the SDK can call that is not above (after authentication, like every route)
    r.add_route("*", f"{BASE}/{{rest:.*}}", unsupported.handler)
