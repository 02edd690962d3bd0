"""Conformance: the unmodified `daytona` SDK (`AsyncDaytona`) drives `sandbench serve` running as a real process.

Lifecycle, labels, list filtering, snapshots, files, exec, PTY (create/input/output/resize/kill/reconnect) and git,
exactly as agent code written for Daytona would call them. Exec, PTY and git run real bubblewrap (`bwrap` mark).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.services import test_server_harness as harness
from tests.services.test_server_harness import unique

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = pytest.mark.timeout(120)


async def make(d: Any, **kw: Any) -> Any:
    from daytona import CreateSandboxFromSnapshotParams

    return await d.create(CreateSandboxFromSnapshotParams(name=unique(), **kw), timeout=30)


# -- lifecycle --------------------------------------------------------------------------------------------------
@pytest.mark.serial  # a wall-clock bar: alone under xdist
async def test_create_is_started_synchronously_and_get_by_id_and_name(sdk: Any) -> None:
    from daytona import DaytonaNotFoundError

    t = time.perf_counter()
    sb = await make(sdk, labels={"team": "a"}, auto_stop_interval=0, ephemeral=False)
    took = time.perf_counter() - t
    assert sb.state.value == "started"
    assert took < 0.9, f"create waited on a poll ({took:.2f} s)"
    assert sb.labels["team"] == "a"
    assert "sandbench.owner" not in sb.labels  # ownership is the token's; the owner label stays inside (issue 12)
    assert sb.public is False
    assert sb.network_block_all is True  # offline unless asked, as local sandboxes are
    assert (await sdk.get(sb.id)).id == sb.id
    assert (await sdk.get(sb.name)).id == sb.id
    await sb.delete()
    with pytest.raises(DaytonaNotFoundError):
        await sdk.get(sb.id)


@pytest.mark.serial  # a wall-clock bar: alone under xdist
async def test_stop_start_archive_return_final_states(sdk: Any) -> None:
    sb = await make(sdk)
    t = time.perf_counter()
    await sb.stop()
    assert sb.state.value == "stopped"
    await sb.start()
    assert sb.state.value == "started"
    await sb.stop()
    await sb.archive()
    await sb.refresh_data()
    assert sb.state.value == "archived"
    await sb.start()
    assert sb.state.value == "started"
    assert time.perf_counter() - t < 3.0, "a lifecycle call waited on the SDK's 1 s poll"
    await sb.delete()


async def test_labels_and_list_filtering(sdk: Any) -> None:
    from daytona import ListSandboxesQuery

    tag = unique("tag")
    a = await make(sdk, labels={"suite": tag, "role": "a"})
    b = await make(sdk, labels={"suite": tag, "role": "b"})
    names = {s.name async for s in sdk.list(ListSandboxesQuery(labels={"suite": tag}))}
    assert names == {a.name, b.name}
    only_b = [s.name async for s in sdk.list(ListSandboxesQuery(labels={"suite": tag, "role": "b"}))]
    assert only_b == [b.name]
    paged = [s.name async for s in sdk.list(ListSandboxesQuery(labels={"suite": tag}, limit=1))]
    assert sorted(paged) == sorted(names)  # the SDK followed nextCursor across pages of one
    new = await a.set_labels({"suite": tag, "role": "c"})
    assert new["role"] == "c"
    assert "sandbench.owner" not in new  # the owner label stays inside the server
    assert (await sdk.get(a.id)).labels["role"] == "c"  # still ours: relabelling never gives a sandbox away
    only_c = [s.name async for s in sdk.list(ListSandboxesQuery(labels={"role": "c", "suite": tag}))]
    assert only_c == [a.name]
    await a.delete()
    await b.delete()


async def test_snapshot_and_create_from_it(sdk: Any) -> None:
    from daytona import CreateSandboxFromSnapshotParams

    sb = await make(sdk)
    await sb.fs.upload_file(b"kept", "state.txt")
    snap = unique("snap")
    await sb.create_snapshot(snap)
    assert sb.state.value == "started"
    listed = await sdk.snapshot.list()
    assert snap in [s.name for s in listed.items]
    copy = await sdk.create(CreateSandboxFromSnapshotParams(name=unique(), snapshot=snap), timeout=30)
    assert await copy.fs.download_file("state.txt") == b"kept"
    await sdk.snapshot.delete(snap)
    assert snap not in [s.name for s in (await sdk.snapshot.list()).items]
    await copy.delete()
    await sb.delete()


async def test_fork_copies_files(sdk: Any) -> None:
    sb = await make(sdk, labels={"team": "f"})
    await sb.fs.upload_file(b"forked", "f.txt")
    twin = await sb.fork(name=unique("twin"))
    assert twin.id != sb.id and twin.state.value == "started" and twin.labels["team"] == "f"
    assert await twin.fs.download_file("f.txt") == b"forked"
    assert [s.name for s in (await sdk.snapshot.list()).items if s.name.startswith("fork-")] == []
    await twin.delete()
    await sb.delete()


async def test_unknown_snapshot_is_refused(sdk: Any) -> None:
    from daytona import CreateSandboxFromSnapshotParams, DaytonaError

    with pytest.raises(DaytonaError, match="no snapshot"):
        await sdk.create(CreateSandboxFromSnapshotParams(name=unique(), snapshot="nope"), timeout=10)


# -- files ------------------------------------------------------------------------------------------------------
async def test_files(sdk: Any) -> None:
    from daytona import DaytonaFileNotFoundError, FileUpload

    sb = await make(sdk)
    home = await sb.get_user_home_dir()
    assert home == "/home/sandbox"
    await sb.fs.create_folder(f"{home}/src", "755")
    await sb.fs.upload_file(b"print('hi')\n", f"{home}/src/main.py")
    await sb.fs.upload_files([FileUpload(b"one", "src/deep/a.txt"), FileUpload(b"two", "src/deep/b.txt")])
    assert await sb.fs.download_file("src/main.py") == b"print('hi')\n"
    assert await sb.fs.download_file(f"{home}/src/deep/b.txt") == b"two"
    listing = {f.name: f for f in await sb.fs.list_files(f"{home}/src")}
    assert set(listing) == {"main.py", "deep"}
    assert listing["deep"].is_dir and not listing["main.py"].is_dir
    info = await sb.fs.get_file_info("src/main.py")
    assert info.size == 12 and info.name == "main.py"
    await sb.fs.move_files("src/main.py", "src/app.py")
    with pytest.raises(DaytonaFileNotFoundError):
        await sb.fs.download_file("src/main.py")
    found = (await sb.fs.search_files("src", "*.txt")).files
    assert sorted(found) == ["src/deep/a.txt", "src/deep/b.txt"]
    await sb.fs.delete_file("src/deep", recursive=True)
    assert {f.name for f in await sb.fs.list_files("src")} == {"app.py"}
    await sb.fs.delete_file("src/app.py")
    assert await sb.fs.list_files("src") == []
    await sb.delete()


@pytest.mark.bwrap
async def test_find_in_files(sdk: Any) -> None:
    sb = await make(sdk)
    await sb.fs.upload_file(b"alpha\nneedle here\n", "a.txt")
    await sb.fs.upload_file(b"nothing\n", "b.txt")
    matches = await sb.fs.find_files("", "needle")
    assert [(m.file, m.line, m.content) for m in matches] == [("a.txt", 2, "needle here")]
    await sb.delete()


# -- exec -------------------------------------------------------------------------------------------------------
@pytest.mark.bwrap
async def test_exec_exit_codes_output_cwd_env(sdk: Any) -> None:
    sb = await make(sdk)
    r = await sb.process.exec("echo hello; echo oops >&2; exit 3")
    assert r.exit_code == 3
    assert r.result == "hello\noops\n"
    await sb.fs.create_folder("work", "755")
    r = await sb.process.exec("pwd; echo $GREETING", cwd="/home/sandbox/work", env={"GREETING": "hi there"})
    assert (r.exit_code, r.result) == (0, "/home/sandbox/work\nhi there\n")
    r = await sb.process.exec("true")
    assert (r.exit_code, r.result) == (0, "")
    await sb.stop()
    r = await sb.process.exec("echo auto-started")  # the service starts a stopped sandbox on demand
    assert r.result == "auto-started\n"
    await sb.delete()


@pytest.mark.bwrap
async def test_code_run(sdk: Any) -> None:
    from daytona import CodeRunParams

    sb = await make(sdk)
    r = await sb.process.code_run(
        "import sys; print(sum(range(10)), sys.argv[1:]); sys.exit(2)", CodeRunParams(argv=["a b"])
    )
    assert (r.exit_code, r.result) == (2, "45 ['a b']\n")
    # code past one argument's limit is refused with what to do, not "could not start the sandboxed process"
    # (the SDK raises its generated client's 400 for code_run, not a DaytonaError)
    with pytest.raises(Exception, match="at most 120 KiB"):
        await sb.process.code_run("x = 1\n" * 30_000)
    r = await sb.process.code_run("x = 1\n" * 10_000 + "print(x)")
    assert r.result == "1\n"
    await sb.delete()


@pytest.mark.bwrap
async def test_exec_timeout(sdk: Any) -> None:
    from daytona import DaytonaTimeoutError

    sb = await make(sdk)
    with pytest.raises(DaytonaTimeoutError):
        await sb.process.exec("sleep 10", timeout=1)
    await sb.delete()


@pytest.mark.bwrap
async def test_sessions_keep_cwd_and_exports_and_stream_logs(sdk: Any) -> None:
    from daytona import SessionExecuteRequest

    sb = await make(sdk)
    p = sb.process
    await p.create_session("s1")
    r = await p.execute_session_command("s1", SessionExecuteRequest(command="mkdir -p d && cd d && export K=v1"))
    assert r.exit_code == 0
    r = await p.execute_session_command("s1", SessionExecuteRequest(command="pwd; echo $K; echo err >&2; exit 4"))
    assert (r.exit_code, r.stdout, r.stderr) == (4, "/home/sandbox/d\nv1\n", "err\n")
    started = await p.execute_session_command(
        "s1", SessionExecuteRequest(command="for i in 1 2 3; do echo out$i; sleep 0.1; done", run_async=True)
    )
    out: list[str] = []
    await asyncio.wait_for(p.get_session_command_logs_async("s1", started.cmd_id, out.append, out.append), 10)
    assert "".join(out) == "out1\nout2\nout3\n"
    cmd = await p.get_session_command("s1", started.cmd_id)
    assert cmd.exit_code == 0
    logs = await p.get_session_command_logs("s1", started.cmd_id)
    assert logs.stdout == "out1\nout2\nout3\n"
    assert [c.exit_code for c in (await p.get_session("s1")).commands] == [0, 4, 0]
    assert [s.session_id for s in await p.list_sessions()] == ["s1"]
    await p.delete_session("s1")
    assert await p.list_sessions() == []
    await sb.delete()


# -- PTY --------------------------------------------------------------------------------------------------------
class Collector:
    def __init__(self) -> None:
        self.data = bytearray()

    def __call__(self, chunk: bytes) -> None:
        self.data += chunk

    async def wait_for(self, needle: bytes, timeout: float = 10.0) -> None:
        tail = lambda: repr(bytes(self.data)[-500:])  # noqa: E731
        await wait_until(None, lambda: needle in self.data, f"{needle!r} in the output", timeout, show=tail)


@pytest.mark.bwrap
async def test_pty_input_output_resize_exit(sdk: Any) -> None:
    from daytona import PtySize

    sb = await make(sdk)
    out = Collector()
    h = await sb.process.create_pty_session(
        id="t1", on_data=out, envs={"PROBE": "from-env"}, pty_size=PtySize(rows=30, cols=100)
    )
    await h.send_input("echo $PROBE; stty size\n")
    await out.wait_for(b"from-env")
    await out.wait_for(b"30 100")
    await h.resize(PtySize(rows=40, cols=120))
    await h.send_input("stty size\n")
    await out.wait_for(b"40 120")
    sessions = await sb.process.list_pty_sessions()
    assert [(s.id, s.cols, s.rows, s.active) for s in sessions] == [("t1", 120, 40, True)]
    await h.send_input("seq 1 300000; echo seq-$((1+1))-done\n")  # a burst of ~2 MB through the WebSocket
    await out.wait_for(b"seq-2-done", timeout=30)
    assert b"\n299999\r\n300000\r\n" in out.data
    await h.send_input("exit 7\n")
    result = await asyncio.wait_for(h.wait(), 10)
    assert result.exit_code == 7
    await sb.delete()


@pytest.mark.bwrap
async def test_pty_kill_and_duplicate_id(sdk: Any) -> None:
    from daytona import DaytonaConflictError, DaytonaNotFoundError

    sb = await make(sdk)
    h = await sb.process.create_pty_session(id="k", on_data=Collector())
    with pytest.raises(DaytonaConflictError):
        await sb.process.create_pty_session(id="k", on_data=Collector())
    await sb.process.kill_pty_session("k")
    result = await asyncio.wait_for(h.wait(), 10)
    assert result.exit_code == 137
    with pytest.raises(DaytonaNotFoundError):
        await sb.process.get_pty_session_info("k")
    await sb.delete()


@pytest.mark.bwrap
async def test_pty_reconnect_finds_shell_and_output(sdk: Any) -> None:
    sb = await make(sdk)
    first = Collector()
    h = await sb.process.create_pty_session(id="keep", on_data=first)
    await h.send_input("MARK=$((6*7)); echo before-$MARK\n")
    await first.wait_for(b"before-42")
    await h.disconnect()  # the client goes away; the shell must not
    await asyncio.sleep(0.2)
    assert (await sb.process.get_pty_session_info("keep")).active
    second = Collector()
    h2 = await sb.process.connect_pty_session("keep", on_data=second)
    await second.wait_for(b"before-42")  # recent output replayed
    await h2.send_input("echo after-$MARK\n")  # same shell: its variable is still set
    await second.wait_for(b"after-42")
    await h2.send_input("exit\n")
    assert (await asyncio.wait_for(h2.wait(), 10)).exit_code == 0
    await sb.delete()


async def test_pty_connect_to_missing_session(sdk: Any) -> None:
    from daytona import DaytonaError

    sb = await make(sdk)
    with pytest.raises(DaytonaError, match="not found"):
        await sb.process.connect_pty_session("ghost", on_data=Collector())
    await sb.delete()


# -- git --------------------------------------------------------------------------------------------------------
@pytest.mark.bwrap
async def test_git_status_add_commit_branches(sdk: Any) -> None:
    sb = await make(sdk)
    r = await sb.process.exec("git init -q -b main repo")
    assert r.exit_code == 0, r.result
    await sb.fs.upload_file(b"hello\n", "repo/a.txt")
    status = await sb.git.status("repo")
    assert status.current_branch == "main"
    assert [(f.name, f.worktree.value) for f in status.file_status] == [("a.txt", "Untracked")]
    await sb.git.add("repo", ["a.txt"])
    status = await sb.git.status("/home/sandbox/repo")
    assert [(f.name, f.staging.value) for f in status.file_status] == [("a.txt", "Added")]
    commit = await sb.git.commit("repo", "first commit\n\nwith a body; $(not run)", "Tess Ter", "t@example.com")
    assert len(commit.sha) == 40
    log = await sb.process.exec("git -C repo log -1 --format=%an%n%B")
    assert log.result.startswith("Tess Ter\nfirst commit\n\nwith a body; $(not run)")
    assert (await sb.git.status("repo")).file_status == []
    await sb.git.create_branch("repo", "feature")
    branches = await sb.git.branches("repo")
    assert sorted(branches.branches) == ["feature", "main"]
    await sb.git.checkout_branch("repo", "feature")
    assert (await sb.git.status("repo")).current_branch == "feature"
    await sb.delete()


@pytest.mark.bwrap
async def test_git_outside_a_repo_is_a_typed_error(sdk: Any) -> None:
    from daytona import DaytonaError

    sb = await make(sdk)
    await sb.fs.create_folder("plain", "755")
    with pytest.raises(DaytonaError):
        await sb.git.status("plain")
    await sb.delete()
