"""Exec entries in the audit log, what the Timeline shows (real local sandboxes, real bubblewrap): the command line
redacted, duration, exit code, the kept output (bounded, redacted, readable by its owner only), and that no secret —
given in argv, in the environment, known to the config, or printed by the command — reaches the audit file or the
output store."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest

from services.config import Config
from services.errors import SandboxNotFound
from services.exec_log import OutputNotFound
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService

pytestmark = pytest.mark.bwrap

GIT_TOKEN = "ghs_configured0git0token0value"
ARG_SECRET = "argv-secret-0xDEADBEEF"
ENV_SECRET = "env-secret-0xFEEDFACE"


def entries(home: Path, op: str = "exec") -> list[dict[str, object]]:
    lines = (home / "audit.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["op"] == op]


def store_bytes(home: Path) -> bytes:
    root = home / "exec-output"
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file()) if root.exists() else b""


@pytest.fixture
async def svc(provider: LocalProvider, config: Config) -> SandboxService:
    cfg = dataclasses.replace(config, git_token=GIT_TOKEN, exec_output_limit=4096)
    s = SandboxService(provider, cfg)
    yield s  # type: ignore[misc]
    s.audit.close()


async def test_an_exec_entry_names_the_command_its_exit_and_its_output(
    svc: SandboxService, sandbench_home: Path
) -> None:
    box = await svc.create(SandboxSpec(name="audited"))
    r = await svc.exec(box.id, ["sh", "-c", "echo out; echo err >&2; exit 3"], cwd="")
    assert r.exit_code == 3
    [e] = entries(sandbench_home)
    assert {k: e[k] for k in ("who", "provider", "op", "outcome", "sandbox", "path", "program", "exit")} == {
        "who": "tester",
        "provider": "local",
        "op": "exec",
        "outcome": "ok",
        "sandbox": box.id,
        "path": "",
        "program": "sh",
        "exit": 3,
    }
    assert e["argv"] == ["sh", "-c", "echo out; echo err >&2; exit 3"]
    assert isinstance(e["ms"], int) and e["ms"] >= 0
    assert e["before"] is None and e["after"] is None  # automatic checkpoints are off by default
    assert "internal" not in e
    out = await svc.exec_output(box.id, str(e["output"]))
    assert sorted(out.split()) == [b"err", b"out"]
    # the output file is private, and the id is all a reader gets to name
    [f] = [p for p in (sandbench_home / "exec-output" / box.id).iterdir() if p.suffix == ".out"]
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    with pytest.raises(OutputNotFound):
        await svc.exec_output(box.id, "../../audit.jsonl")


async def test_no_secret_reaches_the_audit_file_or_the_output_store(svc: SandboxService, sandbench_home: Path) -> None:
    box = await svc.create(SandboxSpec(name="secrets"))
    script = 'echo "token: $MY_TOKEN"; echo "git $1"; echo "arg $2"; echo "Authorization: Bearer abcdefgh12345678"'
    await svc.exec(
        box.id,
        ["sh", "-c", script, "sh", GIT_TOKEN, ARG_SECRET, "--password", ARG_SECRET, f"--api-key={ARG_SECRET}"],
        env={"MY_TOKEN": ENV_SECRET},
    )
    await svc.exec(box.id, ["sh", "-c", f"echo {ARG_SECRET}", f"TOKEN={ARG_SECRET}"])
    audit, kept = (sandbench_home / "audit.jsonl").read_bytes(), store_bytes(sandbench_home)
    assert kept  # the outputs were kept ...
    for secret in (GIT_TOKEN, ENV_SECRET, "abcdefgh12345678"):
        assert secret.encode() not in audit and secret.encode() not in kept  # ... without a secret in them
    assert b"--password" in audit and b"***" in kept
    # a value that is a secret only by where it stands is masked there (argv), and in output only where its shape
    # says so: the redactor cannot know an arbitrary word printed by a command is secret
    first = entries(sandbench_home)[0]["argv"]
    assert isinstance(first, list) and first[first.index("--password") + 1] == "***"
    assert f"--api-key={ARG_SECRET}" not in first


async def test_output_is_bounded_per_exec_and_per_sandbox(
    provider: LocalProvider, config: Config, sandbench_home: Path
) -> None:
    svc = SandboxService(provider, dataclasses.replace(config, exec_output_limit=2000, exec_output_total=5000))
    try:
        box = await svc.create(SandboxSpec(name="chatty"))
        await svc.exec(box.id, ["sh", "-c", "seq 1 100000"])
        e = entries(sandbench_home)[-1]
        out = await svc.exec_output(box.id, str(e["output"]))
        assert len(out) < 2100
        assert out.startswith(b"1\n2\n") and out.endswith(b"99999\n100000\n")
        assert b" bytes left out " in out
        for _ in range(4):
            await svc.exec(box.id, ["sh", "-c", "seq 1 100000"])
        folder = sandbench_home / "exec-output" / box.id
        assert sum(p.stat().st_size for p in folder.iterdir() if p.suffix == ".out") <= 5000
        with pytest.raises(OutputNotFound):  # the oldest went first
            await svc.exec_output(box.id, str(e["output"]))
        newest = entries(sandbench_home)[-1]
        assert (await svc.exec_output(box.id, str(newest["output"]))).endswith(b"100000\n")
        await svc.exec(box.id, ["true"])
        assert "output" not in entries(sandbench_home)[-1]  # nothing printed: nothing kept
    finally:
        svc.audit.close()


async def test_another_identity_cannot_read_an_exec_output(
    service: SandboxService, sandbox: SandboxInfo, provider: LocalProvider, config: Config, sandbench_home: Path
) -> None:
    await service.exec(sandbox.id, ["echo", "mine"])
    output_id = str(entries(sandbench_home)[-1]["output"])
    assert await service.exec_output(sandbox.id, output_id) == b"mine\n"
    other = SandboxService(provider, dataclasses.replace(config, identity="mallory"))
    try:
        with pytest.raises(SandboxNotFound):
            await other.exec_output(sandbox.id, output_id)
    finally:
        other.audit.close()


async def test_internal_probes_are_marked(service: SandboxService, sandbox: SandboxInfo, sandbench_home: Path) -> None:
    from services.git import GitService

    await service.exec(sandbox.id, ["git", "init", "-q"])
    git = GitService(service, sandbox.id)
    await git.status()
    probes = [e for e in entries(sandbench_home) if e.get("internal")]
    assert probes and all(e["program"] == "git" for e in probes)
    assert any("status" in e["argv"] for e in probes)  # type: ignore[operator]
    assert not entries(sandbench_home)[0].get("internal")  # `git init` is the user's: it may change files
    assert os.path.exists(sandbench_home / "audit.jsonl")


async def test_a_deleted_sandbox_s_outputs_go_with_it(service: SandboxService, sandbench_home: Path) -> None:
    box = await service.create(SandboxSpec(name="gone"))
    await service.exec(box.id, ["echo", "bye"])
    folder = sandbench_home / "exec-output" / box.id
    assert any(p.suffix == ".out" for p in folder.iterdir())
    await service.delete(box.id)
    assert not folder.exists()
