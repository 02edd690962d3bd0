"""The change feed of checkpoint scans (services/checkpoints/feed.py), on real inotify, real files and real
bubblewrap: after every kind of change a feed scan gives exactly the full scan's entries, and costs what changed
(the counters say which scan ran); what it cannot vouch for (an overflowed queue, a folder made since the last
scan, a hard link made and removed between scans) makes the next scan a full one, never a wrong answer; feeds
are bounded and leak no fd."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.checkpoints import CheckpointService, inotify
from services.checkpoints.scan import RACY_NS, Tree, scan
from services.checkpoints.store import Entry
from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until

pytestmark = pytest.mark.bwrap


@pytest.fixture
async def cps(service: SandboxService) -> AsyncIterator[CheckpointService]:
    service.checkpoints.enable_feeds()
    yield service.checkpoints
    service.checkpoints.close()  # the shared fixture's service is never closed: its feeds are, here


def root(cps: CheckpointService, box: SandboxInfo) -> Path:
    return cps._workspace(box.id).root


def settle(ws: Path) -> None:
    """Wait until every name's timestamps are past the racy window, so both scans judge them alike (a condition on
    the clock, not a fixed sleep)."""
    newest = 0
    for dirpath, dirs, files in os.walk(ws):
        for n in dirs + files:
            st = os.lstat(os.path.join(dirpath, n))
            newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    while time.time_ns() < newest + RACY_NS + 1_000_000:
        time.sleep(0.005)


def full(cps: CheckpointService, box: SandboxInfo) -> list[Entry]:
    _, base = cps._base(box.id)
    with Tree(root(cps, box)) as tree:
        return scan(tree, base, cps.store, store=False).entries


def fed(cps: CheckpointService, box: SandboxInfo, *, expect: str = "feed") -> list[Entry]:
    """A scan through the service's feeds; asserts which kind ran ("feed" or "full")."""
    counters = cps.svc.counters
    before = (counters["checkpoint.scan-feed"], counters["checkpoint.scan-full"])
    _, base = cps._base(box.id)
    with Tree(root(cps, box)) as tree:
        got = cps._scan(box.id, tree, base, store=False).entries
    after = (counters["checkpoint.scan-feed"], counters["checkpoint.scan-full"])
    assert after == ((before[0] + 1, before[1]) if expect == "feed" else (before[0], before[1] + 1)), (
        expect,
        before,
        after,
    )
    return got


def same(cps: CheckpointService, box: SandboxInfo, *, expect: str = "feed") -> list[Entry]:
    settle(root(cps, box))
    got = fed(cps, box, expect=expect)
    want = full(cps, box)
    assert got == want, sorted(set(got) ^ set(want))
    return got


def paths(entries: list[Entry]) -> set[str]:
    return {e.path for e in entries}


async def test_a_feed_scan_is_the_full_scan_after_each_kind_of_change(
    cps: CheckpointService, sandbox: SandboxInfo, tmp_path: Path
) -> None:
    ws = root(cps, sandbox)
    for d in ("a", "a/deep", "b", "c"):
        (ws / d).mkdir()
    for i in range(5):
        (ws / "a" / f"f{i}.txt").write_text(f"file {i}\n")
        (ws / "b" / f"g{i}.txt").write_text(f"other {i}\n")
    (ws / "a" / "deep" / "x.txt").write_text("deep\n")
    os.link(ws / "a" / "f0.txt", ws / "c" / "twin.txt")  # hard-linked before the feed starts
    same(cps, sandbox, expect="full")  # the first scan is full and starts the feed
    same(cps, sandbox)  # nothing moved

    (ws / "a" / "new.txt").write_text("created\n")
    got = same(cps, sandbox)
    assert "a/new.txt" in paths(got)

    # content changed with size and mtime put back: inotify still saw the write (and ctime moved)
    p = ws / "b" / "g1.txt"
    st = p.stat()
    p.write_text("OTHER 1\n")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    got = same(cps, sandbox)
    old = {e.path: e for e in full(cps, sandbox)}
    assert old["b/g1.txt"].size == st.st_size and old["b/g1.txt"].mtime_ns == st.st_mtime_ns

    os.chmod(ws / "b" / "g2.txt", 0o600)
    assert {e.path: e.mode for e in same(cps, sandbox)}["b/g2.txt"] == 0o600
    (ws / "b" / "g3.txt").unlink()
    assert "b/g3.txt" not in paths(same(cps, sandbox))
    os.rename(ws / "b" / "g4.txt", ws / "b" / "moved.txt")
    os.rename(ws / "a" / "f1.txt", ws / "b" / "from-a.txt")
    got = paths(same(cps, sandbox))
    assert {"b/moved.txt", "b/from-a.txt"} <= got and not {"b/g4.txt", "a/f1.txt"} & got

    # a whole folder moved: walked at its new path, and a change inside it is then seen there
    os.rename(ws / "a", ws / "c" / "a2")
    got = paths(same(cps, sandbox))
    assert "c/a2/deep/x.txt" in got and not any(p.startswith("a/") or p == "a" for p in got)
    (ws / "c" / "a2" / "deep" / "x.txt").write_text("changed in the moved folder\n")
    got = same(cps, sandbox)
    assert {e.path: e.size for e in got}["c/a2/deep/x.txt"] == len("changed in the moved folder\n")

    # the hard link changed through its other name: only that name's folder has the event
    (ws / "c" / "twin.txt").write_text("through the twin\n")
    got = {e.path: e for e in same(cps, sandbox)}
    assert got["c/a2/f0.txt"].ref == got["c/twin.txt"].ref
    assert got["c/a2/f0.txt"].size == len("through the twin\n")

    # a hard link made now to a file in a folder with no event: that file's other name is lstat'ed again at once
    # (its ctime moved), and a change through the new name is seen at both
    os.link(ws / "c" / "a2" / "deep" / "x.txt", ws / "c" / "late-twin.txt")
    same(cps, sandbox)
    (ws / "c" / "late-twin.txt").write_text("through the late twin\n")
    got = {e.path: e for e in same(cps, sandbox)}
    assert got["c/a2/deep/x.txt"].size == len("through the late twin\n")

    # a symlink swapped in for a folder: recorded as a symlink, never followed
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("host\n")
    for n in os.listdir(ws / "b"):
        (ws / "b" / n).unlink()
    (ws / "b").rmdir()
    os.symlink(str(outside), ws / "b")
    got = {e.path: e for e in same(cps, sandbox)}
    assert got["b"].kind == "symlink" and got["b"].ref == str(outside)
    assert not any(p.startswith("b/") for p in got)

    # a folder made since the last scan: its history was never watched, so the feed cannot vouch: a full scan
    (ws / "made").mkdir()
    (ws / "made" / "in.txt").write_text("inside\n")
    assert "made/in.txt" in paths(same(cps, sandbox, expect="full"))
    (ws / "made" / "in.txt").write_text("inside, again\n")
    same(cps, sandbox)  # the new feed watches it


async def test_a_hard_link_made_written_and_removed_between_scans_is_not_missed(
    cps: CheckpointService, sandbox: SandboxInfo
) -> None:
    ws = root(cps, sandbox)
    (ws / "x").mkdir()
    (ws / "y").mkdir()
    (ws / "x" / "a.txt").write_text("original\n")
    first = await cps.create(sandbox.id, "before")
    fed(cps, sandbox)
    # x/ gets no event for any of this: the link is made, written through and removed in y/
    os.link(ws / "x" / "a.txt", ws / "y" / "b.txt")
    with open(ws / "y" / "b.txt", "r+") as fh:
        fh.write("CHANGED!\n")
    (ws / "y" / "b.txt").unlink()
    assert (ws / "x" / "a.txt").read_text() == "CHANGED!\n"
    settle(ws)
    cs = await cps.changes(sandbox.id, first.id)
    assert [(c.path, c.status) for c in cs.changes] == [("x/a.txt", "modified")]
    assert cps.svc.counters["checkpoint.scan-full"] == 2  # the feed dropped itself: a full scan answered


async def test_an_overflowed_queue_makes_the_next_scan_full(cps: CheckpointService, sandbox: SandboxInfo) -> None:
    ws = root(cps, sandbox)
    (ws / "one").write_text("1\n")
    (ws / "two").write_text("2\n")
    same(cps, sandbox, expect="full")
    queued = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    # more events than the kernel queues (alternating names: identical consecutive events are merged); no event loop
    # reads them meanwhile (none is bound here), so the queue really overflows
    assert cps.feeds is not None and cps.feeds.loop is None
    for i in range(queued + 100):
        os.utime(ws / ("one" if i % 2 else "two"), ns=(i, i))
    (ws / "three").write_text("3\n")
    got = same(cps, sandbox, expect="full")
    assert "three" in paths(got)
    feed = cps.feeds.get(sandbox.id)
    assert feed is not None and feed.broken is None  # a new feed, sound
    same(cps, sandbox)


async def test_a_feed_whose_events_do_not_parse_or_overflow_is_dropped(
    cps: CheckpointService, sandbox: SandboxInfo
) -> None:
    ws = root(cps, sandbox)
    (ws / "f").write_text("x\n")
    same(cps, sandbox, expect="full")
    feed = cps.feeds.get(sandbox.id) if cps.feeds else None
    assert feed is not None
    # the overflow record as the kernel writes it (wd -1, IN_Q_OVERFLOW, no name), through the parser
    for ev in inotify.parse(struct.pack("iIII", -1, inotify.IN_Q_OVERFLOW, 0, 0)):
        feed._event(ev)
    same(cps, sandbox, expect="full")
    with pytest.raises(inotify.ParseError):
        inotify.parse(struct.pack("iIII", 1, inotify.IN_MODIFY, 0, 32) + b"short")
    with pytest.raises(inotify.ParseError):
        inotify.parse(b"\x01\x00")


async def test_random_changes_feed_scan_equals_full_scan(cps: CheckpointService, sandbox: SandboxInfo) -> None:
    ws = root(cps, sandbox)
    rng = random.Random(1313)
    folders = ["", "p", "p/q", "r"]
    for d in folders[1:]:
        (ws / d).mkdir()
    files: list[str] = []
    for i in range(30):
        rel = f"{rng.choice(folders)}/n{i}".lstrip("/")
        (ws / rel).write_text(f"{i}\n" * rng.randint(1, 5))
        files.append(rel)
    same(cps, sandbox, expect="full")
    kinds = {"feed": 0, "full": 0}

    def somewhere(tag: str) -> str:
        return f"{rng.choice([d for d in folders if (ws / d).is_dir()])}/{tag}_{rng.randint(0, 999)}".lstrip("/")

    for rnd in range(25):
        for _ in range(rng.randint(1, 6)):
            op = rng.choice(["write", "append", "chmod", "delete", "rename", "create", "link", "symlink", "utime"])
            live = [f for f in files if (ws / f).is_file() and not (ws / f).is_symlink()]
            target = rng.choice(live) if live else None
            if op == "create" or target is None:
                rel = f"{rng.choice([d for d in folders if (ws / d).is_dir()])}/c{rnd}_{rng.randint(0, 999)}".lstrip(
                    "/"
                )
                if not (ws / rel).exists():
                    (ws / rel).write_text("made\n")
                    files.append(rel)
            elif op == "write":
                (ws / target).write_text(f"round {rnd}\n")
            elif op == "append":
                with open(ws / target, "a") as fh:
                    fh.write("more\n")
            elif op == "chmod":
                os.chmod(ws / target, rng.choice([0o600, 0o644, 0o755]))
            elif op == "delete":
                (ws / target).unlink()
            elif op == "rename":
                dest = f"{rng.choice([d for d in folders if (ws / d).is_dir()])}/m{rnd}_{rng.randint(0, 999)}".lstrip(
                    "/"
                )
                if not (ws / dest).exists():
                    os.rename(ws / target, ws / dest)
                    files.append(dest)
            elif op == "link":
                dest = f"{rng.choice([d for d in folders if (ws / d).is_dir()])}/l{rnd}_{rng.randint(0, 999)}".lstrip(
                    "/"
                )
                if not (ws / dest).exists():
                    os.link(ws / target, ws / dest)
                    files.append(dest)
            elif op == "symlink":
                dest = f"s{rnd}_{rng.randint(0, 999)}"
                if not (ws / dest).exists():
                    os.symlink(target, ws / dest)
            elif op == "utime":
                st = (ws / target).stat()
                (ws / target).write_text("same size?\n")
                os.utime(ws / target, ns=(st.st_atime_ns, st.st_mtime_ns))
        settle(ws)
        counters = cps.svc.counters
        before = counters["checkpoint.scan-feed"]
        _, base = cps._base(sandbox.id)
        with Tree(ws) as tree:
            got = cps._scan(sandbox.id, tree, base, store=False).entries
        kinds["feed" if counters["checkpoint.scan-feed"] > before else "full"] += 1
        want = full(cps, sandbox)
        assert got == want, (rnd, sorted(set(got) ^ set(want)))
        if rnd % 5 == 4:
            await cps.create(sandbox.id, f"round {rnd}")  # the stat cache moves on: the feed scans against it
    assert kinds["feed"] >= 15, kinds  # most rounds were answered by the feed


async def test_a_command_in_the_real_sandbox_is_seen_by_the_feed(
    service: SandboxService, cps: CheckpointService, sandbox: SandboxInfo
) -> None:
    r = await service.exec(sandbox.id, ["sh", "-c", "mkdir -p src && echo one > src/a && echo two > src/b"])
    assert r.exit_code == 0, r.stderr
    first = await cps.create(sandbox.id, "base")
    assert cps.svc.counters["checkpoint.scan-full"] == 1
    r = await service.exec(
        sandbox.id, ["sh", "-c", "echo more >> src/a && rm src/b && echo new > src/c && ln -s a src/l"]
    )
    assert r.exit_code == 0, r.stderr
    cs = await cps.changes(sandbox.id, first.id)
    assert {(c.path, c.status) for c in cs.changes} == {
        ("src/a", "modified"),
        ("src/b", "deleted"),
        ("src/c", "added"),
        ("src/l", "added"),
    }
    assert cps.svc.counters["checkpoint.scan-feed"] >= 1
    assert cps.svc.counters["checkpoint.scan-full"] == 1
    # and a restore through the feed puts the workspace back
    await cps.restore(sandbox.id, first.id)
    assert not (await cps.changes(sandbox.id, first.id)).changes
    assert cps.svc.counters["checkpoint.scan-full"] == 1
    same(cps, sandbox)


async def test_events_are_read_as_they_arrive_from_the_event_loop(cps: CheckpointService, sandbox: SandboxInfo) -> None:
    ws = root(cps, sandbox)
    (ws / "f").write_text("x\n")
    await cps.create(sandbox.id)  # binds the loop; the full scan starts the feed, which then reads from it
    feed = cps.feeds.get(sandbox.id) if cps.feeds else None
    assert feed is not None
    await wait_until(None, lambda: feed.reading, "the feed's reader on the event loop")
    (ws / "g").write_text("y\n")
    await wait_until(None, lambda: feed.pending, "the event read without a scan")
    # so many changes between two scans that the kernel's queue alone would overflow: read as they come
    queued = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    for i in range(queued + 100):
        os.utime(ws / ("f" if i % 2 else "g"), ns=(i, i))
        if i % 2000 == 0:
            await asyncio.sleep(0)  # the loop runs, as it does between an agent's commands
    await asyncio.sleep(0)
    names = await cps.changes(sandbox.id)
    assert {(c.path, c.status) for c in names.changes} == {("g", "added")}  # f's times moved, not its content
    assert cps.svc.counters["checkpoint.scan-full"] == 1  # no overflow: the feed answered
    same(cps, sandbox)


def inotify_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"
        except OSError:
            pass
    return n


async def test_feeds_are_bounded_closed_with_their_sandbox_and_leak_no_fd(config: Config, tmp_path: Path) -> None:
    before_fds, before_inotify = len(os.listdir("/proc/self/fd")), inotify_fds()
    cfg = dataclasses.replace(config, data_dir=tmp_path / "own")
    svc = SandboxService(LocalProvider(cfg.data_dir, owner_label=cfg.owner_label), cfg)  # closed by the test
    cps = svc.checkpoints
    cps.enable_feeds(limit=2)
    assert cps.feeds is not None
    boxes = [await svc.create(SandboxSpec(name=f"feed{i}")) for i in range(3)]
    for box in boxes:
        (root(cps, box) / "f").write_text(box.id)
        await cps.create(box.id)
    assert len(cps.feeds) == 2 and cps.feeds.get(boxes[0].id) is None  # the least recently used went
    assert inotify_fds() - before_inotify == 2
    await cps.create(boxes[0].id)  # full again, and the next oldest goes
    assert cps.feeds.get(boxes[1].id) is None and len(cps.feeds) == 2
    await svc.delete(boxes[0].id)
    assert cps.feeds.get(boxes[0].id) is None
    await wait_until(None, lambda: inotify_fds() - before_inotify == 1, "the deleted sandbox's feed closed")
    for box in boxes[1:]:
        await svc.delete(box.id)
    await svc.close()
    await wait_until(None, lambda: inotify_fds() == before_inotify, "every feed closed")
    assert len(os.listdir("/proc/self/fd")) <= before_fds


async def test_a_workspace_replaced_wholesale_is_scanned_in_full(cps: CheckpointService, sandbox: SandboxInfo) -> None:
    ws = root(cps, sandbox)
    (ws / "f").write_text("x\n")
    same(cps, sandbox, expect="full")
    aside = ws.with_name(ws.name + ".aside")
    os.rename(ws, aside)
    ws.mkdir()
    os.chown(ws, aside.stat().st_uid, aside.stat().st_gid)
    (ws / "g").write_text("y\n")
    assert paths(same(cps, sandbox, expect="full")) == {"g"}
    (aside / "f").unlink()
    aside.rmdir()


async def test_a_file_hashed_by_changes_is_stored_by_the_next_checkpoint(
    cps: CheckpointService, sandbox: SandboxInfo
) -> None:
    ws = root(cps, sandbox)
    (ws / "d").mkdir()
    (ws / "d" / "f.txt").write_text("one\n")
    first = await cps.create(sandbox.id, "one")
    (ws / "d" / "f.txt").write_text("two, unseen by any checkpoint yet\n")
    settle(ws)
    # `changes` hashes it without storing a blob; the feed keeps that entry, and the checkpoint after must not name a
    # blob the store lacks
    assert [c.path for c in (await cps.changes(sandbox.id, first.id)).changes] == ["d/f.txt"]
    second = await cps.create(sandbox.id, "two")
    assert second.files_added == 1
    # nothing moved since `second` (the feed proves it): that is the state before the restore, no new checkpoint
    count = len((await cps.list_checkpoints(sandbox.id))[0])
    res = await cps.restore(sandbox.id, first.id)
    assert res.before.id == second.id and cps.svc.counters["restore.head-is-before"] == 1
    assert len((await cps.list_checkpoints(sandbox.id))[0]) == count
    assert (ws / "d" / "f.txt").read_text() == "one\n"
    await cps.restore(sandbox.id, second.id)
    assert (ws / "d" / "f.txt").read_text() == "two, unseen by any checkpoint yet\n"
    assert cps.svc.counters["checkpoint.scan-full"] == 1


async def test_serve_s_services_keep_feeds_and_close_them(config: Config, tmp_path: Path) -> None:
    from services.server.auth import TokenTable
    from services.server.context import ServerState
    from services.server.limits import ServeLimits
    from services.server.sandbox_env import SandboxEnvStore

    before = inotify_fds()
    cfg = dataclasses.replace(config, data_dir=tmp_path / "serve")
    provider = LocalProvider(cfg.data_dir, owner_label=cfg.owner_label)
    state = ServerState(provider, cfg, TokenTable({}), ServeLimits(), SandboxEnvStore(cfg.data_dir / "serve-env"))
    svc = state.service("agent")  # an identity's service, as a request with its token gets
    box = await svc.create(SandboxSpec(name="served"))
    (svc.checkpoints._workspace(box.id).root / "f").write_text("x\n")
    await svc.checkpoints.create(box.id)
    (svc.checkpoints._workspace(box.id).root / "f").write_text("y\n")
    await svc.checkpoints.create(box.id)
    assert (svc.counters["checkpoint.scan-full"], svc.counters["checkpoint.scan-feed"]) == (1, 1)
    await svc.delete(box.id)
    await state.close()
    await wait_until(None, lambda: inotify_fds() == before, "serve's feeds closed")


async def test_a_feed_that_cannot_vouch_is_closed_by_its_reader_at_once(
    cps: CheckpointService, sandbox: SandboxInfo
) -> None:
    before = inotify_fds()
    ws = root(cps, sandbox)
    (ws / "x.txt").write_text("x\n")
    await cps.create(sandbox.id)
    feed = cps.feeds.get(sandbox.id) if cps.feeds else None
    assert feed is not None
    await wait_until(None, lambda: feed.reading, "the feed's reader on the event loop")
    assert inotify_fds() == before + 1
    (ws / "made").mkdir()  # a folder made since the last scan: the feed cannot vouch any more
    await wait_until(None, lambda: feed.closed and inotify_fds() == before, "the broken feed closed by its reader")
    (ws / "made" / "in.txt").write_text("inside\n")
    cs = await cps.changes(sandbox.id)
    assert {(c.path, c.status) for c in cs.changes} == {("made", "added"), ("made/in.txt", "added")}
    assert cps.svc.counters["checkpoint.scan-full"] == 2
