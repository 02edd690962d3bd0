"""Tokens that act for an owner under their own name (`serve-tokens`: `NAME TOKEN owner=OWNER`, minted by
`sandbench serve --add-token NAME`), through the unmodified `daytona` SDK against a real `sandbench serve`.

An agent with its own acting token works on its owner's sandboxes with the owner's rights, but the audit log — and
so the Timeline — says who it was (`"who": "claude", "for": "tester"`); the owner's app-side service sees, restores
and deletes what the agent made; another owner's acting token cannot touch it; limits count per owner, over all the
tokens acting for it; malformed token lines are refused naming the file and line; no token is ever logged.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.config import Config, DaytonaConfig
from services.daytona import DaytonaProvider
from services.errors import PermissionDenied, SandboxNotFound
from services.git import GitService
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from services.server.auth import Grant, TokenTable, load_extra_tokens
from services.timeline import TimelineReader
from services.timeline_view import Filter, checkpoint_before
from tests.conftest import wait_until
from tests.services.serve_helpers import IDENTITY, OTHER, REPO, make_home, serve_env, start_serve, stop_serve, unique

pytestmark = [pytest.mark.timeout(180), pytest.mark.bwrap]

AGENT = "claude"  # acts for IDENTITY
INTRUDER = "mallory"  # acts for OTHER


@dataclass
class World:
    home: Path
    api_url: str
    base_url: str
    main: str  # IDENTITY's own token
    agent: str  # AGENT's, acting for IDENTITY (minted with --add-token)
    other: str  # OTHER's own token (an old two-field line)
    intruder: str  # INTRUDER's, acting for OTHER
    log: Path

    def client(self, token: str) -> Any:
        from daytona import AsyncDaytona, DaytonaConfig

        return AsyncDaytona(DaytonaConfig(api_key=token, api_url=self.api_url, target="local"))

    def audit(self, sandbox_id: str) -> list[dict[str, Any]]:
        path = self.home / "audit.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [e for e in map(json.loads, lines) if e.get("sandbox") == sandbox_id]


def add_token(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "services.server", "--add-token", *args]
    return subprocess.run(cmd, cwd=REPO, env=serve_env(home), capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """A server whose every exec is bracketed by checkpoints, one process session per owner, and four tokens."""
    home = make_home()
    config = home.parent / "config.toml"
    config.write_text(config.read_text() + "auto_checkpoint = true\n")
    other, intruder = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    tokens = home / "serve-tokens"
    tokens.write_text(
        f"# an old-style owner line, and an acting one\n{OTHER} {other}\n{INTRUDER} {intruder} owner={OTHER}\n"
    )
    os.chmod(tokens, 0o600)
    minted = add_token(home, AGENT)
    assert minted.returncode == 0, minted.stderr
    agent = minted.stdout.strip()
    proc, port = start_serve(home, "--session-max-sessions", "1")
    try:
        base = f"http://127.0.0.1:{port}"
        main = (home / "serve-token").read_text().strip()
        yield World(home, f"{base}/api", base, main, agent, other, intruder, home.parent / "serve.log")
    finally:
        stop_serve(proc)
        shutil.rmtree(home.parent, ignore_errors=True)


@pytest.fixture
async def app_service(world: World) -> AsyncIterator[SandboxService]:
    """The owner's app-side service: the local provider on the server's data dir, as the app on that machine."""
    cfg = Config(identity=IDENTITY, data_dir=world.home, auto_checkpoint=True)
    svc = SandboxService(LocalProvider(world.home, owner_label=cfg.owner_label), cfg)
    yield svc
    await svc.close()


async def test_an_agent_acts_for_its_owner_under_its_own_name(world: World, app_service: SandboxService) -> None:
    from daytona import CreateSandboxFromSnapshotParams

    agent = world.client(world.agent)
    try:
        sb = await agent.create(CreateSandboxFromSnapshotParams(name=unique("agent")), timeout=30)
        await sb.fs.upload_file(b"v1\n", "app.py")
        r = await sb.process.exec("echo v2 > app.py && echo built > out.txt", cwd="/home/sandbox")
        assert r.exit_code == 0
        # an agent echoing its own credentials: masked in the audit log and the kept output
        await sb.process.exec(f"echo {world.agent}")
        # the sandbox is the owner's: the owner's own token sees it
        owner = world.client(world.main)
        try:
            assert sb.id in [s.id async for s in owner.list()]
        finally:
            await owner.close()
    finally:
        await agent.close()

    await wait_until(None, lambda: len([e for e in world.audit(sb.id) if e["op"] == "exec"]) >= 2, "two execs", 30)
    entries = world.audit(sb.id)
    assert entries and {(e["who"], e.get("for")) for e in entries} == {(AGENT, IDENTITY)}
    assert {"create", "exec"} <= {e["op"] for e in entries}
    audit = (world.home / "audit.jsonl").read_text()
    assert world.agent not in audit and world.main not in audit
    assert all(world.agent.encode() not in p.read_bytes() for p in (world.home / "exec-output" / sb.id).iterdir())
    assert world.agent not in world.log.read_text()

    # the owner's app: sees it (as its own, writable), and its Timeline says who did what
    info = await app_service.get(sb.id)
    assert app_service.owns(info)  # not read-only in the app: restorable
    page = TimelineReader(app_service.config.audit_log, sb.id).load()
    build = next(e for e in page.entries if e.kind == "exec" and "built" in e.what)
    assert (build.who, build.acting_for) == (AGENT, IDENTITY)
    checkpoints, _head = await app_service.checkpoints.list_checkpoints(sb.id)
    assert {c.who for c in checkpoints if c.kind != "restore"} == {AGENT}
    # ... and the owner restores the state before the agent's command
    before = checkpoint_before(build, checkpoints)
    assert before is not None
    await app_service.checkpoints.restore(sb.id, before.id)
    assert (await app_service.read_file(sb.id, "app.py")).data == b"v1\n"
    assert "out.txt" not in await app_service.list_files(sb.id)
    restore = [e for e in world.audit(sb.id) if e["op"] == "restore"]
    assert restore and all(e["who"] == IDENTITY and "for" not in e for e in restore)  # the owner's own act
    await app_service.delete(sb.id)
    with pytest.raises(SandboxNotFound):
        await app_service.get(sb.id)


async def test_the_apps_own_execs_are_hidden_and_an_agents_shown(world: World) -> None:
    """The app on the Daytona provider, against this server on the same data dir (one machine, one home): its git
    status, disk usage and a command with stdin go through the SDK's exec, and the server's Timeline entries of
    them are internal (hidden by default) and read as the app ran them; an agent's commands — even one that sets the
    app's mark — are shown as sent."""
    cfg = Config(
        identity=IDENTITY,
        data_dir=world.home,
        daytona=DaytonaConfig(api_key=world.main, api_url=world.api_url, target="local"),
    )
    app = SandboxService(DaytonaProvider(cfg), cfg)
    agent = world.client(world.agent)
    try:
        info = await app.create(SandboxSpec(name=unique("app")))
        await app.exec(info.id, ["git", "init", "-q"])
        await GitService(app, info.id).status()
        await app.provider.disk_usage(info.id)
        await app.exec(info.id, ["cat"], stdin=b"typed\n")
        sb = await agent.get(info.id)
        assert (await sb.process.exec("echo agent-one")).exit_code == 0
        assert (await sb.process.exec("echo agent-two", env={"SANDBENCH_APP_EXEC": "1"})).result == "agent-two\n"
        # the app's 3 entries (init, status, cat), the server's 4 (and du) and the agent's 2
        execs = lambda: [e for e in world.audit(info.id) if e["op"] == "exec"]  # noqa: E731
        await wait_until(None, lambda: len(execs()) >= 9, "nine exec entries", 30, show=lambda: str(execs()))
    finally:
        await agent.close()
        await app.delete(info.id)
        await app.close()

    entries = TimelineReader(world.home / "audit.jsonl", info.id).load().entries
    shown = [e.what.split("  (in ")[0] for e in Filter.parse("").apply(entries) if e.kind in ("exec", "git")]
    # the app's own audit entries (the user's commands as typed, `git init` and `cat`) and the agent's two; none
    # of the server's second records of the app's commands, nor its status and du plumbing
    assert sorted(shown) == sorted(["git init -q", "cat", "sh -c 'echo agent-one'", "sh -c 'echo agent-two'"])
    agents = [e for e in entries if e.who == AGENT]
    assert len(agents) == 2 and not any(e.internal for e in agents)
    mine = [e for e in entries if e.internal and e.kind in ("exec", "git") and e.who == IDENTITY]
    hidden = [e.what.split("  (in ")[0] for e in mine]
    # what `i` shows reads as the app ran it: no `sh -c`, no stdin wrapper, git without the app's own options
    assert not any(w.startswith("sh -c") for w in hidden), hidden
    assert {"git status --porcelain=v2 -z --branch --show-stash", "du -sk .", "cat"} <= set(hidden), hidden


async def test_another_owners_acting_token_cannot_touch_it(world: World) -> None:
    from daytona import CreateSandboxFromSnapshotParams, DaytonaNotFoundError

    agent, intruder = world.client(world.agent), world.client(world.intruder)
    try:
        sb = await agent.create(CreateSandboxFromSnapshotParams(name=unique("mine")), timeout=30)
        await sb.fs.upload_file(b"private", "p.txt")
        assert sb.id not in [s.id async for s in intruder.list()]
        with pytest.raises(DaytonaNotFoundError):
            await intruder.get(sb.id)
        headers = {"Authorization": f"Bearer {world.intruder}", "Content-Type": "application/json"}
        tb = f"{world.base_url}/toolbox/{sb.id}"
        async with aiohttp.ClientSession() as http:
            for method, url, body in [
                ("POST", f"{tb}/process/execute", {"command": "true"}),
                ("POST", f"{tb}/files/bulk-download", {"paths": ["p.txt"]}),
                ("DELETE", f"{world.api_url}/sandbox/{sb.id}", None),
            ]:
                async with http.request(method, url, headers=headers, json=body) as resp:
                    assert resp.status == 404, (method, url, resp.status)
                    assert "private" not in await resp.text()
        # what the intruder makes is its owner's, not the agent's owner's
        theirs = await intruder.create(CreateSandboxFromSnapshotParams(name=unique("theirs")), timeout=30)
        assert theirs.id not in [s.id async for s in agent.list()]
        await wait_until(None, lambda: world.audit(theirs.id), "the intruder's create", 30)
        assert {(e["who"], e.get("for")) for e in world.audit(theirs.id)} == {(INTRUDER, OTHER)}
        await theirs.delete()
        await sb.delete()
    finally:
        await agent.close()
        await intruder.close()


async def test_limits_count_per_owner_over_all_its_tokens(world: World) -> None:
    from daytona import CreateSandboxFromSnapshotParams, DaytonaRateLimitError

    owner, agent, other = world.client(world.main), world.client(world.agent), world.client(world.other)
    try:
        sb = await owner.create(CreateSandboxFromSnapshotParams(name=unique("lim")), timeout=30)
        await sb.process.create_session("mine")  # the owner's one session (--session-max-sessions 1)
        agents_view = await agent.get(sb.id)
        with pytest.raises(DaytonaRateLimitError, match="too many process sessions"):
            await agents_view.process.create_session("agents")  # an acting token adds no budget of its own
        await sb.process.delete_session("mine")
        await agents_view.process.create_session("agents")  # freed: now the agent's turn
        # the owner and its agent at once on one sandbox: each entry names whoever sent it, nothing leaks across
        await asyncio.gather(
            *(sb.process.exec(f"echo owner-{i}") for i in range(4)),
            *(agents_view.process.exec(f"echo agent-{i}") for i in range(4)),
        )
        execs = lambda: [e for e in world.audit(sb.id) if e["op"] == "exec"]  # noqa: E731
        await wait_until(None, lambda: len(execs()) >= 8, "eight exec entries", 30)
        for e in execs():
            sender = e["argv"][-1].split()[-1].split("-")[0]
            assert (e["who"], e.get("for")) == ((IDENTITY, None) if sender == "owner" else (AGENT, IDENTITY)), e
        # another owner's budget is its own
        theirs = await other.create(CreateSandboxFromSnapshotParams(name=unique("lim")), timeout=30)
        await theirs.process.create_session("theirs")
        await theirs.delete()
        await sb.delete()
    finally:
        for c in (owner, agent, other):
            await c.close()


# -- the token file and --add-token ------------------------------------------------------------------------------
def write_tokens(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("claude", "is not 'NAME TOKEN' or 'NAME TOKEN owner=OWNER'"),
        ("claude {t} owner=alice extra", "is not 'NAME TOKEN' or 'NAME TOKEN owner=OWNER'"),
        ("claude short owner=alice", "has a token shorter than 20 characters"),
        ("claude {t} for=alice", "has a third field that is not owner=OWNER"),
        ("claude {t} owner=", "has a third field that is not owner=OWNER"),
        ("cl/aude {t} owner=alice", "has an acting name that is not 1-64 letters"),
        ("claude {t} owner=al;ice", "has an owner that is not 1-64 letters"),
    ],
)
def test_malformed_lines_are_refused_naming_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    token = secrets.token_urlsafe(32)
    path = write_tokens(
        tmp_path / "serve-tokens", f"# comment\n\nok {secrets.token_urlsafe(32)}\n{line.format(t=token)}\n"
    )
    with pytest.raises(PermissionDenied) as err:
        load_extra_tokens(path)
    assert str(err.value).startswith(f"{path}: line 4 {why}")
    assert token not in str(err.value)


def test_old_and_acting_lines_and_a_repeated_token(tmp_path: Path) -> None:
    a, b = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    path = write_tokens(tmp_path / "serve-tokens", f"bob {a}\nclaude {b} owner=alice\n")
    grants = load_extra_tokens(path)
    assert grants == {a: Grant(owner="bob", actor="bob"), b: Grant(owner="alice", actor="claude")}
    table = TokenTable({**grants, "m" * 40: "alice"})
    assert table.grant(b) == Grant(owner="alice", actor="claude") and table.identity(b) == "alice"
    assert table.identities() == ["alice", "bob"]
    write_tokens(path, f"bob {a}\nclaude {a} owner=alice\n")
    with pytest.raises(PermissionDenied, match=r"line 2 repeats the token of line 1"):
        load_extra_tokens(path)


def test_the_server_refuses_a_bad_tokens_file_and_an_acting_name_that_is_an_owner() -> None:
    home = make_home()
    try:
        token = secrets.token_urlsafe(32)
        path = write_tokens(home / "serve-tokens", f"claude {token} owner\n")
        cmd = [sys.executable, "-m", "services.server", "--port", "0"]
        res = subprocess.run(cmd, cwd=REPO, env=serve_env(home), capture_output=True, text=True, timeout=60)
        assert res.returncode != 0 and res.stdout == ""
        assert f"{path}: line 1 has a third field that is not owner=OWNER" in res.stderr
        assert token not in res.stderr and "Traceback" not in res.stderr
        # an acting name that is an owner's identity would put that person's name on the owner's sandbox
        write_tokens(path, f"{OTHER} {token}\n{IDENTITY} {secrets.token_urlsafe(32)} owner={OTHER}\n")
        res = subprocess.run(cmd, cwd=REPO, env=serve_env(home), capture_output=True, text=True, timeout=60)
        assert res.returncode != 0
        assert f"acting name '{IDENTITY}' (for '{OTHER}') is also an owner's identity" in res.stderr
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)


def test_add_token_mints_once_private_and_refuses_duplicates() -> None:
    home = make_home()
    try:
        res = add_token(home, AGENT)
        assert res.returncode == 0, res.stderr
        token = res.stdout.strip()
        assert len(token) >= 40 and res.stdout.count("\n") == 1
        assert token not in res.stderr and f"'{AGENT}' acting for '{IDENTITY}'" in res.stderr
        path = home / "serve-tokens"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == f"{AGENT} {token} owner={IDENTITY}\n"
        again = add_token(home, AGENT)
        assert again.returncode != 0 and "already has a token" in again.stderr and again.stdout == ""
        own = add_token(home, IDENTITY)
        assert own.returncode != 0 and "needs its own name" in own.stderr
        bad = add_token(home, "a b")
        assert bad.returncode != 0 and "is not 1-64 letters" in bad.stderr
        me = add_token(home, IDENTITY, "--owner", OTHER)  # your name on another's sandboxes: no
        assert me.returncode != 0 and f"acting name '{IDENTITY}' (for '{OTHER}') is also an owner's" in me.stderr
        alone = subprocess.run(
            [sys.executable, "-m", "services.server", "--owner", OTHER],
            cwd=REPO,
            env=serve_env(home),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert alone.returncode == 2 and "--owner goes with --add-token NAME" in alone.stderr
        res = add_token(home, "helper", "--owner", OTHER)
        assert res.returncode == 0, res.stderr
        assert path.read_text().splitlines()[1] == f"helper {res.stdout.strip()} owner={OTHER}"
        os.chmod(path, 0o644)  # a file others can read is never written to
        res = add_token(home, "third")
        assert res.returncode != 0 and "chmod 600" in res.stderr
        assert "third" not in path.read_text()
        # a symlink planted where the file goes is never written through
        os.chmod(path, 0o600)
        elsewhere = home / "elsewhere"
        path.rename(elsewhere)
        path.symlink_to(elsewhere)
        res = add_token(home, "fourth")
        assert res.returncode != 0 and "Traceback" not in res.stderr
        assert "fourth" not in elsewhere.read_text()
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)


async def test_a_running_serve_takes_new_tokens_and_drops_deleted_ones() -> None:
    """`--add-token` while serve runs: the new token works within seconds, no restart; its line deleted, it stops
    working; a file turned malformed refuses every extra token (fail closed) while the main one keeps working."""
    home = make_home()
    proc, port = start_serve(home)
    api = f"http://127.0.0.1:{port}/api"
    main = (home / "serve-token").read_text().strip()

    async def works(token: str) -> bool:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{api}/sandbox", headers={"Authorization": f"Bearer {token}"}) as resp:
                return resp.status == 200

    async def settle(token: str, want: bool, what: str) -> None:
        deadline = asyncio.get_running_loop().time() + 20
        while await works(token) != want:
            assert asyncio.get_running_loop().time() < deadline, what
            await asyncio.sleep(0.2)

    try:
        assert not await works("x" * 43)
        minted = add_token(home, AGENT)
        assert minted.returncode == 0, minted.stderr
        assert "restart" not in minted.stderr
        agent = minted.stdout.strip()
        await settle(agent, True, "the token minted while serve ran never worked")
        path = home / "serve-tokens"
        path.write_text("# agent revoked\n")
        await settle(agent, False, "a deleted token line kept working")
        again = add_token(home, "codex")
        assert again.returncode == 0, again.stderr
        codex = again.stdout.strip()
        await settle(codex, True, "the second minted token never worked")
        with path.open("a") as f:
            f.write("broken line with four fields\n")
        await settle(codex, False, "a malformed serve-tokens kept its tokens working")
        assert await works(main)
        log = (home.parent / "serve.log").read_text()
        assert "line 3" in log and codex not in log and agent not in log
    finally:
        stop_serve(proc)
        shutil.rmtree(home.parent, ignore_errors=True)
