"""The code interpreter of `sandbench serve`, driven by the unmodified `daytona` SDK (both clients) against a real
server: state kept between runs, contexts isolated from each other, output streamed in order, errors with their
name/value/traceback, timeouts that interrupt and say so, contexts whose process ends with them, and the caps.

Every run executes real Python in a real bubblewrap sandbox.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
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

pytestmark = pytest.mark.timeout(120)


async def make(d: Any) -> Any:
    from daytona import CreateSandboxFromSnapshotParams

    return await d.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)


def _procs_with(marker: str) -> list[int]:
    """Host pids whose command line holds `marker` (sandboxed processes are host processes too)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if marker.encode() in Path(entry.path, "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def _parent(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


# -- async client -----------------------------------------------------------------------------------------------
async def test_variables_persist_between_runs_in_the_default_context(sdk: Any) -> None:
    sb = await make(sdk)
    ci = sb.code_interpreter
    first = await ci.run_code("import math\ncounter = 41\ndef bump(n):\n    return n + 1\n")
    assert first.error is None and first.stdout == ""
    second = await ci.run_code("counter = bump(counter)\nprint(counter, math.pi > 3)")
    assert second.error is None
    assert second.stdout == "42 True\n"
    assert await ci.list_contexts() == []  # the default context is never listed
    await sb.delete()


async def test_contexts_are_isolated_listed_and_keep_their_cwd(sdk: Any) -> None:
    sb = await make(sdk)
    ci = sb.code_interpreter
    a = await ci.create_context()
    b = await ci.create_context(cwd="/tmp")
    assert a.id != b.id and a.language == "python" and a.active
    assert a.cwd == "/home/sandbox" and b.cwd == "/tmp"
    assert {c.id for c in await ci.list_contexts()} == {a.id, b.id}
    await ci.run_code("secret = 'a'", context=a)
    await ci.run_code("secret = 'default'")
    in_b = await ci.run_code("print(secret)", context=b)
    assert in_b.error is not None and in_b.error.name == "NameError"
    assert (await ci.run_code("print(secret)", context=a)).stdout == "a\n"
    assert (await ci.run_code("print(secret)")).stdout == "default\n"
    assert (await ci.run_code("import os; print(os.getcwd())", context=b)).stdout == "/tmp\n"
    # separate processes, not separate namespaces of one: even builtins and loaded modules are not shared
    await ci.run_code("import builtins, sys\nbuiltins.planted = 1\nsys.modules['planted_mod'] = sys", context=a)
    leak = await ci.run_code(
        "import sys\nprint(hasattr(__builtins__, 'planted'), 'planted_mod' in sys.modules)", context=b
    )
    assert leak.stdout == "False False\n"
    for ctx in (a, b):
        await ci.delete_context(ctx)
    await sb.delete()


async def test_stdout_and_stderr_stream_in_order_as_they_are_written(sdk: Any) -> None:
    sb = await make(sdk)
    seen: list[tuple[str, str, float]] = []

    def out(msg: Any) -> None:
        seen.append(("out", msg.output, time.monotonic()))

    def err(msg: Any) -> None:
        seen.append(("err", msg.output, time.monotonic()))

    code = (
        "import sys, time, subprocess\n"
        "print('one', flush=True)\n"
        "sys.stderr.write('two\\n')\n"
        "print('three')\n"
        "time.sleep(0.6)\n"
        "subprocess.run(['echo', 'from a child'])\n"
        "print('last')\n"
    )
    result = await sb.code_interpreter.run_code(code, on_stdout=out, on_stderr=err)
    ended = time.monotonic()
    assert result.error is None
    runs: list[tuple[str, str]] = []  # chunk boundaries are the server's business; the order is not
    for stream, text, _ in seen:
        if runs and runs[-1][0] == stream:
            runs[-1] = (stream, runs[-1][1] + text)
        else:
            runs.append((stream, text))
    assert runs == [("out", "one\n"), ("err", "two\n"), ("out", "three\nfrom a child\nlast\n")]
    assert result.stdout == "one\nthree\nfrom a child\nlast\n" and result.stderr == "two\n"
    assert ended - seen[0][2] > 0.4, "the first line arrived only when the run ended: output was not streamed"
    await sb.delete()


async def test_an_exception_comes_back_with_name_value_and_traceback(sdk: Any) -> None:
    sb = await make(sdk)
    errors: list[Any] = []
    result = await sb.code_interpreter.run_code(
        "def check(v):\n    raise ValueError(f'bad value {v}')\nprint('before')\ncheck(7)\n",
        on_error=errors.append,
    )
    assert result.stdout == "before\n"
    assert result.error is not None
    assert (result.error.name, result.error.value) == ("ValueError", "bad value 7")
    tb = result.error.traceback
    assert tb.startswith("Traceback (most recent call last):")
    assert "raise ValueError(f'bad value {v}')" in tb and "check(7)" in tb
    assert "interp_driver" not in tb and "SANDBENCH" not in tb  # only the user's frames
    assert tb.rstrip().endswith("ValueError: bad value 7")
    assert errors == [result.error]
    syntax = await sb.code_interpreter.run_code("x = (")
    assert syntax.error is not None and syntax.error.name == "SyntaxError"
    # an error ends the run, not the context
    assert (await sb.code_interpreter.run_code("print('still here')")).stdout == "still here\n"
    await sb.delete()


async def test_timeout_interrupts_the_run_and_keeps_the_state(sdk: Any) -> None:
    from daytona import DaytonaTimeoutError

    sb = await make(sdk)
    ci = sb.code_interpreter
    await ci.run_code("kept = 'yes'")
    seen: list[str] = []
    t = time.monotonic()
    with pytest.raises(DaytonaTimeoutError, match="timed out"):
        await ci.run_code(
            "import time\nprint('started', flush=True)\nwhile True:\n    time.sleep(0.05)\n",
            timeout=1,
            on_stdout=lambda m: seen.append(m.output),
        )
    assert time.monotonic() - t < 4
    assert seen == ["started\n"]
    assert (await ci.run_code("print(kept)")).stdout == "yes\n"  # interrupted, not killed
    await sb.delete()


async def test_a_run_that_ignores_the_interrupt_is_killed_and_the_context_restarts(sdk: Any) -> None:
    from daytona import DaytonaTimeoutError

    sb = await make(sdk)
    ci = sb.code_interpreter
    ctx = await ci.create_context()
    await ci.run_code("kept = 1", context=ctx)
    stubborn = (
        "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass\n"
    )
    t = time.monotonic()
    with pytest.raises(DaytonaTimeoutError):
        await ci.run_code(stubborn, context=ctx, timeout=1)
    assert time.monotonic() - t < 8
    assert [c.active for c in await ci.list_contexts()] == [False]
    again = await ci.run_code("print(kept)", context=ctx)
    assert again.error is not None and again.error.name == "NameError"  # a fresh process
    assert (await ci.run_code("print('ok')", context=ctx)).stdout == "ok\n"
    assert [c.active for c in await ci.list_contexts()] == [True]
    await sb.delete()


async def test_delete_context_ends_its_process_and_its_children(sdk: Any) -> None:
    from daytona import DaytonaError

    sb = await make(sdk)
    ci = sb.code_interpreter
    ctx = await ci.create_context()
    marker = f"27{os.getpid()}.{int(time.time()) % 1000}"
    started = await ci.run_code(f"import subprocess\nchild = subprocess.Popen(['sleep', '{marker}'])", context=ctx)
    assert started.error is None
    await wait_until(None, lambda: _procs_with(marker), "the context's child process", timeout=10)
    (child,) = _procs_with(marker)
    driver = _parent(child)
    assert _alive(driver)
    await ci.delete_context(ctx)
    await wait_until(
        None, lambda: not _alive(child) and not _alive(driver), "the context's processes ended", timeout=10
    )
    assert await ci.list_contexts() == []
    with pytest.raises(DaytonaError, match="context not found"):
        await ci.run_code("print(1)", context=ctx)
    with pytest.raises(DaytonaError, match="not found"):
        await ci.delete_context(ctx)
    await sb.delete()


async def test_default_context_cannot_be_deleted_and_bad_requests_are_clear(sdk: Any) -> None:
    from daytona import DaytonaError
    from daytona_toolbox_api_client_async import InterpreterContext

    sb = await make(sdk)
    ci = sb.code_interpreter
    default = InterpreterContext(id="default", cwd="/home/sandbox", created_at="", active=True, language="python")
    with pytest.raises(DaytonaError, match="cannot delete default context"):
        await ci.delete_context(default)
    with pytest.raises(DaytonaError, match="working directory"):
        await ci.create_context(cwd="/no/such/dir")
    with pytest.raises(DaytonaError, match="code is required"):
        await ci.run_code("")
    assert (await ci.run_code("import os; print(os.environ['GREETING'])", envs={"GREETING": "hi"})).stdout == "hi\n"
    assert "GREETING" not in (await ci.run_code("import os; print(sorted(os.environ))")).stdout  # for one run
    await sb.delete()


async def test_another_owner_cannot_reach_the_interpreter(serve: Serve, sdk: Any) -> None:
    sb = await make(sdk)
    url = f"{serve.base_url}/toolbox/{sb.id}/process/interpreter"
    headers = {"Authorization": f"Bearer {serve.other_token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/context", headers=headers) as resp:
            assert resp.status == 404
        async with http.post(f"{url}/context", headers=headers, json={}) as resp:
            assert resp.status == 404
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(f"{url}/execute", headers=headers)
        assert info.value.status == 404
    await sb.delete()


async def test_a_client_that_disconnects_mid_run_interrupts_it(serve: Serve, sdk: Any) -> None:
    sb = await make(sdk)
    await sb.code_interpreter.run_code("kept = 'yes'")
    url = f"ws://127.0.0.1:{serve.base_url.rsplit(':', 1)[1]}/toolbox/{sb.id}/process/interpreter/execute"
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url, headers={"Authorization": f"Bearer {serve.token}"})
        await ws.send_json({"code": "import time\nprint('running', flush=True)\ntime.sleep(60)"})
        first = await ws.receive_json(timeout=20)
        assert first == {"type": "stdout", "text": "running\n"}
        await ws.close()
    t = time.monotonic()
    after = await sb.code_interpreter.run_code("print(kept)")  # queued behind the abandoned run until it stops
    assert after.stdout == "yes\n"
    assert time.monotonic() - t < 10, "the abandoned run kept the context busy"
    await sb.delete()


# -- sync client ------------------------------------------------------------------------------------------------
@pytest.fixture
def sync_sdk(serve: Serve) -> Iterator[Any]:
    from daytona import Daytona

    yield Daytona(serve.config())


def test_sync_client_state_contexts_errors_and_timeout(sync_sdk: Any) -> None:
    from daytona import CreateSandboxFromSnapshotParams, DaytonaTimeoutError

    sb = sync_sdk.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)
    ci = sb.code_interpreter
    chunks: list[str] = []
    ci.run_code("total = 10")
    result = ci.run_code("total *= 2\nprint(total)", on_stdout=lambda m: chunks.append(m.output))
    assert result.stdout == "20\n" and chunks == ["20\n"]
    ctx = ci.create_context()
    assert [c.id for c in ci.list_contexts()] == [ctx.id]
    isolated = ci.run_code("total", context=ctx)
    assert isolated.error is not None and isolated.error.name == "NameError"
    failed = ci.run_code("{}['missing']")
    assert failed.error is not None and failed.error.name == "KeyError" and "'missing'" in failed.error.value
    with pytest.raises(DaytonaTimeoutError):
        ci.run_code("import time\ntime.sleep(30)", timeout=1)
    assert ci.run_code("print(total)").stdout == "20\n"
    ci.delete_context(ctx)
    assert ci.list_contexts() == []
    sb.delete()


# -- caps -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def capped() -> Iterator[Serve]:
    flags = ["--interpreter-max-contexts", "2", "--interpreter-max-output-mib", "1"]
    with running_serve(*flags, other_owner=False) as srv:
        yield srv


async def test_contexts_per_identity_and_output_per_run_are_capped(capped: Serve) -> None:
    from daytona import AsyncDaytona, DaytonaError

    client = AsyncDaytona(capped.config())
    try:
        sb = await make(client)
        ci = sb.code_interpreter
        first = await ci.create_context()
        await ci.run_code("x = 1")  # the default context counts too: it is a process
        with pytest.raises(DaytonaError, match="too many interpreter contexts"):
            await ci.create_context()
        await ci.delete_context(first)
        second = await ci.create_context()
        assert [c.id for c in await ci.list_contexts()] == [second.id]
        flood = await ci.run_code("for _ in range(3 * 1024):\n    print('x' * 1023)\n")
        assert flood.error is None
        assert len(flood.stdout) == 1024 * 1024  # up to the cap exactly, then nothing more
        assert "output past 1 MiB was dropped" in flood.stderr
        assert (await ci.run_code("print(x)")).stdout == "1\n"  # the context is fine afterwards
        await sb.delete()
    finally:
        await client.close()
