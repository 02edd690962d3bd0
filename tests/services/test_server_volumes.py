"""Conformance, volumes (issue 12): `daytona.volume.create/list/get/delete` and `create(volumes=[VolumeMount(...)])`
with the unmodified `daytona` SDK (async, and the sync client) against a real `sandbench serve` and real bubblewrap.

What a user would notice: a volume is made, listed, found by name (and made on demand by `get(name, create=True)`),
deleted; another token's identity never sees it; an identity's volumes are capped (429 with the limit named);
two sandboxes that mount one volume share its files, both through their processes and through the file API, as the
SDK's own volume example does; a volume in use is not deleted (409 naming the sandbox); a mount path that would
cover the sandbox's system, or that is not absolute, is refused before anything is made; volumes outlive a restart
of the server (kept in its data dir).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import test_server_harness as harness
from tests.services.serve_helpers import make_home, running_serve, start_serve, stop_serve
from tests.services.test_server_harness import Serve, unique
from tests.services.test_server_sdk import Collector

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


async def make(d: Any, *mounts: tuple[str, str]) -> Any:
    from daytona import CreateSandboxFromSnapshotParams, VolumeMount

    vols = [VolumeMount(volume_id=v, mount_path=p) for v, p in mounts]
    return await d.create(CreateSandboxFromSnapshotParams(name=unique(), volumes=vols), timeout=30)


async def run(sb: Any, cmd: str) -> str:
    res = await sb.process.exec(cmd, timeout=20)
    assert res.exit_code == 0, res.result
    return str(res.result)


@pytest.fixture
async def other(serve: Serve) -> AsyncIterator[Any]:
    from daytona import AsyncDaytona

    client = AsyncDaytona(serve.config(serve.other_token))
    yield client
    await client.close()


# -- the volume API ---------------------------------------------------------------------------------------------
async def test_create_list_get_delete(sdk: Any) -> None:
    from daytona import DaytonaNotFoundError

    name = unique("vol")
    vol = await sdk.volume.create(name)
    assert (vol.name, vol.state) == (name, "ready")
    assert len(vol.id) == 36 and vol.organization_id
    assert vol.id in {v.id for v in await sdk.volume.list()}
    got = await sdk.volume.get(name)
    assert (got.id, got.name, got.state) == (vol.id, name, "ready")
    await sdk.volume.delete(got)
    assert vol.id not in {v.id for v in await sdk.volume.list()}
    with pytest.raises(DaytonaNotFoundError):
        await sdk.volume.get(name)


async def test_get_with_create_makes_it_once(sdk: Any) -> None:
    """The SDK's volume example: `get(name, create=True)` makes a missing volume, then finds the same one."""
    name = unique("vol")
    first = await sdk.volume.get(name, create=True)
    again = await sdk.volume.get(name, create=True)
    assert first.id == again.id and first.state == "ready"
    assert [v.id for v in await sdk.volume.list() if v.name == name] == [first.id]
    await sdk.volume.delete(first)


async def test_names_are_checked_and_unique(sdk: Any) -> None:
    from daytona import DaytonaError

    name = unique("vol")
    vol = await sdk.volume.create(name)
    with pytest.raises(DaytonaError, match="already exists") as dup:
        await sdk.volume.create(name)
    assert dup.value.status_code == 409
    for bad in ("", "-starts-with-dash", "has space", "a" * 64, "../etc", "x/y", "\x1b[31mred"):
        with pytest.raises(DaytonaError, match="invalid volume name") as err:
            await sdk.volume.create(bad)
        assert err.value.status_code == 400
    assert [v.name for v in await sdk.volume.list()].count(name) == 1
    await sdk.volume.delete(vol)


def test_the_sync_client(serve: Serve) -> None:
    from daytona import Daytona, DaytonaNotFoundError

    d = Daytona(serve.config())
    name = unique("vol")
    vol = d.volume.get(name, create=True)
    assert vol.state == "ready"
    assert d.volume.get(name).id == vol.id
    assert vol.id in {v.id for v in d.volume.list()}
    d.volume.delete(vol)
    with pytest.raises(DaytonaNotFoundError):
        d.volume.get(name)


def test_the_sync_client_mounts_and_shares(serve: Serve) -> None:
    from daytona import CreateSandboxFromSnapshotParams, Daytona, DaytonaConflictError, VolumeMount

    d = Daytona(serve.config())
    vol = d.volume.get(unique("vol"), create=True)

    def make_sync(path: str) -> Any:
        mounts = [VolumeMount(volume_id=vol.id, mount_path=path)]
        return d.create(CreateSandboxFromSnapshotParams(name=unique(), volumes=mounts), timeout=30)

    one, two = make_sync("/home/daytona/a"), make_sync("/mnt/b")
    try:
        one.fs.upload_file(b"from one", "/home/daytona/a/x")
        assert two.process.exec("cat /mnt/b/x", timeout=20).result == "from one"
        with pytest.raises(DaytonaConflictError, match="in use"):
            d.volume.delete(vol)
    finally:
        one.delete()
        two.delete()
    d.volume.delete(vol)


async def test_races_end_one_way_or_the_other(sdk: Any) -> None:
    """Two creates of one name: one volume. A delete racing a create that mounts the volume: either the sandbox
    exists and the delete was refused, or the volume is gone and the create was refused; never a sandbox mounting a
    deleted volume."""
    import asyncio

    from daytona import DaytonaError

    name = unique("vol")
    got = await asyncio.gather(sdk.volume.create(name), sdk.volume.create(name), return_exceptions=True)
    made = [g for g in got if not isinstance(g, BaseException)]
    assert len(made) == 1 and [v.id for v in await sdk.volume.list() if v.name == name] == [made[0].id]
    assert isinstance(next(g for g in got if isinstance(g, BaseException)), DaytonaError)
    for _ in range(3):
        vol = await sdk.volume.get(unique("vol"), create=True)
        sb, deleted = await asyncio.gather(
            make(sdk, (vol.id, "/mnt/race")), sdk.volume.delete(vol), return_exceptions=True
        )
        if isinstance(sb, BaseException):
            assert deleted is None and "no volume" in str(sb)
        else:
            assert isinstance(deleted, DaytonaError) and "in use" in str(deleted)
            assert await run(sb, "sh -ec 'touch /mnt/race/ok; ls /mnt/race'") == "ok\n"
            await sb.delete()
            await sdk.volume.delete(vol)
    await sdk.volume.delete(made[0])


async def test_another_identity_sees_nothing(sdk: Any, other: Any, serve: Serve) -> None:
    from daytona import DaytonaError, DaytonaNotFoundError

    name = unique("vol")
    mine = await sdk.volume.create(name)
    assert mine.id not in {v.id for v in await other.volume.list()}
    with pytest.raises(DaytonaNotFoundError):
        await other.volume.get(name)
    with pytest.raises(DaytonaNotFoundError):
        await other.volume.delete(mine)
    with pytest.raises(DaytonaError, match="no volume"):
        await make(other, (mine.id, "/home/daytona/stolen"))  # nor can it mount it, by id or by name
    with pytest.raises(DaytonaError, match="no volume"):
        await make(other, (name, "/home/daytona/stolen"))
    theirs = await other.volume.create(name)  # names are unique per identity, not across them
    assert theirs.id != mine.id
    assert (await sdk.volume.get(name)).id == mine.id
    await other.volume.delete(theirs)
    await sdk.volume.delete(mine)


async def test_the_cap_per_identity() -> None:
    from daytona import AsyncDaytona, DaytonaRateLimitError

    with running_serve("--volume-max", "2") as srv:
        d = AsyncDaytona(srv.config())
        try:
            a, b = await d.volume.create("a"), await d.volume.create("b")
            with pytest.raises(DaytonaRateLimitError, match="2 volumes, the most it may keep"):
                await d.volume.create("c")
            assert sorted(v.name for v in await d.volume.list()) == ["a", "b"]
            other = AsyncDaytona(srv.config(srv.other_token))  # the cap is per identity
            try:
                await other.volume.delete(await other.volume.create("c"))
            finally:
                await other.close()
            await d.volume.delete(a)
            await d.volume.delete(await d.volume.create("c"))  # room again
            await d.volume.delete(b)
        finally:
            await d.close()


# -- mounts -----------------------------------------------------------------------------------------------------
async def test_two_sandboxes_share_a_volume(sdk: Any) -> None:
    """As the SDK's volume example: one sandbox writes through the file API at its mount path, another (mounting
    the same volume elsewhere) reads it; their processes see and change each other's files."""
    vol = await sdk.volume.get(unique("vol"), create=True)
    one = await make(sdk, (vol.id, "/home/daytona/volume"))
    two = await make(sdk, (vol.name, "/home/daytona/my-files"))  # by name: resolved to the id
    try:
        assert [(m.volume_id, m.mount_path) for m in one.volumes] == [(vol.id, "/home/daytona/volume")]
        assert [(m.volume_id, m.mount_path) for m in (await sdk.get(two.id)).volumes] == [
            (vol.id, "/home/daytona/my-files")
        ]
        await one.fs.create_folder("/home/daytona/volume/new-dir", "755")
        await one.fs.upload_file(b"Hello, World!", "/home/daytona/volume/new-dir/test-file.txt")
        assert await two.fs.download_file("/home/daytona/my-files/new-dir/test-file.txt") == b"Hello, World!"
        assert await run(two, "cat /home/daytona/my-files/new-dir/test-file.txt") == "Hello, World!"
        names = {f.name for f in await two.fs.list_files("/home/daytona/my-files")}
        assert names == {"new-dir"}
        # processes: two changes the file one wrote, and adds its own; one sees both
        # (`sh -e`: a refused write fails the command, rather than passing unseen before the next one)
        await run(two, "sh -ec 'cd /home/daytona/my-files; echo changed > new-dir/test-file.txt; echo 2 > b'")
        assert await run(one, "cat /home/daytona/volume/new-dir/test-file.txt /home/daytona/volume/b") == "changed\n2\n"
        # the mount point shows in its folder's listing, as the processes see it
        assert "volume" in {f.name for f in await one.fs.list_files("/home/daytona")}
        # and outside the home: the processes see it there too
        three = await make(sdk, (vol.id, "/mnt/data"))
        try:
            assert await run(three, "cat /mnt/data/b") == "2\n"
            await run(three, "touch /mnt/data/from-three")
            assert (await one.fs.get_file_info("/home/daytona/volume/from-three")).is_dir is False
        finally:
            await three.delete()
    finally:
        await one.delete()
        await two.delete()
    await sdk.volume.delete(vol)


async def test_files_survive_a_stop_and_start(sdk: Any) -> None:
    vol = await sdk.volume.get(unique("vol"), create=True)
    sb = await make(sdk, (vol.id, "/home/daytona/keep"))
    try:
        await run(sb, "sh -c 'echo kept > /home/daytona/keep/f'")
        await sb.stop()
        await sb.start()
        assert await run(sb, "cat /home/daytona/keep/f") == "kept\n"
    finally:
        await sb.delete()
    again = await make(sdk, (vol.id, "/mnt/v"))  # and a later sandbox finds it there
    try:
        assert await run(again, "cat /mnt/v/f") == "kept\n"
    finally:
        await again.delete()
    await sdk.volume.delete(vol)


async def test_a_volume_in_use_is_not_deleted(sdk: Any) -> None:
    from daytona import DaytonaConflictError

    vol = await sdk.volume.get(unique("vol"), create=True)
    sb = await make(sdk, (vol.id, "/home/daytona/volume"))
    await sb.stop()  # a stopped sandbox mounts it again when it starts: still in use
    with pytest.raises(DaytonaConflictError, match=f"in use by sandbox '{sb.name}'"):
        await sdk.volume.delete(vol)
    assert (await sdk.volume.get(vol.name)).state == "ready"
    await sb.delete()
    await sdk.volume.delete(vol)
    assert vol.id not in {v.id for v in await sdk.volume.list()}


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("relative/path", "must be absolute"),
        ("/", "cannot be mounted on /"),
        ("/etc", "system folder"),
        ("/usr/local/x", "system folder"),
        ("/proc/self", "system folder"),
        ("/dev/shm/x", "system folder"),
        ("/home/sandbox", "cannot be mounted on"),
        ("/home/sandbox/data", "inside the sandbox's workspace"),
        ("/home/daytona", "cannot be mounted on"),
        ("/mnt/../etc", "no '.', '..'"),
        ("/mnt//x", "no '.', '..'"),
        ("/mnt/a\x00b", "printable"),
    ],
)
async def test_bad_mount_paths_are_refused(sdk: Any, path: str, why: str) -> None:
    from daytona import DaytonaError

    vol = await sdk.volume.get("bad-paths", create=True)
    before = {s.id async for s in sdk.list()}
    with pytest.raises(DaytonaError, match=why) as err:
        await make(sdk, (vol.id, path))
    assert err.value.status_code == 400
    assert {s.id async for s in sdk.list()} == before  # nothing made


async def test_overlapping_and_unknown_mounts_are_refused(sdk: Any) -> None:
    from daytona import DaytonaError

    vol = await sdk.volume.get("bad-paths", create=True)
    with pytest.raises(DaytonaError, match="overlap"):
        await make(sdk, (vol.id, "/mnt/a"), (vol.id, "/mnt/a/b"))
    with pytest.raises(DaytonaError, match="no volume"):
        await make(sdk, ("00000000-0000-4000-8000-000000000000", "/mnt/a"))
    with pytest.raises(DaytonaError, match="no volume"):
        await make(sdk, ("../../../etc", "/mnt/a"))  # never a host path


async def test_exec_pty_and_git_run_in_the_volume_at_its_mount_path(sdk: Any) -> None:
    """A cwd (exec, PTY, code interpreter context, git's repository path) or a search under a mount point is the
    volume, as the file API sees it, not a folder of the workspace with the same name."""
    vol = await sdk.volume.get(unique("vol"), create=True)
    sb = await make(sdk, (vol.id, "/home/daytona/volume"))
    try:
        await sb.fs.upload_file(b"seen\n", "/home/daytona/volume/f.txt")
        res = await sb.process.exec("pwd; cat f.txt", cwd="/home/daytona/volume/", timeout=20)
        assert (res.exit_code, res.result) == (0, "/home/daytona/volume\nseen\n")
        await run(sb, "sh -ec 'git init -q -b main /home/daytona/volume/repo; touch /home/daytona/volume/repo/new'")
        status = await sb.git.status("/home/daytona/volume/repo")
        assert status.current_branch == "main"
        assert [f.name for f in status.file_status] == ["new"]
        out = Collector()
        pty = await sb.process.create_pty_session(id="in-volume", on_data=out, cwd="/home/daytona/volume")
        await pty.send_input("echo at-$PWD; cat f.txt\n")
        await out.wait_for(b"at-/home/daytona/volume")
        await out.wait_for(b"seen")
        await sb.process.kill_pty_session("in-volume")
        matches = await sb.fs.find_files("/home/daytona/volume", "seen")  # grep, inside the sandbox
        assert [(m.file, m.line, m.content) for m in matches] == [("/home/daytona/volume/f.txt", 1, "seen")]
        assert (await sb.fs.search_files("/home/daytona/volume", "*.txt")).files == ["/home/daytona/volume/f.txt"]
        ctx = await sb.code_interpreter.create_context(cwd="/home/daytona/volume")
        ran = await sb.code_interpreter.run_code("import os; print(os.getcwd(), open('f.txt').read())", context=ctx)
        assert ran.stdout == "/home/daytona/volume seen\n\n"
        await sb.code_interpreter.delete_context(ctx)
        assert await run(sb, "ls /home/sandbox") == ""  # nothing landed in the workspace instead
    finally:
        await sb.delete()
    await sdk.volume.delete(vol)


# -- kept in the data dir ---------------------------------------------------------------------------------------
@pytest.fixture
def home() -> Iterator[Path]:
    import shutil

    h = make_home()
    yield h
    shutil.rmtree(h.parent, ignore_errors=True)


async def test_volumes_outlive_a_restart(home: Path) -> None:
    from daytona import AsyncDaytona, DaytonaConfig

    os.environ["NO_PROXY"] = "127.0.0.1,localhost"

    async def client(port: int) -> AsyncDaytona:
        token = (home / "serve-token").read_text().strip()
        return AsyncDaytona(DaytonaConfig(api_key=token, api_url=f"http://127.0.0.1:{port}/api", target="local"))

    proc, port = start_serve(home)
    try:
        d = await client(port)
        vol = await d.volume.create("kept")
        sb = await make(d, (vol.id, "/mnt/kept"))
        await run(sb, "sh -c 'echo across > /mnt/kept/f'")
        await d.close()
    finally:
        stop_serve(proc)
    folder = home / "volumes" / vol.id
    assert (folder / "meta.json").is_file() and (folder / "data" / "f").read_text() == "across\n"
    proc, port = start_serve(home)
    try:
        d = await client(port)
        assert [(v.id, v.name) for v in await d.volume.list()] == [(vol.id, "kept")]
        again = await d.get(sb.id)
        assert [m.mount_path for m in again.volumes] == ["/mnt/kept"]
        assert await run(again, "cat /mnt/kept/f") == "across\n"
        await again.delete()
        await d.volume.delete(vol)
        assert not folder.exists()
        await d.close()
    finally:
        stop_serve(proc)


# -- trust boundaries -------------------------------------------------------------------------------------------
def test_the_constants_agree() -> None:
    from services.local.launch import SANDBOX_HOME
    from services.local.mount_points import VOLUME_POINTS
    from services.server.wire import HOME_ALIASES
    from services.volumes import HOME, HOME_ALIAS, MAX_MOUNTS

    assert VOLUME_POINTS == MAX_MOUNTS  # as root, one launcher mount point per mount
    assert HOME == SANDBOX_HOME and HOME_ALIAS in HOME_ALIASES


async def test_the_volume_folder_is_out_of_every_sandbox_s_reach(sdk: Any, serve: Serve) -> None:
    """Only a sandbox that mounts a volume reaches it, and only at its mount path: the folders above it are root's
    alone, and the host path means nothing inside a sandbox."""
    import stat

    vol = await sdk.volume.get(unique("vol"), create=True)
    root = serve.home / "volumes"
    data = root / vol.id / "data"
    st = root.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()
    assert stat.S_IMODE((root / vol.id / "meta.json").stat().st_mode) == 0o600
    if os.geteuid() == 0:  # sandboxes of several uids share it: open to them, by a default ACL too
        assert stat.S_IMODE(data.stat().st_mode) == 0o777
        assert os.getxattr(data, "system.posix_acl_default")
    (data / "secret").write_text("volume contents\n")
    outsider = await make(sdk)
    try:
        res = await outsider.process.exec(f"cat {data}/secret", timeout=20)
        assert res.exit_code != 0 and "volume contents" not in res.result
    finally:
        await outsider.delete()
    await sdk.volume.delete(vol)


async def test_symlinks_planted_in_a_volume_lead_nowhere(sdk: Any, serve: Serve, tmp_path: Path) -> None:
    """A sandbox plants symlinks in a shared volume: another sandbox's file API reads through none of them out of
    the volume, and deleting the volume removes the links, never what they point at."""
    from daytona import DaytonaError

    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep").write_text("host file\n")
    os.chmod(tmp_path, 0o755)
    vol = await sdk.volume.get(unique("vol"), create=True)
    one = await make(sdk, (vol.id, "/home/daytona/v"))
    two = await make(sdk, (vol.id, "/home/daytona/w"))
    try:
        await run(one, f"sh -ec 'cd /home/daytona/v; ln -s /etc/passwd passwd; ln -s .. up; ln -s {canary} canary'")
        with pytest.raises(DaytonaError) as err:  # a symlink out of the root is refused, not followed
            await two.fs.download_file("/home/daytona/w/passwd")
        assert "root:" not in str(err.value)
        assert "root:" not in await run(two, "cat /home/daytona/w/passwd")  # inside: the sandbox's own passwd
        with pytest.raises(DaytonaError):
            await two.fs.list_files("/home/daytona/w/up")
        listed = {f.name for f in await two.fs.list_files("/home/daytona/w")}
        assert listed == {"passwd", "up", "canary"}
    finally:
        await one.delete()
        await two.delete()
    await sdk.volume.delete(vol)
    assert not (serve.home / "volumes" / vol.id).exists()
    assert (canary / "keep").read_text() == "host file\n"


# -- the service and the local provider, without serve (what the app's own SandboxService gets) --------------------
async def test_the_service_over_the_local_provider(provider: Any, config: Any, service: Any) -> None:
    """The policy is the service's: any front end gets the same checks. The data dir here sits under a 0700 folder
    (conftest's `sandbench_home`), which the sandbox's uid cannot traverse: the launcher's binds reach it anyway."""
    import dataclasses

    from services.errors import InvalidInput
    from services.models import SandboxSpec, VolumeMount
    from services.sandbox_service import SandboxService
    from services.volumes import VolumeLimitReached, VolumeNotFound

    vol = await service.create_volume("shared")
    sb = await service.create(SandboxSpec(name="box", volumes=(VolumeMount("shared", "/mnt/shared/"),)))
    assert sb.volumes == (VolumeMount(vol.id, "/mnt/shared"),)  # by id, the path normalised
    res = await service.exec(sb.id, ["sh", "-ec", "echo hi > /mnt/shared/f; cat /mnt/shared/f"])
    assert (res.exit_code, res.stdout) == (0, b"hi\n")
    with pytest.raises(InvalidInput, match="system folder"):
        await service.create(SandboxSpec(name="bad", volumes=(VolumeMount("shared", "/etc/x"),)))
    other = SandboxService(provider, dataclasses.replace(config, identity="other"), volume_cap=1)
    try:
        assert await other.list_volumes() == []
        with pytest.raises(VolumeNotFound):
            await other.create(SandboxSpec(name="thief", volumes=(VolumeMount(vol.id, "/mnt/x"),)))
        with pytest.raises(VolumeNotFound):
            await other.delete_volume(vol.id)
        await other.create_volume("one")
        with pytest.raises(VolumeLimitReached):
            await other.create_volume("two")
    finally:
        other.audit.close()
    await service.delete(sb.id)
    await service.delete_volume("shared")
    assert [v.name for v in await service.list_volumes()] == []
    lines = [json.loads(x) for x in config.audit_log.read_text().splitlines()]
    ops = [(e["op"], e.get("name"), e.get("outcome")) for e in lines if "volume" in e["op"]]
    assert ("create-volume", "shared", "ok") in ops and ("delete-volume", "shared", "ok") in ops


async def test_a_volume_row_lost_with_the_database_comes_back(config: Any) -> None:
    """The folder's meta.json is what the row is rebuilt from (as a sandbox's is)."""
    import sqlite3

    from services.local.provider import LocalProvider
    from services.sandbox_service import SandboxService

    p = LocalProvider(config.data_dir)
    svc = SandboxService(p, config)
    vol = await svc.create_volume("keep")
    svc.audit.close()
    await p.close()
    con = sqlite3.connect(config.data_dir / "state.db")
    con.execute("DELETE FROM volumes")
    con.commit()
    con.close()
    p = LocalProvider(config.data_dir)
    svc = SandboxService(p, config)
    try:
        assert [(v.id, v.name, v.state) for v in await svc.list_volumes()] == [(vol.id, "keep", "ready")]
        await svc.delete_volume("keep")
    finally:
        svc.audit.close()
        await p.close()
