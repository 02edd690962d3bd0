"""`sandbench serve` under abuse (issue 10 §5): transfers are streamed and capped, PTY sessions are capped per
identity and reaped when no client comes back, slow connections are closed, and what is not supported says so.

Driven by the unmodified `daytona` SDK where the SDK can say it, by raw aiohttp or raw sockets where the abuse is
below the SDK (40 copies of one path, a request that never finishes). Servers with small limits are started
here; the big-file round trip uses the shared one (default limits).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import wait_until
from tests.services import test_server_harness as harness
from tests.services.serve_helpers import running_serve
from tests.services.test_server_harness import Serve, unique

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = pytest.mark.timeout(180)

IDLE = 2.0  # --pty-idle-timeout of the `limited` server
TIMEOUT = 2.0  # --header-timeout and --body-timeout of the `slow` server


@pytest.fixture(scope="module")
def limited() -> Iterator[Serve]:
    flags = ["--download-max-mib", "8", "--download-max-paths", "5", "--upload-max-mib", "8"]
    flags += ["--upload-max-files", "3", "--pty-max-sessions", "3", "--pty-idle-timeout", str(IDLE)]
    with running_serve(*flags, other_owner=False) as srv:
        yield srv


@pytest.fixture
async def lim_sdk(limited: Serve) -> AsyncIterator[Any]:
    from daytona import AsyncDaytona

    client = AsyncDaytona(limited.config())
    yield client
    await client.close()


async def make(d: Any) -> Any:
    from daytona import CreateSandboxFromSnapshotParams

    return await d.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)


# -- transfers --------------------------------------------------------------------------------------------------
async def test_download_over_the_caps_is_refused_clearly(lim_sdk: Any) -> None:
    from daytona import DaytonaError, DaytonaNotFoundError, FileDownloadRequest

    sb = await make(lim_sdk)
    for name in ("a.bin", "b.bin"):
        await sb.fs.upload_file(os.urandom(5 * 1024 * 1024), name)
    with pytest.raises(DaytonaError, match=r"413.*over the 8 MiB limit.*--download-max-mib") as info:
        await sb.fs.download_files([FileDownloadRequest(source="a.bin"), FileDownloadRequest(source="b.bin")])
    assert not isinstance(info.value, DaytonaNotFoundError)
    many = [FileDownloadRequest(source=f"f{i}") for i in range(6)]
    with pytest.raises(DaytonaError, match=r"6 paths is over the limit of 5"):
        await sb.fs.download_files(many)
    assert len(await sb.fs.download_file("a.bin")) == 5 * 1024 * 1024  # under the caps: served
    await sb.delete()


async def test_upload_over_the_caps_is_refused_and_leaves_nothing(lim_sdk: Any) -> None:
    from daytona import DaytonaError, FileUpload

    sb = await make(lim_sdk)
    with pytest.raises(
        DaytonaError, match=r"413: an upload of 9.* MiB is over the 8 MiB limit \(sandbench serve --upload-max-mib"
    ):
        await sb.fs.upload_file(os.urandom(9 * 1024 * 1024), "big.bin")
    small = [FileUpload(b"x", f"s{i}.txt") for i in range(4)]
    with pytest.raises(DaytonaError, match=r"413: an upload of more than 3 files is over the limit"):
        await sb.fs.upload_files(small)
    names = {f.name for f in await sb.fs.list_files(".")}
    assert "big.bin" not in names
    assert not {"s0.txt", "s1.txt", "s2.txt"} & names  # a refused upload writes none of its files
    assert not [n for n in names if n.startswith(".sandbench-")], names  # no temp file left behind
    await sb.delete()


async def test_a_refused_file_in_a_large_upload_says_how_many_went_in(sdk: Any) -> None:
    """Past `STAGED` files an upload is put in place in groups: a refusal after the first group says so, and what
    it names is there; the rest of the upload is not."""
    from daytona import DaytonaError, FileUpload

    from services.server.toolbox_transfer import STAGED

    sb = await make(sdk)
    files = [FileUpload(b"x", f"u/f{i:03}.txt") for i in range(STAGED + 5)] + [FileUpload(b"y", "/etc/nope")]
    with pytest.raises(DaytonaError, match=rf"uploads go under .*; {STAGED} files before it were written"):
        await sb.fs.upload_files(files)
    names = {f.name for f in await sb.fs.list_files("u")}
    assert names == {f"f{i:03}.txt" for i in range(STAGED)}
    await sb.delete()


async def test_chunked_upload_is_cut_at_the_cap_and_not_written(lim_sdk: Any, limited: Serve) -> None:
    """No Content-Length (the SDK's streamed upload is chunked): the cap is counted as the bytes arrive. The cut
    write leaves neither its temp file (hidden from listings, so looked for on disk) nor its journal entry."""
    from daytona import DaytonaError

    async def source() -> AsyncIterator[bytes]:
        for _ in range(12):
            yield os.urandom(1024 * 1024)

    sb = await make(lim_sdk)
    with pytest.raises(DaytonaError, match=r"413.*over the 8 MiB limit; 'stream.bin' was not written"):
        await sb.fs.upload_file_stream(source(), "stream.bin")
    names = {f.name for f in await sb.fs.list_files(".")}
    assert "stream.bin" not in names
    box = limited.home / "sandboxes" / sb.id
    assert not [p.name for p in (box / "workspace").iterdir() if p.name.startswith(".sandbench-")]
    assert not list((box / "writes").iterdir())  # the journal entry went with the temp
    await sb.delete()


@pytest.mark.bwrap
async def test_big_files_stream_both_ways_intact(sdk: Any) -> None:
    """Bigger than any buffer on the way (chunks of 256 KiB, the SDK's 64 KiB reads): hashes compared."""
    sb = await make(sdk)
    res = await sb.process.exec("head -c 48M /dev/urandom > down.bin && sha256sum down.bin")
    assert res.exit_code == 0, res.result
    data = await sb.fs.download_file("down.bin")
    assert len(data) == 48 * 1024 * 1024
    assert hashlib.sha256(data).hexdigest() == res.result.split()[0]
    up = os.urandom(40 * 1024 * 1024 + 7)
    await sb.fs.upload_file(up, "dir/up.bin")  # parent created, as the daemon does
    res = await sb.process.exec("sha256sum dir/up.bin")
    assert res.result.split()[0] == hashlib.sha256(up).hexdigest()
    await sb.delete()


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.bwrap
async def test_bulk_download_of_40_copies_keeps_server_memory_bounded() -> None:
    """One small request naming the same 10 MiB file 40 times once took the server to 1.3 GiB."""
    from daytona import AsyncDaytona

    with running_serve(other_owner=False) as srv:
        client = AsyncDaytona(srv.config())
        try:
            sb = await make(client)
            res = await sb.process.exec("head -c 10M /dev/urandom > ten.bin && sha256sum ten.bin")
            digest = res.result.split()[0]
            url = f"{srv.base_url}/toolbox/{sb.id}/files/bulk-download"
            headers = {"Authorization": f"Bearer {srv.token}", "Accept": "multipart/form-data"}
            got = 0
            async with (
                aiohttp.ClientSession() as http,
                http.post(url, json={"paths": ["ten.bin"] * 40}, headers=headers) as resp,
            ):
                assert resp.status == 200
                reader = aiohttp.MultipartReader.from_response(resp)
                while (part := await reader.next()) is not None:
                    assert isinstance(part, aiohttp.BodyPartReader) and part.name == "file"
                    h = hashlib.sha256()
                    while chunk := await part.read_chunk(1 << 20):
                        h.update(chunk)
                        got += len(chunk)
                    assert h.hexdigest() == digest
            assert got == 40 * 10 * 1024 * 1024
            peak = vm_hwm_mib(srv.proc.pid)
            assert peak < 200, f"server peak RSS {peak:.0f} MiB"
            await sb.delete()
        finally:
            await client.close()


# -- PTY sessions -----------------------------------------------------------------------------------------------
class Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def __call__(self, chunk: bytes) -> None:
        self.data += chunk


def descendants(pid: int) -> set[int]:
    """Every live process under `pid` (the server's shells and their bwrap wrappers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


@pytest.mark.bwrap
async def test_pty_sessions_are_capped_per_identity(lim_sdk: Any) -> None:
    from daytona import DaytonaError

    sb = await make(lim_sdk)
    for i in range(3):  # open and drop: the sessions stay, as the Daytona reconnect needs
        h = await sb.process.create_pty_session(id=f"cap{i}", on_data=Sink())
        await h.disconnect()
    with pytest.raises(DaytonaError, match=r"too many PTY sessions: 3 are open.*--pty-max-sessions"):
        await sb.process.create_pty_session(id="cap3", on_data=Sink())
    await sb.process.kill_pty_session("cap0")
    h = await sb.process.create_pty_session(id="cap3", on_data=Sink())  # room again
    await h.disconnect()
    await sb.delete()


@pytest.mark.bwrap
async def test_a_dropped_pty_session_is_reaped_and_a_reattached_one_kept(lim_sdk: Any, limited: Serve) -> None:
    from daytona import DaytonaNotFoundError

    sb = await make(lim_sdk)
    base = descendants(limited.proc.pid)
    kept_out, dropped_out = Sink(), Sink()
    kept = await sb.process.create_pty_session(id="kept", on_data=kept_out)
    dropped = await sb.process.create_pty_session(id="dropped", on_data=dropped_out)
    await kept.send_input("V=kept-$((40+2)); echo $V\n")
    await wait_until(None, lambda: b"kept-42" in kept_out.data, "the kept shell echoes", timeout=10)
    both = descendants(limited.proc.pid) - base
    assert len(both) >= 2
    await kept.disconnect()
    await dropped.disconnect()
    again = Sink()
    kept2 = await sb.process.connect_pty_session("kept", on_data=again)  # back well within the idle time

    async def dropped_gone() -> bool:
        try:
            await sb.process.get_pty_session_info("dropped")
        except DaytonaNotFoundError:
            return True
        return False

    await wait_until(None, dropped_gone, "the dropped session is reaped", timeout=IDLE + 10)
    per_session = len(both) // 2
    await wait_until(
        None, lambda: len(descendants(limited.proc.pid) - base) == per_session, "the dropped shell's processes end"
    )
    assert (await sb.process.get_pty_session_info("kept")).active
    await kept2.send_input("echo still-$V\n")  # the same shell, its variable set
    await wait_until(None, lambda: b"still-kept-42" in again.data, "the reattached shell answers", timeout=10)
    await kept2.send_input("exit\n")
    assert (await asyncio.wait_for(kept2.wait(), 10)).exit_code == 0
    await sb.delete()


# -- slow connections -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def slow() -> Iterator[Serve]:
    with running_serve("--header-timeout", str(TIMEOUT), "--body-timeout", str(TIMEOUT), other_owner=False) as srv:
        yield srv


def _port(srv: Serve) -> int:
    return int(srv.base_url.rsplit(":", 1)[1])


def _read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed (seconds from now); fails after `limit`."""
    sock.settimeout(limit)
    t0 = time.monotonic()
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open for over {limit} s") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return data, time.monotonic() - t0
        data += chunk


def test_partial_request_head_is_closed_within_the_header_timeout(slow: Serve) -> None:
    with socket.create_connection(("127.0.0.1", _port(slow))) as sock:
        sock.sendall(b"GET /api/sandbox HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and never the rest
        data, elapsed = _read_until_closed(sock, TIMEOUT + 8)
    assert data == b""
    assert elapsed <= TIMEOUT + 3


def test_idle_connection_is_closed_within_the_header_timeout(slow: Serve) -> None:
    with socket.create_connection(("127.0.0.1", _port(slow))) as sock:
        _data, elapsed = _read_until_closed(sock, TIMEOUT + 8)
    assert elapsed <= TIMEOUT + 3


@pytest.mark.parametrize("route", ["files/bulk-download", "files/bulk-upload"])
def test_stalled_body_gets_408_and_the_connection_closed(slow: Serve, route: str) -> None:
    body = json.dumps({"paths": ["x"]}).encode()
    ctype = "application/json"
    if route.endswith("upload"):
        boundary = secrets.token_hex(8)
        ctype = f"multipart/form-data; boundary={boundary}"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files[0].path"\r\n\r\na.txt\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="files[0].file"; filename="a.txt"\r\n\r\n'
        ).encode() + b"x" * 100
    head = (
        f"POST /toolbox/nosuch/{route} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {slow.token}\r\n"
        f"Content-Type: {ctype}\r\nContent-Length: {len(body) + 10_000}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", _port(slow))) as sock:
        sock.sendall(head + body)  # 10,000 bytes short, forever
        data, elapsed = _read_until_closed(sock, TIMEOUT + 8)
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b"did not arrive within 2 s" in data
    assert elapsed <= TIMEOUT + 3


# -- what is not supported says so --------------------------------------------------------------------------------
async def test_unsupported_toolbox_features_say_so(sdk: Any) -> None:
    from daytona import DaytonaError, DaytonaNotFoundError

    sb = await make(sdk)
    with pytest.raises(DaytonaError, match=r"computer use .*is not supported by sandbench serve") as info:
        await sb.computer_use.start()
    assert not isinstance(info.value, DaytonaNotFoundError)
    lsp = sb.create_lsp_server("typescript", "/home/sandbox")  # python is passed through to pylsp
    with pytest.raises(DaytonaError, match=r"LSP .*is not supported by sandbench serve") as info:
        await lsp.start()
    assert not isinstance(info.value, DaytonaNotFoundError)
    await sb.delete()


def test_every_limit_is_a_flag_and_the_flags_give_the_defaults() -> None:
    """One table (`LIMIT_FLAGS`) makes the flags and reads them back: a new limit without a flag fails here."""
    import dataclasses

    from services.server.cli import LIMIT_FLAGS, _limits, _parser
    from services.server.limits import MiB, ServeLimits

    assert {f.field for f in LIMIT_FLAGS} == {f.name for f in dataclasses.fields(ServeLimits)}
    assert _limits(_parser().parse_args([])) == ServeLimits()
    got = _limits(_parser().parse_args(["--download-max-mib", "8", "--pty-idle-timeout", "1.5"]))
    assert (got.download_max_bytes, got.pty_idle_timeout) == (8 * MiB, 1.5)
