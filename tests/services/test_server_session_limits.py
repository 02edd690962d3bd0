"""Process sessions and execs of `sandbench serve` stay bounded (issue 10 §5): sessions are capped per identity,
a session keeps only its last commands, an identity's command logs stay under a byte budget, unused sessions are
deleted, no exec's output is held in memory beyond its cap, and an identity runs only so many commands, and follows
only so many logs, at once.

Driven by the unmodified `daytona` SDK against a real server started here with small limits; memory is the
server's peak RSS (`VmHWM`), read from /proc.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.services.serve_helpers import running_serve
from tests.services.test_server_harness import Serve
from tests.services.test_server_limits import descendants, make, vm_hwm_mib

pytestmark = [pytest.mark.timeout(180), pytest.mark.bwrap]

IDLE = 3.0  # --session-idle-timeout
MAX_COMMANDS = 4
BUDGET_MIB = 2


@pytest.fixture(scope="module")
def limited() -> Iterator[Serve]:
    flags = ["--session-max-sessions", "3", "--session-max-commands", str(MAX_COMMANDS)]
    flags += ["--session-log-budget-mib", str(BUDGET_MIB), "--session-idle-timeout", str(IDLE)]
    flags += ["--exec-max-concurrent", "2", "--follow-max-streams", "2", "--copy-max-concurrent", "1"]
    with running_serve(*flags, other_owner=False) as srv:
        yield srv


@pytest.fixture
async def sdk(limited: Serve) -> AsyncIterator[Any]:
    from daytona import AsyncDaytona

    client = AsyncDaytona(limited.config())
    yield client
    await client.close()


def run(command: str, *, run_async: bool = False) -> Any:
    from daytona import SessionExecuteRequest

    return SessionExecuteRequest(command=command, run_async=run_async)


async def test_process_sessions_are_capped_per_identity(sdk: Any) -> None:
    from daytona import DaytonaError

    one, two = await make(sdk), await make(sdk)
    await one.process.create_session("a")
    await one.process.create_session("b")
    await two.process.create_session("c")  # the cap counts the token's sessions over all its sandboxes
    with pytest.raises(DaytonaError, match=r"too many process sessions: 3 are open.*--session-max-sessions"):
        await two.process.create_session("d")
    await one.process.delete_session("a")
    await two.process.create_session("d")  # room again
    await one.delete()  # its session "b" goes with it
    await two.process.create_session("e")
    assert sorted(s.session_id for s in await two.process.list_sessions()) == ["c", "d", "e"]
    await two.delete()


async def test_a_session_keeps_its_last_commands_and_refuses_a_full_queue(sdk: Any) -> None:
    from daytona import DaytonaError, DaytonaNotFoundError

    sb = await make(sdk)
    p = sb.process
    await p.create_session("s")
    ids = [(await p.execute_session_command("s", run(f"echo n{i}"))).cmd_id for i in range(MAX_COMMANDS + 2)]
    kept = [c.id for c in (await p.get_session("s")).commands]
    assert kept == ids[2:]  # the oldest finished ones are forgotten first
    with pytest.raises(DaytonaNotFoundError):
        await p.get_session_command_logs("s", ids[0])
    assert (await p.get_session_command_logs("s", ids[-1])).stdout == f"n{MAX_COMMANDS + 1}\n"
    await p.create_session("q")
    for _ in range(MAX_COMMANDS):  # one runs, the others wait their turn
        await p.execute_session_command("q", run("sleep 60", run_async=True))
    with pytest.raises(DaytonaError, match=r"too many commands in session 'q': 4 are queued or running"):
        await p.execute_session_command("q", run("echo one-more", run_async=True))
    await p.delete_session("q")  # cancels the queue, kills the running sleep
    await sb.delete()


async def test_session_logs_stay_under_the_identity_budget(sdk: Any, limited: Serve) -> None:
    from daytona import DaytonaNotFoundError

    sb = await make(sdk)
    p = sb.process
    await p.create_session("x")
    await p.create_session("y")
    big = "head -c 1200K /dev/zero | tr '\\0' a"
    first = await p.execute_session_command("x", run(big))
    assert len(first.stdout) == 1200 * 1024
    second = await p.execute_session_command("y", run(big))  # over the budget with the first: it is forgotten
    assert len(second.stdout) == 1200 * 1024
    with pytest.raises(DaytonaNotFoundError):
        await p.get_session_command_logs("x", first.cmd_id)
    assert len((await p.get_session_command_logs("y", second.cmd_id)).stdout) == 1200 * 1024
    # one command alone past the budget: what fits is kept, then a note; the command itself runs to its end
    huge = await p.execute_session_command("y", run("head -c 300M /dev/zero"))
    assert huge.exit_code == 0
    assert len(huge.output) < BUDGET_MIB * 1024 * 1024 + 1024
    assert "session log budget is full" in huge.stdout
    peak = vm_hwm_mib(limited.proc.pid)
    assert peak < 200, f"server peak RSS {peak:.0f} MiB after 300 MiB of session output"
    await sb.delete()


async def test_toolbox_exec_output_is_cut_with_a_note_and_not_held(sdk: Any, limited: Serve) -> None:
    sb = await make(sdk)
    res = await sb.process.exec("head -c 300M /dev/zero | tr '\\0' x")
    assert res.exit_code == 0
    assert res.result.startswith("x" * 1000)
    assert res.result.endswith("[sandbench serve: output cut at 16 MiB]\n")
    assert len(res.result) < 16 * 1024 * 1024 + 100
    peak = vm_hwm_mib(limited.proc.pid)
    assert peak < 200, f"server peak RSS {peak:.0f} MiB after a 300 MiB exec"
    await sb.delete()


async def test_an_unused_session_is_deleted_and_a_busy_one_kept(sdk: Any) -> None:
    from daytona import DaytonaNotFoundError

    sb = await make(sdk)
    p = sb.process
    await p.create_session("unused")
    await p.create_session("busy")
    wait = IDLE + 3
    started = await p.execute_session_command("busy", run(f"sleep {wait}; echo done", run_async=True))
    out: list[str] = []
    # the follow is one request at the start; then nothing names the session until the command ends
    follow = asyncio.ensure_future(p.get_session_command_logs_async("busy", started.cmd_id, out.append, out.append))

    async def unused_gone() -> bool:  # listing names no session: it keeps none alive
        return "unused" not in {s.session_id for s in await p.list_sessions()}

    await wait_until(None, unused_gone, "the unused session is deleted", timeout=IDLE + 5)
    with pytest.raises(DaytonaNotFoundError):
        await p.get_session("unused")
    await asyncio.wait_for(follow, wait + 10)
    assert "".join(out) == "done\n"  # ran to its end, longer than the idle time
    assert (await p.get_session_command("busy", started.cmd_id)).exit_code == 0
    await sb.delete()


async def test_commands_running_at_once_are_capped_per_identity(sdk: Any) -> None:
    from daytona import DaytonaError, DaytonaRateLimitError

    sb = await make(sdk)
    running = [asyncio.ensure_future(sb.process.exec(f"touch up{i}; sleep 4")) for i in range(2)]

    async def both_up() -> bool:
        return {"up0", "up1"} <= {f.name for f in await sb.fs.list_files(".")}

    await wait_until(None, both_up, "two commands run", timeout=20)
    with pytest.raises(DaytonaRateLimitError, match=r"too many commands running: 2 are running.*--exec-max-concurrent"):
        await sb.process.exec("echo three")
    assert [r.exit_code for r in await asyncio.gather(*running)] == [0, 0]  # the two were not disturbed

    async def room() -> bool:
        try:
            return bool((await sb.process.exec("echo again")).result == "again\n")
        except DaytonaError:
            return False

    await wait_until(None, room, "a finished command frees its slot", timeout=10)
    await sb.delete()


async def test_a_command_whose_client_went_away_is_ended(sdk: Any, limited: Serve) -> None:
    from daytona import DaytonaError

    sb = await make(sdk)
    base = descendants(limited.proc.pid)
    gone = [asyncio.ensure_future(sb.process.exec(f"touch gone{i}; sleep 60")) for i in range(2)]

    async def both_up() -> bool:
        return {"gone0", "gone1"} <= {f.name for f in await sb.fs.list_files(".")}

    await wait_until(None, both_up, "two commands run", timeout=20)
    for task in gone:  # the client gives up: its connections close
        task.cancel()
    await asyncio.gather(*gone, return_exceptions=True)

    async def room() -> bool:
        try:
            return bool((await sb.process.exec("echo again")).result == "again\n")
        except DaytonaError:
            return False

    await wait_until(None, room, "the abandoned commands end and free their slots", timeout=10)
    await wait_until(None, lambda: not descendants(limited.proc.pid) - base, "their processes are gone", timeout=10)
    await sb.delete()


async def test_log_follow_streams_are_capped_per_identity(sdk: Any) -> None:
    from daytona import DaytonaError

    sb = await make(sdk)
    p = sb.process
    await p.create_session("f")
    # a line longer than the end marker the server holds back until it knows the line is not the marker
    line = "ready" + "." * 60
    started = await p.execute_session_command("f", run(f"echo {line}; sleep 30", run_async=True))
    seen: list[list[str]] = [[], []]
    follows = [
        asyncio.ensure_future(p.get_session_command_logs_async("f", started.cmd_id, got.append, got.append))
        for got in seen
    ]
    await wait_until(
        None, lambda: all("".join(got).startswith("ready") for got in seen), "two followers attached", timeout=10
    )
    with pytest.raises(DaytonaError, match=r"too many log streams: 2 are open for this owner.*--follow-max-streams"):
        await p.get_session_command_logs_async("f", started.cmd_id, print, print)
    await p.delete_session("f")  # the command ends: both followers get their end
    await asyncio.wait_for(asyncio.gather(*follows), 10)
    await p.create_session("g")  # and the streams are free again
    done = await p.execute_session_command("g", run("echo once more", run_async=True))
    out: list[str] = []
    await asyncio.wait_for(p.get_session_command_logs_async("g", done.cmd_id, out.append, out.append), 10)
    assert "".join(out) == "once more\n"
    await sb.delete()


async def test_git_output_is_bounded_a_noisy_hook_does_not_grow_the_server(sdk: Any, limited: Serve) -> None:
    """A pre-commit hook printing 300 MiB (git sends a hook's output to stderr): the commit through the SDK still
    works and the server holds at most its cap of it; a failing noisy hook is one clear error."""
    from daytona import DaytonaError

    sb = await make(sdk)
    hook = "printf '#!/bin/sh\\nhead -c 300M /dev/zero | tr \"\\\\\\\\0\" x >&2\\nexit ${FAIL:-0}\\n'"
    setup = (
        "git init -q repo && cd repo && git config user.name a && git config user.email a@b && "
        f"{hook} > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit && echo 1 > f.txt"
    )
    assert (await sb.process.exec(setup)).exit_code == 0
    await sb.git.add("repo", ["f.txt"])
    commit = await sb.git.commit("repo", "noisy hook", "a", "a@b")
    assert commit.sha
    peak = vm_hwm_mib(limited.proc.pid)
    assert peak < 200, f"server peak RSS {peak:.0f} MiB after a hook printed 300 MiB"
    # the hook fails now: one line of its output, not 300 MiB of it
    assert (await sb.process.exec("cd repo && sed -i 's/exit .*/exit 1/' .git/hooks/pre-commit")).exit_code == 0
    assert (await sb.process.exec("cd repo && echo 2 > f.txt")).exit_code == 0
    await sb.git.add("repo", ["f.txt"])
    with pytest.raises(DaytonaError) as err:
        await sb.git.commit("repo", "refused", "a", "a@b")
    assert len(str(err.value)) < 2000
    assert vm_hwm_mib(limited.proc.pid) < 200
    await sb.delete()


async def test_workspace_copies_running_at_once_are_capped_per_identity(sdk: Any) -> None:
    """A fork or snapshot reads and writes a whole workspace on the server's shared threads: an owner's burst of
    them is refused past the cap (here 1) instead of holding every other request behind it, and a finished one
    frees its slot."""
    from daytona import DaytonaError, DaytonaRateLimitError

    sb = await make(sdk)
    await sb.process.exec("mkdir -p t && for i in $(seq 1500); do echo $i > t/f$i; done")  # a fork takes a while
    burst = await asyncio.gather(*(sb.fork() for _ in range(4)), return_exceptions=True)
    made = [r for r in burst if not isinstance(r, BaseException)]
    refused = [r for r in burst if isinstance(r, DaytonaRateLimitError)]
    assert made and refused and len(made) + len(refused) == 4, burst
    assert "too many workspace copies running: 1" in str(refused[0]) and "--copy-max-concurrent" in str(refused[0])
    assert {f.name for f in await made[0].fs.list_files("t")} >= {"f1", "f1500"}  # the one made is whole

    async def room() -> bool:
        try:
            await sb.create_snapshot(f"copy-cap-{sb.id[:8]}")
            return True
        except DaytonaRateLimitError:
            return False
        except DaytonaError:
            raise

    await wait_until(None, room, "a finished copy frees its slot", timeout=20)
    for twin in made:
        await twin.delete()
    await sb.delete()


async def test_a_follower_that_leaves_frees_its_stream(sdk: Any) -> None:
    """A client that stops following (its task cancelled, its WebSocket closed) gives its stream back at once,
    while the command still runs and prints nothing: the server noticed only at the command's next output."""
    from daytona import DaytonaError

    sb = await make(sdk)
    p = sb.process
    await p.create_session("quiet")
    started = await p.execute_session_command("quiet", run("echo ready; sleep 120", run_async=True))
    seen: list[list[str]] = [[], []]
    follows = [
        asyncio.ensure_future(p.get_session_command_logs_async("quiet", started.cmd_id, got.append, got.append))
        for got in seen
    ]
    await wait_until(None, lambda: all("".join(got).startswith("ready") for got in seen), "two followers", timeout=10)
    for follow in follows:
        follow.cancel()
    await asyncio.gather(*follows, return_exceptions=True)
    third: list[str] = []

    async def attached() -> bool:
        task = asyncio.ensure_future(p.get_session_command_logs_async("quiet", started.cmd_id, third.append, print))
        try:
            await asyncio.wait_for(asyncio.shield(task), 1)
        except TimeoutError:
            pass  # still following: it was let in
        except DaytonaError:
            return False  # refused: the two that left still count
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return "".join(third).startswith("ready")

    await wait_until(None, attached, "a third follower let in after two left", timeout=15)
    await p.delete_session("quiet")
    await sb.delete()
