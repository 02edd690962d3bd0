"""Lifecycle settings of `sandbench serve` (issue 12): the auto-stop / auto-archive / auto-delete intervals, what a
create may ask for that one machine cannot give, and the labels as the wire shows them.

- `POST /api/sandbox/{id}/autostop/{n}`, `/autoarchive/{n}`, `/autodelete/{n}` set an interval (minutes) and answer
  200 with the sandbox's DTO, as Daytona does. The local service honours them: its reaper (`SandboxService.reap`,
  run every `--reaper-interval` seconds for every identity the server knows) stops an idle sandbox, archives one
  stopped past its auto-archive interval and deletes one stopped past its auto-delete interval.
- `public=True` (at create, or `set_public(True)`) is refused: a public sandbox's preview URLs open without a token,
  and sandbench serve has no public preview. `public=False` is what every local sandbox is, and is accepted.
- A non-empty `networkAllowList` / `domainAllowList` is refused: local user-mode networking (slirp4netns) cannot
  filter by destination, and allowing everything instead would fail open.
- The owner label the service keeps (`Config.owner_label`) never goes out in `labels`: the server enforces ownership
  by the token's identity itself (another owner's sandbox is a 404). Every DTO names that owner — the caller's own
  identity, nothing it did not know — in `sandbenchOwner`, an extra key the SDK keeps in `additional_properties`,
  (`wire.OWNER_KEY`), which the app's DaytonaProvider reads over serve for its own ownership check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from services.errors import InvalidInput, NotSupported
from services.sandbox_service import INTERVAL_MAX
from services.server import wire
from services.server.context import dto, find_sandbox, service_of

PUBLIC_REFUSED = (
    "public sandboxes (public=True) are not supported by sandbench serve: there is no public preview on one "
    "machine, and every local sandbox is private; create it with public=False (the default)"
)


def refuse_unsupported(body: Mapping[str, Any]) -> None:
    """Refuse, before anything is made, the create settings a local sandbox cannot honour."""
    if body.get("public") is True:
        raise NotSupported(PUBLIC_REFUSED)
    gpu = body.get("gpu")
    if gpu not in (None, 0):
        # accepting it and running without one would let code that needs a GPU fail later, far from the cause
        raise NotSupported(
            "GPU sandboxes (resources gpu=…) are not supported by sandbench serve: local sandboxes run on the host's "
            "CPUs only; create the sandbox without a gpu request"
        )
    for key, name in (("networkAllowList", "network_allow_list"), ("domainAllowList", "domain_allow_list")):
        value = body.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string")
        raise NotSupported(
            f"{name} is not supported by sandbench serve: local sandbox networking cannot filter by destination, "
            "and it will not allow everything instead; create the sandbox without it (network_block_all=True for "
            "no network at all)"
        )


def interval(body: Mapping[str, Any], key: str, default: int, *, lo: int | None = 0, hi: int = INTERVAL_MAX) -> int:
    """A create body's interval in minutes (int, or a float with no fraction, as the DTO allows), at most `hi`."""
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or (lo is not None and value < lo) or abs(value) > hi:
        floor = "" if lo is None else f", {lo} or more"
        raise InvalidInput(f"{key} must be a whole number of minutes{floor}, at most {hi}")
    return value


def _minutes(request: web.Request) -> int:
    raw = request.match_info["n"]
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"the interval must be a whole number of minutes, not {raw[:20]!r}") from None


async def _set(request: web.Request, **which: bool) -> web.Response:
    n = _minutes(request)
    info = await find_sandbox(request)
    if which.get("stop") and n < 0:
        raise InvalidInput("the auto-stop interval must be 0 (never) or more minutes")
    if which.get("archive") and n < 0:
        raise InvalidInput("the auto-archive interval must be 0 (the maximum) or more minutes")
    new = await service_of(request).set_intervals(
        info.id,
        auto_stop=n if which.get("stop") else None,
        auto_archive=n if which.get("archive") else None,
        auto_delete=n if which.get("delete") else None,
    )
    return wire.json_response(dto(request, new))


async def set_autostop(request: web.Request) -> web.Response:
    return await _set(request, stop=True)


async def set_autoarchive(request: web.Request) -> web.Response:
    return await _set(request, archive=True)


async def set_autodelete(request: web.Request) -> web.Response:
    return await _set(request, delete=True)


async def set_public(request: web.Request) -> web.Response:
    flag = request.match_info["flag"].lower()
    if flag not in ("true", "false"):
        raise InvalidInput("public is true or false")
    info = await find_sandbox(request)
    if flag == "true":
        raise NotSupported(PUBLIC_REFUSED.replace("create it with public=False (the default)", "it stays private"))
    return wire.json_response(dto(request, info))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/sandbox/{id}/autostop/{n}", set_autostop)
    r.add_post("/api/sandbox/{id}/autoarchive/{n}", set_autoarchive)
    r.add_post("/api/sandbox/{id}/autodelete/{n}", set_autodelete)
    r.add_post("/api/sandbox/{id}/public/{flag}", set_public)
