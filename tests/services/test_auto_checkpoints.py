"""Automatic checkpoints around commands (issue 13 §1), real local sandboxes and real bubblewrap: each exec's own
file changes are known from the checkpoints its audit entry names; a command that changes nothing, and the app's
own read-only probes, add none; concurrent commands leave the store whole; the per-sandbox switch wins over the
config; a workspace that cannot be checkpointed refuses the command with the reason."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.checkpoints import auto
from services.config import Config
from services.errors import InvalidInput
from services.git import GitService
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService

pytestmark = pytest.mark.bwrap


def execs(home: Path) -> list[dict[str, object]]:
    lines = (home / "audit.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["op"] == "exec"]


@pytest.fixture(autouse=True)
def _no_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    # the scans here are a few ms: without this, every marker would be too fresh to trust, and the skipped scan
    # before a command (and what must stop it being skipped) would go untested
    monkeypatch.setattr(auto, "SETTLE_NS", 0)


@pytest.fixture
async def svc(provider: LocalProvider, config: Config) -> AsyncIterator[SandboxService]:
    s = SandboxService(provider, dataclasses.replace(config, auto_checkpoint=True))
    yield s
    s.audit.close()


async def run(svc: SandboxService, box: SandboxInfo, script: str) -> dict[str, object]:
    r = await svc.exec(box.id, ["sh", "-c", script])
    assert r.exit_code == 0, r.stderr
    return execs(Path(svc.config.data_dir))[-1]


async def count(svc: SandboxService, box: SandboxInfo) -> int:
    return len((await svc.checkpoints.list_checkpoints(box.id))[0])


async def test_a_command_s_own_changes_are_between_its_checkpoints(svc: SandboxService) -> None:
    box = await svc.create(SandboxSpec(name="auto"))
    setup = await run(svc, box, "mkdir -p src && echo old > src/old.txt && echo keep > src/keep.txt")
    assert setup["before"] and setup["after"] and setup["before"] != setup["after"]

    e = await run(svc, box, "echo new > src/new.txt && rm src/old.txt && echo more >> src/keep.txt && mkdir d")
    assert e["before"] == setup["after"]  # nothing moved in between: the head is the state before
    cs = await svc.checkpoints.between(box.id, str(e["before"]), str(e["after"]))
    assert {(c.path, c.status) for c in cs.changes} == {
        ("src/new.txt", "added"),
        ("src/old.txt", "deleted"),
        ("src/keep.txt", "modified"),
        ("d", "added"),
    }
    after = svc.checkpoints.resolve(box.id, str(e["after"]))
    assert after.kind == "auto"
    assert after.message == "after: echo new > src/new.txt && rm src/old.txt && echo more >> src/keep.txt && mkdir d"

    # a change made outside a command (the file API here; a terminal alike) is checkpointed before the next one,
    # so it is not blamed on it
    await svc.write_file(box.id, "src/by-hand.txt", b"typed\n")
    e2 = await run(svc, box, "echo x > src/x.txt")
    assert e2["before"] not in (None, e["after"])
    own = await svc.checkpoints.between(box.id, str(e2["before"]), str(e2["after"]))
    assert [c.path for c in own.changes] == ["src/x.txt"]
    pre = await svc.checkpoints.between(box.id, str(e["after"]), str(e2["before"]))
    assert [c.path for c in pre.changes] == ["src/by-hand.txt"]
    assert svc.counters["auto-checkpoint.before-skipped"] == 1  # only e's: nothing ran or wrote between


async def test_a_terminal_between_commands_is_not_blamed_on_the_next(svc: SandboxService) -> None:
    from tests.conftest import wait_until

    box = await svc.create(SandboxSpec(name="term"))
    first = await run(svc, box, "echo a > a.txt")
    again = await run(svc, box, "echo b > b.txt")
    assert again["before"] == first["after"] and svc.counters["auto-checkpoint.before-skipped"] == 1
    term = await svc.open_terminal(box.id)
    await term.write(b"echo typed > t.txt; exit\n")
    await asyncio.wait_for(term.wait(), 20)
    await term.close()
    ws = svc.provider.workspace_path(box.id)  # type: ignore[attr-defined]
    await wait_until(None, lambda: (ws / "t.txt").exists(), "the terminal's file")
    e = await run(svc, box, "echo c > c.txt")
    assert svc.counters["auto-checkpoint.before-skipped"] == 1  # the terminal's process showed: it scanned first
    own = await svc.checkpoints.between(box.id, str(e["before"]), str(e["after"]))
    assert [c.path for c in own.changes] == ["c.txt"]
    pre = await svc.checkpoints.between(box.id, str(again["after"]), str(e["before"]))
    assert "t.txt" in [c.path for c in pre.changes]  # (with the shell's .bash_history)


async def test_a_command_that_changes_nothing_adds_no_checkpoint(svc: SandboxService) -> None:
    box = await svc.create(SandboxSpec(name="quiet"))
    first = await run(svc, box, "echo a > a.txt")
    n = await count(svc, box)
    e = await run(svc, box, "cat a.txt; ls -la")
    assert e["before"] == first["after"] and e["after"] is None
    assert await count(svc, box) == n


async def test_internal_probes_add_no_checkpoint(svc: SandboxService) -> None:
    box = await svc.create(SandboxSpec(name="probed"))
    await run(svc, box, "git init -q && echo x > f.txt")
    n = await count(svc, box)
    git = GitService(svc, box.id)
    for _ in range(3):
        await git.status()
    probes = [e for e in execs(Path(svc.config.data_dir)) if e.get("internal")]
    assert probes and all(e["before"] is None and e["after"] is None for e in probes)
    assert await count(svc, box) == n


async def test_concurrent_commands_leave_the_store_whole(svc: SandboxService) -> None:
    box = await svc.create(SandboxSpec(name="busy"))
    await asyncio.gather(*(run(svc, box, f"for i in 1 2 3; do echo {n}-$i >> f{n}.txt; done") for n in range(6)))
    ckpts, head = await svc.checkpoints.list_checkpoints(box.id)
    for c in ckpts:  # every manifest reads back
        svc.checkpoints.store.manifest(c)
    assert head is not None
    final = {e.path for e in svc.checkpoints.store.manifest(svc.checkpoints.resolve(box.id, head))}
    assert {f"f{n}.txt" for n in range(6)} <= final
    # overlapping commands share their changes: together their entries account for all six files
    named: set[str] = set()
    for e in execs(Path(svc.config.data_dir)):
        if e["after"]:
            own = await svc.checkpoints.between(box.id, str(e["before"]), str(e["after"]))
            named |= {c.path for c in own.changes}
    assert {f"f{n}.txt" for n in range(6)} <= named
    assert not (await svc.checkpoints.changes(box.id)).changes


async def test_the_sandbox_switch_wins_over_the_config(
    service: SandboxService, svc: SandboxService, sandbench_home: Path
) -> None:
    box = await service.create(SandboxSpec(name="switch"))  # config: off
    assert (await run(service, box, "echo 1 > a"))["after"] is None
    info = await auto.set_auto(service, box.id, "on")
    assert auto.state(service, info) == (True, "sandbox")
    assert (await run(service, box, "echo 2 > a"))["after"] is not None
    await auto.set_auto(service, box.id, "off")
    svc.invalidate()
    assert (await run(svc, box, "echo 3 > a"))["after"] is None  # config on, sandbox off
    info = await auto.set_auto(svc, box.id, "default")
    assert auto.state(svc, info) == (True, "config")
    with pytest.raises(InvalidInput):
        await auto.set_auto(svc, box.id, "maybe")


async def test_a_workspace_that_cannot_be_checkpointed_refuses_the_command(svc: SandboxService) -> None:
    box = await svc.create(SandboxSpec(name="fifo"))
    await svc.checkpoints.create(box.id, "start")
    svc.invalidate()
    off = await auto.set_auto(svc, box.id, "off")
    assert not auto.state(svc, off)[0]
    await run(svc, box, "mkfifo pipe")
    await auto.set_auto(svc, box.id, "on")
    with pytest.raises(InvalidInput, match=r"automatic checkpoint before the command failed.*FIFO"):
        await svc.exec(box.id, ["echo", "hi"])
    last = execs(Path(svc.config.data_dir))[-1]
    assert last["argv"] == ["echo", "hi"] and last["outcome"] == "error:InvalidInput" and "exit" not in last


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('auto_checkpoint = "yes"', "key 'auto_checkpoint' has the wrong type (str)"),
        ("auto_checkpoint_keep = -1", "key 'auto_checkpoint_keep' must be between 0 and 1000000"),
        ("auto_checkpoint_days = true", "key 'auto_checkpoint_days' has the wrong type (bool)"),
        ("exec_output_limit = 99999999999", "key 'exec_output_limit' must be between"),
        ("exec_output_total = 1.5", "key 'exec_output_total' has the wrong type (float)"),
    ],
)
def test_the_config_keys_are_validated_naming_file_and_key(tmp_path: Path, line: str, says: str) -> None:
    from services import config as config_mod

    path = tmp_path / "config.toml"
    path.write_text(line + "\n")
    with pytest.raises(config_mod.ConfigError) as err:
        config_mod.load(path)
    assert str(path) in err.value.message and says in err.value.message


def test_the_config_keys_load(tmp_path: Path) -> None:
    from services import config as config_mod

    path = tmp_path / "config.toml"
    path.write_text("auto_checkpoint = true\nauto_checkpoint_keep = 50\nauto_checkpoint_days = 1.5\n")
    cfg = config_mod.load(path)
    assert (cfg.auto_checkpoint, cfg.auto_checkpoint_keep, cfg.auto_checkpoint_days) == (True, 50, 1.5)
    defaults = config_mod.load(tmp_path / "missing.toml")
    assert (defaults.auto_checkpoint, defaults.auto_checkpoint_keep, defaults.auto_checkpoint_days) == (False, 200, 7.0)
    assert (defaults.exec_output_limit, defaults.exec_output_total) == (64 * 1024, 16 * 1024**2)


async def test_a_restore_right_after_commands_needs_no_scan_and_can_be_undone(svc: SandboxService) -> None:
    box = await svc.create(SandboxSpec(name="undo"))
    await run(svc, box, "echo one > a.txt && echo keep > k.txt")
    e = await run(svc, box, "echo two > a.txt && rm k.txt && echo new > n.txt")
    ws = svc.provider.workspace_path(box.id)  # type: ignore[attr-defined]
    n = await count(svc, box)

    res = await svc.checkpoints.restore(box.id, str(e["before"]))
    # the marker proved the head is the workspace: it is the state before the restore, no scan, no new checkpoint
    assert svc.counters["restore.scan-skipped"] == 1
    assert res.before.id == e["after"] and await count(svc, box) == n
    assert (ws / "a.txt").read_text() == "one\n" and (ws / "k.txt").read_text() == "keep\n"
    assert not (ws / "n.txt").exists()

    await svc.checkpoints.restore(box.id, res.before.id)  # undo: the command's result is back
    assert svc.counters["restore.scan-skipped"] == 1  # the restore itself moved the workspace: that one scanned
    assert (ws / "a.txt").read_text() == "two\n" and (ws / "n.txt").read_text() == "new\n"
    assert not (ws / "k.txt").exists()


async def test_a_process_between_a_command_and_a_restore_is_in_the_checkpoint_before_it(
    svc: SandboxService, provider: LocalProvider, config: Config
) -> None:
    box = await svc.create(SandboxSpec(name="undo2"))
    first = await run(svc, box, "echo one > a.txt")
    await run(svc, box, "echo two > a.txt")
    plain = SandboxService(provider, config)  # automatic checkpoints off: a process the marker does not vouch for
    try:
        r = await plain.exec(box.id, ["sh", "-c", "echo unseen > later.txt"])
        assert r.exit_code == 0, r.stderr
    finally:
        plain.audit.close()

    res = await svc.checkpoints.restore(box.id, str(first["after"]))
    assert svc.counters["restore.scan-skipped"] == 0
    assert res.before.kind == "before-restore"
    ws = svc.provider.workspace_path(box.id)  # type: ignore[attr-defined]
    assert not (ws / "later.txt").exists()
    await svc.checkpoints.restore(box.id, res.before.id)  # the file that process wrote comes back with the undo
    assert (ws / "later.txt").read_text() == "unseen\n"
