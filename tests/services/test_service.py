"""SandboxService contracts: the state cache, single-flight auto-start, ownership, retry, audit log."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from services.config import Config
from services.errors import FileNotFound, NotRunning, PathRejected, PermissionDenied, SandboxNotFound, TooLarge
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxSpec, SandboxState
from services.sandbox_service import SandboxService


async def test_hundred_file_operations_cost_one_state_call(service: SandboxService, sandbox: SandboxInfo) -> None:
    service.invalidate()
    service.counters.clear()
    for i in range(50):
        await service.write_file(sandbox.id, f"f{i}.txt", b"x")
        await service.read_file(sandbox.id, f"f{i}.txt")
    assert service.counters["provider.get"] == 1
    assert service.counters["provider.start"] == 0
    assert service.counters["cache.hit"] == 99
    assert service.counters["cache.miss"] == 1


async def test_cached_state_expires_after_ttl(provider: LocalProvider, config: Config) -> None:
    now = [1000.0]
    svc = SandboxService(provider, config, clock=lambda: now[0])
    info = await svc.create(SandboxSpec(name="ttl"))
    svc.counters.clear()
    await svc.list_dir(info.id)
    now[0] += config.state_ttl + 1
    await svc.list_dir(info.id)
    assert svc.counters["provider.get"] == 1  # the first was served by create's fresh entry
    svc.audit.close()


async def test_fifty_concurrent_operations_on_a_stopped_sandbox_start_it_once(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await service.write_file(sandbox.id, "keep.txt", b"kept")
    await service.stop(sandbox.id)
    service.invalidate()
    service.counters.clear()
    results = await asyncio.gather(*(service.read_file(sandbox.id, "keep.txt") for _ in range(50)))
    assert all(r.data == b"kept" for r in results)
    assert service.counters["provider.start"] == 1
    assert (await service.get(sandbox.id)).state is SandboxState.STARTED


async def test_archived_sandbox_auto_starts_with_its_files(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "b.txt", b"archived content")
    archived = await service.archive(sandbox.id)
    assert archived.state is SandboxState.ARCHIVED
    data = await service.read_file(sandbox.id, "b.txt")
    assert data.data == b"archived content"


async def test_not_running_invalidates_and_retries_once(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    await service.write_file(sandbox.id, "x.txt", b"1")
    # stopped behind the service's back (another process, or auto-stop): the cache still says started
    await provider.stop(sandbox.id)
    service.counters.clear()
    data = await service.read_file(sandbox.id, "x.txt")
    assert data.data == b"1"
    assert service.counters["provider.start"] == 1
    assert service.counters["provider.read"] == 2  # the failed attempt and the retry


async def test_other_owners_sandbox_is_refused_like_a_missing_one(
    provider: LocalProvider, config: Config, service: SandboxService
) -> None:
    other = SandboxService(provider, Config(identity="mallory", data_dir=config.data_dir))
    theirs = await other.create(SandboxSpec(name="theirs"))
    with pytest.raises(SandboxNotFound) as missing:
        await service.read_file("000000000000", "x")
    for op in (
        service.read_file(theirs.id, "x"),
        service.write_file(theirs.id, "x", b"pwn"),
        service.exec(theirs.id, ["true"]),
        service.stop(theirs.id),
        service.delete(theirs.id),
        service.list_dir(theirs.id),
    ):
        with pytest.raises(SandboxNotFound) as refused:
            await op
        assert str(refused.value) == str(missing.value).replace("000000000000", theirs.id)
    assert [i.name for i in await service.list_sandboxes()] == []
    other.audit.close()


async def test_unlabelled_sandbox_is_refused(provider: LocalProvider, service: SandboxService) -> None:
    info = await service.create(SandboxSpec(name="orphan"))
    await provider.set_labels(info.id, {})  # the owner label removed behind the service's back
    service.invalidate()
    with pytest.raises(SandboxNotFound):
        await service.list_dir(info.id)


async def test_show_others_is_read_only(provider: LocalProvider, config: Config) -> None:
    owner = SandboxService(provider, Config(identity="alice", data_dir=config.data_dir))
    box = await owner.create(SandboxSpec(name="shared"))
    await owner.write_file(box.id, "readme", b"hello")
    viewer = SandboxService(provider, Config(identity="bob", data_dir=config.data_dir, show_others=True))
    assert (await viewer.read_file(box.id, "readme")).data == b"hello"
    assert [i.name for i in await viewer.list_sandboxes(include_others=True)] == ["shared"]
    with pytest.raises(SandboxNotFound):
        await viewer.write_file(box.id, "readme", b"changed")
    with pytest.raises(SandboxNotFound):
        await viewer.stop(box.id)
    await owner.stop(box.id)
    with pytest.raises(NotRunning):  # reading is allowed, starting someone else's sandbox is not
        await viewer.read_file(box.id, "readme")
    owner.audit.close()
    viewer.audit.close()


async def test_audit_log_has_one_line_per_operation_and_no_contents(
    service: SandboxService, sandbox: SandboxInfo, config: Config
) -> None:
    secret = b"TOP-SECRET-CONTENT-4711"
    before = config.audit_log.read_text().splitlines()
    await service.write_file(sandbox.id, "s.txt", secret)
    await service.read_file(sandbox.id, "s.txt")
    await service.list_dir(sandbox.id)
    with pytest.raises(PathRejected):
        await service.read_file(sandbox.id, "../escape")
    lines = config.audit_log.read_text().splitlines()[len(before) :]
    entries = [json.loads(line) for line in lines]
    assert [e["op"] for e in entries] == ["write", "read", "list"]
    assert all(e["who"] == "tester" and e["sandbox"] == sandbox.id and e["outcome"] == "ok" for e in entries)
    assert entries[0]["path"] == "s.txt"
    assert "TOP-SECRET" not in config.audit_log.read_text()
    assert oct(config.audit_log.stat().st_mode & 0o777) == "0o600"


async def test_audit_records_failures(service: SandboxService, sandbox: SandboxInfo, config: Config) -> None:
    with pytest.raises(FileNotFound):
        await service.read_file(sandbox.id, "nope.txt")
    last = json.loads(config.audit_log.read_text().splitlines()[-1])
    assert last["op"] == "read" and last["outcome"] == "error:FileNotFound" and last["path"] == "nope.txt"


async def test_size_limit_and_head(provider: LocalProvider, config: Config) -> None:
    small = Config(identity="tester", data_dir=config.data_dir, read_limit=1024)
    svc = SandboxService(provider, small)
    info = await svc.create(SandboxSpec(name="limits"))
    await svc.write_file(info.id, "big.bin", b"a" * 5000)
    with pytest.raises(TooLarge, match="limit"):
        await svc.read_file(info.id, "big.bin")
    head = await svc.read_file(info.id, "big.bin", head=True)
    assert head.truncated and len(head.data) == 1024 and head.size == 5000
    svc.audit.close()


async def test_state_listeners_see_transitions(service: SandboxService, sandbox: SandboxInfo) -> None:
    seen: list[str] = []
    service.subscribe(lambda info: seen.append(str(info.state)))
    await service.stop(sandbox.id)
    await service.list_dir(sandbox.id)  # auto-start
    assert seen == ["stopping", "stopped", "starting", "started"]


async def test_auto_stop_after_inactivity(service: SandboxService, sandbox: SandboxInfo) -> None:
    info = await service.get(sandbox.id)
    assert info.auto_stop_minutes == 15
    assert await service.reap_idle(now=info.last_activity.timestamp() + 60) == []
    stopped = await service.reap_idle(now=info.last_activity.timestamp() + 16 * 60)
    assert stopped == [sandbox.id]
    assert (await service.get(sandbox.id)).state is SandboxState.STOPPED


async def test_activity_is_written_at_most_every_interval_and_kept_through_stop(
    provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    """Typing is activity, but it reaches state.db at most once per interval per sandbox (from a worker thread);
    in between it is in memory, shown as it is, and a stop writes it before the sandbox goes down."""
    first = time.time() + 100
    provider.activity.note(sandbox.id, first)  # never written before: written now
    await provider.activity.flush()
    row = provider.store.get(sandbox.id)
    assert row is not None and row.last_activity == first
    provider.activity.note(sandbox.id, first + 5)  # within the interval: kept in memory
    row = provider.store.get(sandbox.id)
    assert row is not None and row.last_activity == first
    assert (await provider.get(sandbox.id)).last_activity.timestamp() == pytest.approx(first + 5, abs=1e-3)
    await provider.stop(sandbox.id)
    row = provider.store.get(sandbox.id)
    assert row is not None and row.last_activity == first + 5


async def test_names_are_unique_per_owner(provider: LocalProvider, config: Config, service: SandboxService) -> None:
    from services.errors import AlreadyExists, NameRejected

    await service.create(SandboxSpec(name="dup"))
    with pytest.raises(AlreadyExists):
        await service.create(SandboxSpec(name="dup"))
    other = SandboxService(provider, Config(identity="someone-else", data_dir=config.data_dir))
    await other.create(SandboxSpec(name="dup"))  # another owner may use the same name
    for bad in ("", "-x", "a b", "[bold]x", "x" * 64, "../x", "a\x00"):
        with pytest.raises(NameRejected):
            await service.create(SandboxSpec(name=bad))
    other.audit.close()


async def test_label_values_must_be_printable(service: SandboxService) -> None:
    from services.errors import NameRejected

    for bad in ("\x9b31m", "\x1b[2J", "a\u202eb", "line\nbreak", "x" * 300):
        with pytest.raises(NameRejected):
            await service.create(SandboxSpec(name="labelled", labels={"k": bad}))
    ok = await service.create(SandboxSpec(name="labelled", labels={"k": "[bold]markup is text, not refused"}))
    assert ok.labels["k"] == "[bold]markup is text, not refused"


async def test_adopt_is_explicit_and_needs_show_others(provider: LocalProvider, config: Config) -> None:
    alice = SandboxService(provider, Config(identity="alice", data_dir=config.data_dir))
    box = await alice.create(SandboxSpec(name="agent-run"))
    bob_strict = SandboxService(provider, Config(identity="bob", data_dir=config.data_dir))
    with pytest.raises(PermissionDenied):
        await bob_strict.adopt(box.id)
    bob = SandboxService(provider, Config(identity="bob", data_dir=config.data_dir, show_others=True))
    with pytest.raises(SandboxNotFound):
        await bob.write_file(box.id, "x", b"not yet")
    adopted = await bob.adopt(box.id)
    assert adopted.owner == "bob" and bob.owns(adopted)
    await bob.write_file(box.id, "x", b"now mine")
    alice.invalidate()
    with pytest.raises(SandboxNotFound):
        await alice.read_file(box.id, "x")
    for svc in (alice, bob_strict, bob):
        svc.audit.close()
