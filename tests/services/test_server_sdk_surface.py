"""Conformance, continued: SDK calls agent code makes that `sandbench serve` once refused or answered wrongly (issue
12) — exec in any folder of the sandbox, `python`, the timeout message, replace in files, upload errors, input to a
running session command, and git beyond status/commit. The unmodified `daytona` SDK (async, and the sync client
where its transport differs) against a real server and real bubblewrap.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.services import test_server_harness as harness
from tests.services.test_server_harness import Serve, unique

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


async def make(d: Any, **kw: Any) -> Any:
    from daytona import CreateSandboxFromSnapshotParams

    return await d.create(CreateSandboxFromSnapshotParams(name=unique(), **kw), timeout=30)


# -- exec -------------------------------------------------------------------------------------------------------
async def test_exec_runs_in_any_folder_of_the_sandbox(sdk: Any) -> None:
    from daytona import DaytonaValidationError

    sb = await make(sdk)
    r = await sb.process.exec("pwd; touch here && ls", cwd="/tmp")
    assert (r.exit_code, r.result) == (0, "/tmp\nhere\n")
    r = await sb.process.exec("pwd; ls python3", cwd="/usr/bin")
    assert (r.exit_code, r.result) == (0, "/usr/bin\npython3\n")
    await sb.fs.create_folder("proj", "755")
    r = await sb.process.exec("pwd", cwd="proj")  # relative: the workspace, as before
    assert r.result == "/home/sandbox/proj\n"
    # a folder that exists only on the host is not one of the sandbox's
    for missing in ("/work", "/home/sandbox/nope", "nope"):
        with pytest.raises(DaytonaValidationError, match="not a folder inside the sandbox") as err:
            await sb.process.exec("pwd", cwd=missing)
        assert "bwrap" not in str(err.value)
    await sb.delete()


async def test_python_resolves_in_exec_and_sessions(sdk: Any) -> None:
    from daytona import SessionExecuteRequest

    sb = await make(sdk)
    r = await sb.process.exec("python -c 'import sys; print(sys.version_info[0])'")
    assert (r.exit_code, r.result) == (0, "3\n")
    await sb.process.create_session("py")
    r = await sb.process.execute_session_command("py", SessionExecuteRequest(command="python -c 'print(6*7)'"))
    assert (r.exit_code, r.stdout) == (0, "42\n")
    r = await sb.process.exec("ln -s /bin/true /opt/sandbench/bin/evil")  # the shim folder is not writable
    assert r.exit_code != 0
    await sb.delete()


async def test_exec_timeout_says_timeout(sdk: Any) -> None:
    from daytona import DaytonaProcessExecutionTimeoutError

    sb = await make(sdk)
    with pytest.raises(DaytonaProcessExecutionTimeoutError, match="timeout"):
        await sb.process.exec("sleep 10", timeout=1)
    await sb.delete()


# -- files ------------------------------------------------------------------------------------------------------
async def test_replace_in_files(sdk: Any) -> None:
    sb = await make(sdk)
    await sb.fs.upload_file(b"old = 1\nprint(old)\n", "src/a.py")
    await sb.fs.upload_file(b"nothing here\n", "src/b.py")
    await sb.process.exec("chmod 755 src/a.py && ln -s a.py src/link.py")
    results = await sb.fs.replace_in_files(
        ["src/a.py", "/home/sandbox/src/b.py", "src/link.py", "src/missing.py", "/etc/passwd"], "old", "new"
    )
    got = [(r.file, r.success) for r in results]
    assert got == [
        ("src/a.py", True),
        ("/home/sandbox/src/b.py", True),
        ("src/link.py", False),  # a symlink is never followed
        ("src/missing.py", False),
        ("/etc/passwd", False),  # outside the workspace, as for every file call
    ]
    assert all(r.error for r in results if not r.success)
    assert await sb.fs.download_file("src/a.py") == b"new = 1\nprint(new)\n"
    assert await sb.fs.download_file("src/b.py") == b"nothing here\n"
    r = await sb.process.exec("stat -c %a src/a.py; ls src")
    assert r.result == "755\na.py\nb.py\nlink.py\n"  # mode kept, no temp file left behind
    await sb.delete()


async def test_upload_outside_the_workspace_says_where_uploads_go(sdk: Any, serve: Serve) -> None:
    from daytona import Daytona, DaytonaError

    sb = await make(sdk)
    with pytest.raises(DaytonaError) as err:
        await sb.fs.upload_file(b"x", "/tmp/x.txt")
    assert err.value.status_code == 400
    assert str(err.value) == (
        "Failed to upload files: 400: uploads go under /home/sandbox (the sandbox's workspace, the only folder "
        "that persists): '/tmp/x.txt' is outside it"
    )
    sync_sb = Daytona(serve.config()).get(sb.id)  # the sync client's transport (httpx) reports it the same way
    with pytest.raises(DaytonaError, match="uploads go under /home/sandbox") as err:
        await asyncio.to_thread(sync_sb.fs.upload_file, b"x", "/etc/x.txt")
    assert err.value.status_code == 400
    await sb.delete()


# -- sessions ---------------------------------------------------------------------------------------------------
async def test_input_to_a_running_session_command(sdk: Any) -> None:
    from daytona import DaytonaCommandAlreadyCompletedError, SessionExecuteRequest

    sb = await make(sdk)
    p = sb.process
    await p.create_session("in")
    script = "read name; echo hello-$name; read secret; echo got-${#secret}"
    started = await p.execute_session_command("in", SessionExecuteRequest(command=script, run_async=True))
    await p.send_session_command_input("in", started.cmd_id, "world\n")
    out: list[str] = []
    follow = asyncio.ensure_future(p.get_session_command_logs_async("in", started.cmd_id, out.append, out.append))
    deadline = asyncio.get_running_loop().time() + 10
    while "hello-world" not in "".join(out):
        assert asyncio.get_running_loop().time() < deadline, out
        await asyncio.sleep(0.02)
    await p.send_session_command_input("in", started.cmd_id, "s3cret\n")
    await asyncio.wait_for(follow, 10)
    assert (await p.get_session_command("in", started.cmd_id)).exit_code == 0
    logs = await p.get_session_command_logs("in", started.cmd_id)
    # input is echoed into the log (Daytona's default), then the command's own output
    assert logs.stdout == "world\nhello-world\ns3cret\ngot-6\n"

    quiet = await p.execute_session_command(
        "in", SessionExecuteRequest(command="read x; echo len-${#x}", run_async=True, suppress_input_echo=True)
    )
    await p.send_session_command_input("in", quiet.cmd_id, "abc\n")
    await asyncio.wait_for(p.get_session_command_logs_async("in", quiet.cmd_id, out.append, out.append), 10)
    assert (await p.get_session_command_logs("in", quiet.cmd_id)).stdout == "len-3\n"
    with pytest.raises(DaytonaCommandAlreadyCompletedError):
        await p.send_session_command_input("in", quiet.cmd_id, "late\n")
    await sb.delete()


async def test_session_command_without_input_is_not_stuck(sdk: Any) -> None:
    from daytona import SessionExecuteRequest

    sb = await make(sdk)
    await sb.process.create_session("bg")
    started = await sb.process.execute_session_command(
        "bg", SessionExecuteRequest(command="sleep 60; echo never", run_async=True)
    )
    await sb.process.delete_session("bg")  # the waiting stdin must not keep the command alive
    r = await sb.process.exec("pgrep -c sleep || true")
    assert r.result.strip() == "0"
    assert started.cmd_id
    await sb.delete()


# -- git --------------------------------------------------------------------------------------------------------
GIT_ID = "-c user.name=T -c user.email=t@example.com"


async def _origin(sb: Any) -> None:
    """A repository `origin` in the sandbox with one commit on main and one on branch `other`."""
    r = await sb.process.exec(
        f"git init -q -b main origin && cd origin && echo one > a.txt && git add a.txt && git {GIT_ID} commit -qm one"
        f" && git switch -qc other && echo two > b.txt && git add b.txt && git {GIT_ID} commit -qm two"
        " && git switch -q main"
    )
    assert r.exit_code == 0, r.result


async def test_git_clone_init_remotes_push_pull(sdk: Any) -> None:
    from daytona import DaytonaGitTransportFailedError

    sb = await make(sdk)
    g = sb.git
    await _origin(sb)
    await g.clone("/home/sandbox/origin", "work/one")  # a local path; parent folders created
    assert (await g.status("work/one")).current_branch == "main"
    assert await sb.fs.download_file("work/one/a.txt") == b"one\n"
    await g.clone("file:///home/sandbox/origin", "two", branch="other", depth=1)
    assert (await g.status("two")).current_branch == "other"
    r = await sb.process.exec("git -C two rev-list --count HEAD")
    assert r.result == "1\n"  # shallow
    with pytest.raises(DaytonaGitTransportFailedError, match="no network"):
        await g.clone("https://example.com/repo.git", "net")

    await g.init("shared.git", bare=True, initial_branch="trunk")
    await g.init("fresh", initial_branch="trunk")
    assert (await g.status("fresh")).current_branch == "trunk"
    await g.remote_add("fresh", "pub", "/home/sandbox/shared.git")
    assert [(x.name, x.url) for x in (await g.remotes("fresh")).remotes] == [("pub", "/home/sandbox/shared.git")]
    assert await g.remote_get("fresh", "pub") == "/home/sandbox/shared.git"

    await sb.fs.upload_file(b"v1\n", "fresh/f.txt")
    await g.add("fresh", ["f.txt"])
    await g.commit("fresh", "v1", "T", "t@example.com")
    await g.push("fresh", remote="pub", set_upstream=True)
    assert (await g.status("fresh")).upstream == "pub/trunk"
    r = await sb.process.exec("git --git-dir=shared.git log --format=%s trunk")
    assert r.result == "v1\n"

    # a second clone pushes; the first pulls it
    await g.clone("/home/sandbox/shared.git", "mate")
    await sb.fs.upload_file(b"v2\n", "mate/f.txt")
    await g.add("mate", ["f.txt"])
    await g.commit("mate", "v2", "T", "t@example.com")
    await g.push("mate")
    await g.pull("fresh")
    assert await sb.fs.download_file("fresh/f.txt") == b"v2\n"
    await sb.delete()


async def test_git_restore(sdk: Any) -> None:
    sb = await make(sdk)
    g = sb.git
    await _origin(sb)
    await sb.fs.upload_file(b"changed\n", "origin/a.txt")
    await g.restore("origin", ["a.txt"])
    assert await sb.fs.download_file("origin/a.txt") == b"one\n"
    await sb.fs.upload_file(b"staged\n", "origin/a.txt")
    await g.add("origin", ["a.txt"])
    await g.restore("origin", ["a.txt"], staged=True)  # out of the index, the change kept in the worktree
    st = await g.status("origin")
    assert [(f.name, f.staging.value, f.worktree.value) for f in st.file_status] == [
        ("a.txt", "Unmodified", "Modified")
    ]
    assert await sb.fs.download_file("origin/a.txt") == b"staged\n"
    await sb.delete()


async def test_git_delete_branch_deletes_unmerged_ones(sdk: Any) -> None:
    from daytona import DaytonaGitBranchNotFoundError

    sb = await make(sdk)
    g = sb.git
    await _origin(sb)
    await g.delete_branch("origin", "other")  # not merged into main: Daytona deletes it anyway
    assert (await g.branches("origin")).branches == ["main"]
    with pytest.raises(DaytonaGitBranchNotFoundError):
        await g.delete_branch("origin", "nope")
    await sb.delete()


# -- lifecycle --------------------------------------------------------------------------------------------------
async def test_env_vars_at_create_reach_every_process(sdk: Any, serve: Serve) -> None:
    import stat

    from daytona import SessionExecuteRequest

    from tests.services.test_server_sdk import Collector

    secret = unique("value")
    sb = await make(sdk, env_vars={"FOO": "bar baz", "API_TOKEN": secret})
    assert sb.env == {"FOO": "bar baz", "API_TOKEN": secret}
    assert (await sdk.get(sb.id)).env == sb.env
    r = await sb.process.exec('echo "$FOO"; echo "$API_TOKEN"')
    assert r.result == f"bar baz\n{secret}\n"
    r = await sb.process.exec('echo "$FOO"', env={"FOO": "mine"})  # the request's own variables win
    assert r.result == "mine\n"
    r = await sb.process.code_run("import os; print(os.environ['FOO'])")
    assert r.result == "bar baz\n"
    await sb.process.create_session("env")
    r = await sb.process.execute_session_command("env", SessionExecuteRequest(command='echo "s:$FOO"'))
    assert r.stdout == "s:bar baz\n"
    out = Collector()
    h = await sb.process.create_pty_session(id="envpty", on_data=out)
    await h.send_input('echo "p:$FOO"\n')
    await out.wait_for(b"p:bar baz")
    await h.kill()

    kept = serve.home / "serve-env" / f"{sb.id}.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    fork = await sb.fork(name=unique("twin"))
    r = await fork.process.exec('echo "$FOO"')
    assert r.result == "bar baz\n"
    await fork.delete()
    await sb.delete()
    assert not kept.exists()
    assert secret not in serve.log.read_text()


# -- create with resources --------------------------------------------------------------------------------------
async def test_create_asking_more_than_the_host_has_is_refused_and_makes_nothing(sdk: Any) -> None:
    """A local sandbox's resources are caps on this host: more CPUs or memory than it has is refused in words (the
    SDK's validation error), as `sandbench create` refuses it, and no sandbox is left behind; within them it works."""
    import os

    from daytona import CreateSandboxFromImageParams, DaytonaValidationError, Resources

    cpus = os.cpu_count() or 1
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    for resources, said in (
        (Resources(cpu=cpus + 1), f"{cpus + 1} CPUs is more than this machine has ({cpus})"),
        (Resources(memory=int(memory) + 1), f"{int(memory) + 1} GiB of memory is more than this machine has"),
    ):
        name = unique()
        with pytest.raises(DaytonaValidationError, match=r"nothing was created") as err:
            await sdk.create(CreateSandboxFromImageParams(name=name, image="python:3.12", resources=resources))
        assert said in str(err.value) and "\n" not in str(err.value) and "Traceback" not in str(err.value)
        assert [s.name async for s in sdk.list() if s.name == name] == []  # nothing was made
    sb = await sdk.create(CreateSandboxFromImageParams(name=unique(), image="python:3.12", resources=Resources(cpu=1)))
    assert sb.cpu == 1
    await sb.delete()
