"""An agent's every `process.exec`, `code_run` and session command, through the unmodified `daytona` SDK against
a real `sandbench serve`, is in the server's audit log as an exec entry under the token's identity — the agent's
command (not serve's wrapper), its exit code and its kept output — and the serve token never is."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.services import test_server_harness as harness
from tests.services.test_server_harness import OTHER, Serve, unique

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture
dservice = harness.dservice  # the shared fixture
dbox = harness.dbox  # the shared fixture

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


def exec_entries(srv: Serve, sandbox_id: str) -> list[dict[str, Any]]:
    path = srv.home / "audit.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["op"] == "exec" and e.get("sandbox") == sandbox_id]


async def test_agent_commands_are_audited_with_the_token_identity(serve: Serve, sdk: Any) -> None:
    from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams, SessionExecuteRequest

    sb = await sdk.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)
    r = await sb.process.exec("mkdir -p work && echo made > work/a.txt && echo done; exit 2", cwd="/home/sandbox")
    assert r.exit_code == 2
    assert (await sb.process.code_run("print(6 * 7)")).result.strip() == "42"
    await sb.process.create_session("agent")
    s = await sb.process.execute_session_command("agent", SessionExecuteRequest(command="cd work && cat a.txt"))
    assert s.exit_code == 0
    # a command that names the serve token (an agent echoing its own credentials) logs it masked
    await sb.process.exec(f"echo {serve.token} >/dev/null; echo Authorization: Bearer {serve.token}")

    await wait_until(None, lambda: len(exec_entries(serve, sb.id)) >= 4, "four exec entries", timeout=20)
    mine = exec_entries(serve, sb.id)
    assert {e["who"] for e in mine} == {harness.IDENTITY}
    shell, code, session, secret = mine[:4]
    assert shell["argv"] == ["sh", "-c", "mkdir -p work && echo made > work/a.txt && echo done; exit 2"]
    assert (shell["exit"], shell["path"], shell["program"]) == (2, "/home/sandbox", "sh")
    assert code["argv"] == ["python3", "-c", "print(6 * 7)"] and code["exit"] == 0
    assert session["argv"] == ["sh", "-c", "cd work && cat a.txt"]
    assert session["exit"] == 0
    assert serve.token not in json.dumps(secret)
    audit = (serve.home / "audit.jsonl").read_text()
    assert serve.token not in audit
    # the kept outputs are the commands' own (the session's state trailer is not in it) and hold no token
    outputs = {p.name: p.read_bytes() for p in (serve.home / "exec-output" / sb.id).iterdir() if p.suffix == ".out"}
    assert outputs[f"{shell['output']}.out"] == b"done\n"
    assert outputs[f"{code['output']}.out"].strip() == b"42"
    assert outputs[f"{session['output']}.out"] == b"made\n"
    assert all(serve.token.encode() not in b for b in outputs.values())

    # another token's agent is logged as its own identity
    other = AsyncDaytona(serve.config(serve.other_token))
    try:
        theirs = await other.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)
        await theirs.process.exec("true")
        await wait_until(None, lambda: exec_entries(serve, theirs.id), "the other agent's entry", timeout=20)
        assert [e["who"] for e in exec_entries(serve, theirs.id)] == [OTHER]
        await theirs.delete()
    finally:
        await other.close()
    await sb.delete()


async def test_automatic_checkpoints_are_refused_on_daytona(dservice: Any, dbox: Any) -> None:
    import dataclasses

    from services.checkpoints import auto
    from services.errors import InvalidInput

    with pytest.raises(InvalidInput, match="local sandboxes only"):
        await auto.set_auto(dservice, dbox.id, "on")
    assert auto.LABEL not in (await dservice.get(dbox.id)).labels  # nothing was set
    dservice.config = dataclasses.replace(dservice.config, auto_checkpoint=True)
    try:
        with pytest.raises(InvalidInput, match="local sandboxes only"):
            await dservice.exec(dbox.id, ["true"])
    finally:
        dservice.config = dataclasses.replace(dservice.config, auto_checkpoint=False)


async def test_an_agent_cannot_switch_its_own_recording_off(serve: Serve, sdk: Any) -> None:
    from daytona import CreateSandboxFromSnapshotParams

    sb = await sdk.create(
        CreateSandboxFromSnapshotParams(name=unique(), labels={"sandbench.auto-checkpoint": "off", "team": "a"}),
        timeout=30,
    )
    assert "sandbench.auto-checkpoint" not in sb.labels and sb.labels["team"] == "a"
    await sb.set_labels({"sandbench.auto-checkpoint": "off", "team": "b"})
    await sb.refresh_data()
    assert "sandbench.auto-checkpoint" not in sb.labels and sb.labels["team"] == "b"
    await sb.delete()


async def test_interpreter_runs_are_audited_too(serve: Serve, sdk: Any) -> None:
    from daytona import CreateSandboxFromSnapshotParams

    sb = await sdk.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)
    code = "open('made.txt', 'w').write('hi')\nprint('API_KEY=not-for-the-log')"
    r = await sb.code_interpreter.run_code(code)
    assert "API_KEY" in r.stdout
    await wait_until(None, lambda: exec_entries(serve, sb.id), "the interpreter run's entry", timeout=20)
    [e] = exec_entries(serve, sb.id)
    assert e["who"] == harness.IDENTITY and e["program"] == "python3" and e["outcome"] == "ok"
    assert e["argv"] == ["python3", "-c", "open('made.txt', 'w').write('hi')\nprint('API_KEY=***')"]
    assert "not-for-the-log" not in (serve.home / "audit.jsonl").read_text()
    await sb.delete()
