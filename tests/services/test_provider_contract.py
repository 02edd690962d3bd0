"""One contract, two providers: the same provider-level tests run against LocalProvider directly and against
DaytonaProvider → the `daytona` SDK → `sandbench serve` (a real process), so both providers meet one contract.

Known, documented difference: through Daytona, exec merges stderr into stdout (the SDK returns one stream), so
output assertions look at stdout + stderr.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.config import Config, DaytonaConfig
from services.errors import (
    AlreadyExists,
    Conflict,
    FileNotFound,
    SandbenchError,
    SandboxNotFound,
    TooLarge,
)
from services.models import SandboxSpec, SandboxState
from tests.conftest import read_until
from tests.services import test_server_harness as harness
from tests.services.test_server_harness import IDENTITY, Serve

serve = harness.serve  # the shared fixture

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["local", "daytona"])
async def prov(request: pytest.FixtureRequest, sandbench_home: Path) -> AsyncIterator[Any]:
    if request.param == "local":
        from services.local.provider import LocalProvider

        p: Any = LocalProvider(sandbench_home)
    else:
        from services.daytona import DaytonaProvider

        srv: Serve = request.getfixturevalue("serve")
        cfg = Config(
            identity=IDENTITY,
            data_dir=sandbench_home,
            daytona=DaytonaConfig(api_key=srv.token, api_url=srv.api_url, target="local"),
        )
        p = DaytonaProvider(cfg)
    made: list[str] = []
    original = p.create

    async def tracking_create(spec: SandboxSpec, owner: str) -> Any:
        info = await original(spec, owner)
        made.append(info.id)
        return info

    p.create = tracking_create
    yield p
    for sid in made:
        try:
            await p.delete(sid)
        except SandbenchError:
            pass
    await p.close()


async def new(p: Any, **kw: Any) -> Any:
    return await p.create(SandboxSpec(name=f"c-{secrets.token_hex(4)}", **kw), IDENTITY)


async def test_lifecycle(prov: Any) -> None:
    info = await new(prov, labels={"team": "x"}, auto_stop_minutes=0)
    assert info.state is SandboxState.STARTED
    assert info.owner == IDENTITY
    assert info.labels["team"] == "x"
    assert info.network is False
    assert (await prov.get(info.id)).name == info.name
    assert info.id in [i.id for i in await prov.list()]
    relabelled = await prov.set_labels(info.id, {"team": "y", prov.owner_label: IDENTITY})
    assert relabelled.labels["team"] == "y"
    assert (await prov.stop(info.id)).state is SandboxState.STOPPED
    assert (await prov.get(info.id)).state is SandboxState.STOPPED
    assert (await prov.start(info.id)).state is SandboxState.STARTED
    await prov.delete(info.id)
    with pytest.raises(SandboxNotFound):
        await prov.get(info.id)


async def test_archive_and_snapshot(prov: Any) -> None:
    info = await new(prov)
    await prov.write_file(info.id, "keep.txt", b"kept")
    snap = f"s-{secrets.token_hex(4)}"
    taken = await prov.snapshot(info.id, snap)
    assert taken.name == snap
    assert snap in [s.name for s in await prov.list_snapshots()]
    copy = await prov.create_from_snapshot(snap, SandboxSpec(name=f"c-{secrets.token_hex(4)}"), IDENTITY)
    try:
        assert (await prov.read_file(copy.id, "keep.txt", limit=100)).data == b"kept"
    finally:
        await prov.delete(copy.id)
    await prov.delete_snapshot(snap, IDENTITY)
    assert (await prov.archive(info.id)).state is SandboxState.ARCHIVED
    assert (await prov.start(info.id)).state is SandboxState.STARTED
    assert (await prov.read_file(info.id, "keep.txt", limit=100)).data == b"kept"


async def test_files(prov: Any) -> None:
    sid = (await new(prov)).id
    entry = await prov.write_file(sid, "a.txt", b"hello")
    assert (entry.path, entry.name, entry.kind, entry.size) == ("a.txt", "a.txt", "file", 5)
    data = await prov.read_file(sid, "a.txt", limit=100)
    assert (data.data, data.size, data.truncated) == (b"hello", 5, False)
    with pytest.raises(TooLarge):
        await prov.read_file(sid, "a.txt", limit=3)
    head = await prov.read_file(sid, "a.txt", limit=3, head=True)
    assert (head.data, head.truncated) == (b"hel", True)
    with pytest.raises(FileNotFound):
        await prov.read_file(sid, "missing.txt", limit=100)
    stale = entry.mtime - 100
    with pytest.raises(Conflict):
        await prov.write_file(sid, "a.txt", b"new", expected_mtime=stale)
    fresh = await prov.stat(sid, "a.txt")
    await prov.write_file(sid, "a.txt", b"new", expected_mtime=fresh.mtime)
    d = await prov.mkdir(sid, "src/pkg", parents=True)
    assert d.kind == "dir"
    with pytest.raises(AlreadyExists):
        await prov.mkdir(sid, "src/pkg")
    await prov.write_file(sid, "src/pkg/mod.py", b"x = 1\n")
    await prov.write_file(sid, "src/readme.md", b"# r\n")
    listing = {e.name: e.kind for e in await prov.list_dir(sid, "src")}
    assert listing == {"pkg": "dir", "readme.md": "file"}
    root = {e.path for e in await prov.list_dir(sid, "")}
    assert {"a.txt", "src"} <= root
    moved = await prov.move(sid, "src/readme.md", "src/README.md")
    assert moved.path == "src/README.md"
    await prov.write_file(sid, "b.txt", b"b")
    with pytest.raises(AlreadyExists):
        await prov.move(sid, "b.txt", "a.txt")
    await prov.move(sid, "b.txt", "a.txt", overwrite=True)
    assert (await prov.read_file(sid, "a.txt", limit=10)).data == b"b"
    assert sorted(await prov.search(sid, "", "*.py")) == ["src/pkg/mod.py"]
    assert sorted(await prov.search(sid, "src", "*.md")) == ["src/README.md"]
    with pytest.raises(SandbenchError):
        await prov.delete_path(sid, "src")  # not empty, not recursive
    await prov.delete_path(sid, "src", recursive=True)
    with pytest.raises(FileNotFound):
        await prov.stat(sid, "src")


@pytest.mark.bwrap
async def test_list_files_and_disk_usage(prov: Any) -> None:
    sid = (await new(prov)).id
    await prov.mkdir(sid, "x/.git", parents=True)
    await prov.write_file(sid, "x/.git/config", b"c")
    await prov.write_file(sid, "x/y.txt", b"1" * 5000)
    await prov.write_file(sid, "top.txt", b"t")
    assert sorted(await prov.list_files(sid)) == ["top.txt", "x/y.txt"]
    assert await prov.disk_usage(sid) >= 5000


@pytest.mark.bwrap
async def test_exec(prov: Any) -> None:
    sid = (await new(prov)).id
    r = await prov.exec(sid, ["sh", "-c", "echo out; echo err >&2; exit 4"])
    assert r.exit_code == 4
    assert b"out\n" in r.stdout + r.stderr and b"err\n" in r.stdout + r.stderr
    await prov.mkdir(sid, "d")
    r = await prov.exec(sid, ["sh", "-c", 'pwd; printf %s "$V"'], cwd="d", env={"V": "it's $(ok)"})
    assert r.stdout.decode().endswith("/d\nit's $(ok)")
    r = await prov.exec(sid, ["printf", "%s|", "a b", "'c'", "$HOME", ";rm -rf x"])
    assert r.stdout == b"a b|'c'|$HOME|;rm -rf x|"  # argv stays argv: nothing is interpreted by a shell
    r = await prov.exec(sid, ["cat"], stdin="from stdin\x00 ünï\n".encode())
    assert r.stdout == "from stdin\x00 ünï\n".encode()
    t = time.monotonic()
    r = await prov.exec(sid, ["sleep", "30"], timeout=1)
    assert r.timed_out and r.exit_code == 124
    assert time.monotonic() - t < 10


@pytest.mark.bwrap
async def test_terminal(prov: Any) -> None:
    sid = (await new(prov)).id
    term = await prov.open_terminal(sid, 100, 30)
    buf = bytearray()

    await term.write(b"echo $((40+2)); stty size\n")
    await read_until(term, buf, b"30 100", 10)
    assert b"42" in buf
    await term.resize(120, 40)
    await term.write(b"stty size\n")
    await read_until(term, buf, b"40 120", 10)
    await term.write(b"exit 5\n")
    assert await asyncio.wait_for(term.wait(), 10) == 5
    assert term.exit_code == 5
    await term.close()
