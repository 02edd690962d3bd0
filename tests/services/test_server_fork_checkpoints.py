"""The unmodified `daytona` SDK's fork and snapshot calls against a real `sandbench serve`, read back through the
real `sandbench checkpoints --json` over the server's own data directory: a fork is a node of the checkpoint tree
(its first checkpoint's parent is a checkpoint of the source), a snapshot is a named `snapshot` checkpoint that a
create builds on, and neither crosses identities.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import aiohttp
import pytest

from tests.services import test_server_harness as harness
from tests.services.test_server_harness import REPO, Serve, serve_env, unique

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = [pytest.mark.timeout(180), pytest.mark.bwrap]


def cli(srv: Serve, *args: str) -> Any:
    """`sandbench ARGS --json` as the server's own user runs it on the server's home (identity `tester`)."""
    res = subprocess.run(
        [sys.executable, "-m", "tui.cli", *args, "--json"],
        cwd=REPO,
        env=serve_env(srv.home),
        capture_output=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr.decode()
    return json.loads(res.stdout)


async def make(d: Any, **kw: Any) -> Any:
    from daytona import CreateSandboxFromSnapshotParams

    return await d.create(CreateSandboxFromSnapshotParams(name=unique(), **kw), timeout=30)


async def test_fork_is_a_node_of_the_checkpoint_tree_and_keeps_files_env_and_labels(sdk: Any, serve: Serve) -> None:
    sb = await make(sdk, labels={"team": "f"}, env_vars={"GREETING": "hi"})
    await sb.fs.create_folder("src", "755")
    await sb.fs.upload_file(b"print('fork me')\n", "src/app.py")
    await sb.fs.upload_file(b"\x00binary\xff", "blob.bin")
    await sb.process.exec("touch -d @981173106 blob.bin")  # an old file: a build tool tells by its mtime
    assert cli(serve, "checkpoints", sb.name)["checkpoints"] == []  # the source has none before the fork

    twin = await sb.fork(name=unique("twin"))

    assert twin.id != sb.id and twin.state.value == "started"
    assert twin.labels["team"] == "f" and "sandbench.owner" not in twin.labels
    assert twin.env == {"GREETING": "hi"}
    assert await twin.fs.download_file("src/app.py") == b"print('fork me')\n"
    assert await twin.fs.download_file("blob.bin") == b"\x00binary\xff"
    said = await twin.process.exec('printf %s "$GREETING"')
    assert said.result == "hi"
    assert (await twin.process.exec("stat -c %Y blob.bin")).result.strip() == "981173106"  # kept, as tar did

    source = cli(serve, "checkpoints", sb.name)
    [taken] = source["checkpoints"]  # the fork checkpointed the source as it was
    assert taken["files"] == 2 and f"fork to {twin.name}" in taken["message"]
    fork_tree = cli(serve, "checkpoints", twin.name)
    [first] = fork_tree["checkpoints"]
    assert first["kind"] == "fork"
    assert (first["parent"], first["parent_sandbox"]) == (taken["id"], sb.id)
    assert fork_tree["head"] == first["id"]
    assert first["files_added"] == 0  # the fork's files are the source's blobs: it cost nothing new in the store
    # the fork's own changes are measured from the state it was forked at
    await twin.fs.upload_file(b"new\n", "only-in-fork.txt")
    changes = cli(serve, "changes", twin.name)
    assert [(c["path"], c["status"]) for c in changes["changes"]] == [("only-in-fork.txt", "added")]
    assert await sb.fs.list_files(".") and "only-in-fork.txt" not in [f.name for f in await sb.fs.list_files(".")]
    # no temporary snapshot is left behind (the old route made one and deleted it)
    assert [s.name for s in (await sdk.snapshot.list()).items if s.name.startswith("fork-")] == []
    await twin.delete()
    await sb.delete()


async def test_experimental_fork_and_default_name(sdk: Any, serve: Serve) -> None:
    sb = await make(sdk)
    await sb.fs.upload_file(b"x", "x.txt")
    with pytest.warns(DeprecationWarning):
        twin = await sb._experimental_fork()
    assert twin.name.startswith(f"{sb.name}-fork-")
    assert await twin.fs.download_file("x.txt") == b"x"
    [first] = cli(serve, "checkpoints", twin.name)["checkpoints"]
    assert first["parent_sandbox"] == sb.id
    await twin.delete()
    await sb.delete()


async def test_fork_by_another_identity_is_refused_and_makes_nothing(sdk: Any, serve: Serve) -> None:
    from daytona import AsyncDaytona

    sb = await make(sdk)
    await sb.fs.upload_file(b"mine", "secret.txt")
    async with aiohttp.ClientSession() as http:
        for key in (sb.id, sb.name):  # by id and by name, as the SDK may address it
            url = f"{serve.api_url}/sandbox/{key}/fork"
            headers = {"Authorization": f"Bearer {serve.other_token}"}
            async with http.post(url, json={"name": "stolen"}, headers=headers) as resp:
                assert resp.status == 404  # answered as a missing sandbox: ids reveal nothing
                assert "secret" not in await resp.text()
    other = AsyncDaytona(serve.config(serve.other_token))
    try:
        assert [s.name async for s in other.list()] == []  # nothing was made for the other owner
    finally:
        await other.close()
    assert "stolen" not in [s.name async for s in sdk.list()]
    assert cli(serve, "checkpoints", sb.name)["checkpoints"] == []  # nor was the source checkpointed
    await sb.delete()


async def test_fork_to_a_taken_name_is_refused_before_anything_is_checkpointed(sdk: Any, serve: Serve) -> None:
    from daytona import DaytonaConflictError

    sb = await make(sdk)
    taken = await make(sdk)
    with pytest.raises(DaytonaConflictError, match="already exists"):
        await sb.fork(name=taken.name)
    assert cli(serve, "checkpoints", sb.name)["checkpoints"] == []
    await taken.delete()
    await sb.delete()


async def test_fork_of_a_stopped_sandbox_starts_it_and_forks(sdk: Any, serve: Serve) -> None:
    sb = await make(sdk)
    await sb.fs.upload_file(b"asleep", "a.txt")
    await sb.stop()
    twin = await sb.fork(name=unique("twin"))
    assert twin.state.value == "started"
    assert await twin.fs.download_file("a.txt") == b"asleep"
    await sb.refresh_data()
    assert sb.state.value == "started"  # checkpointed running, as `sandbench fork` does
    await twin.delete()
    await sb.delete()


async def test_snapshot_is_a_named_checkpoint_and_a_create_builds_on_it(sdk: Any, serve: Serve) -> None:
    from daytona import CreateSandboxFromSnapshotParams

    sb = await make(sdk)
    await sb.fs.upload_file(b"kept", "state.txt")
    snap = unique("snap")
    await sb.create_snapshot(snap)
    assert sb.state.value == "started"

    tree = cli(serve, "checkpoints", sb.name)
    [ckpt] = [c for c in tree["checkpoints"] if c["kind"] == "snapshot"]
    assert ckpt["name"] == snap and ckpt["files"] == 1
    assert tree["head"] != ckpt["id"]  # a snapshot is kept beside the sandbox's line, not in its way

    copy = await sdk.create(CreateSandboxFromSnapshotParams(name=unique(), snapshot=snap), timeout=30)
    assert await copy.fs.download_file("state.txt") == b"kept"
    [first] = cli(serve, "checkpoints", copy.name)["checkpoints"]
    assert (first["parent"], first["parent_sandbox"], first["kind"]) == (ckpt["id"], sb.id, "fork")

    snap2 = unique("snap")
    with pytest.warns(DeprecationWarning):
        await sb._experimental_create_snapshot(snap2)
    names = [c["name"] for c in cli(serve, "checkpoints", sb.name)["checkpoints"] if c["kind"] == "snapshot"]
    assert names == [snap, snap2]
    for name in (snap, snap2):
        await sdk.snapshot.delete(name)
    await copy.delete()
    await sb.delete()


async def test_snapshot_of_another_identity_is_refused(sdk: Any, serve: Serve) -> None:
    sb = await make(sdk)
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {serve.other_token}"}
        url = f"{serve.api_url}/sandbox/{sb.id}/snapshot"
        async with http.post(url, json={"name": unique("theirs")}, headers=headers) as resp:
            assert resp.status == 404
    assert [c for c in cli(serve, "checkpoints", sb.name)["checkpoints"] if c["kind"] == "snapshot"] == []
    await sb.delete()
