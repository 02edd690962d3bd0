"""The toolbox's bulk transfers (daytona-wire.md §4.3): `files/bulk-upload` (a multipart body, streamed to the
sandbox's files part by part) and `files/bulk-download` (a multipart response, streamed from disk one file at a
time). Both are bounded by `ServeLimits` (refused with 413 naming the limit and its flag) and read or write only
through the caller's `SandboxService`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from services import paths
from services.errors import (
    FileNotFound,
    InvalidInput,
    PathRejected,
    ProviderError,
    SandbenchError,
    TooLarge,
)
from services.provider import WriteStream
from services.sandbox_service import SandboxService
from services.server import wire
from services.server.context import json_body, read_body, service_of, sid, state_of
from services.server.limits import ServeLimits, in_mib

log = logging.getLogger(__name__)


PATH_PART_MAX = 8192  # bytes of a `files[i].path` part: a path, never content
CHUNK = 256 * 1024  # bytes per read from disk or from the request, and per write to either
STAGED = 64  # files of an upload waiting, complete, to be put in place together (see bulk_upload)


def _limits(request: web.Request) -> ServeLimits:
    return state_of(request).limits


async def bulk_upload(request: web.Request) -> web.Response:
    """Each `files[i].file` part streams into an atomic write (temp file beside the target): nothing is held in
    memory whole, and the sandbox never sees a half-written file. The files are renamed into place together once
    the body has arrived whole, so an upload of up to `STAGED` files that fails anywhere (a path refused, a cap
    passed, the client gone) writes none of them; a larger one is put in place `STAGED` files at a time, and its
    error says how many went in before it."""
    limits = _limits(request)
    cap = limits.upload_max_bytes
    if request.content_length is not None and request.content_length > cap:
        raise _upload_too_large(f"an upload of {in_mib(request.content_length)} is over the {in_mib(cap)} limit")
    if request.content_type != "multipart/form-data":  # aiohttp's reader would fail on anything else, untyped
        raise InvalidInput("a bulk upload is a multipart/form-data body")
    written: list[dict[str, Any]] = []
    staged: list[tuple[WriteStream, str, str]] = []  # complete, not yet in place: (stream, rel, prefix)
    try:
        await _receive(request, limits, written, staged)
        await _put_in_place(staged, written)
    except SandbenchError as exc:
        if written:
            note = f"; {len(written)} files before it were written (the first {written[0]['path']!r})"
            exc.message += note
            exc.public += note
        raise
    finally:
        for stream, _rel, _prefix in staged:
            await stream.abort()
    return wire.json_response({"files": written})


async def _receive(
    request: web.Request,
    limits: ServeLimits,
    written: list[dict[str, Any]],
    staged: list[tuple[WriteStream, str, str]],
) -> None:
    """Read the multipart body, each file into its own pending write, staged until `_put_in_place`."""
    cap = limits.upload_max_bytes
    reader = await request.multipart()
    targets: dict[str, tuple[str, str]] = {}
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
        if len(written) + len(staged) >= limits.upload_max_files:
            raise _upload_too_large(f"an upload of more than {limits.upload_max_files} files is over the limit")
        rel, prefix = targets.pop(index)
        if len(staged) >= STAGED:  # each pending write holds two descriptors: bounded
            await _put_in_place(staged, written)
        stream = await _open_write(request, rel)
        staged.append((stream, rel, prefix))
        while chunk := await read_body(request, part.read_chunk(CHUNK)):
            received += len(chunk)
            if received > cap:
                raise _upload_too_large(f"the upload is over the {in_mib(cap)} limit; {rel!r} was not written")
            await stream.write(chunk)
    if targets:
        raise InvalidInput("each upload needs both files[i].path and files[i].file")


async def _put_in_place(staged: list[tuple[WriteStream, str, str]], written: list[dict[str, Any]]) -> None:
    while staged:
        stream, rel, prefix = staged[0]
        await stream.commit()
        staged.pop(0)
        written.append({"path": wire.to_sandbox_path(rel, prefix), "bytes": stream.written})


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
        return _too_large(request, f"a download of {in_mib(total)} is over the {in_mib(cap)} limit")
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


def add_routes(app: web.Application, base: str) -> None:
    r = app.router
    r.add_post(f"{base}/files/bulk-upload", bulk_upload)
    r.add_post(f"{base}/files/bulk-download", bulk_download)
