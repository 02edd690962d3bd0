"""The Timeline reader (services/timeline.py, issue 13 §2): one sandbox's audit entries, typed, newest first,
followed live across processes, bounded, and robust to whatever the log file holds.

Entries come from the real service over real local sandboxes (real bubblewrap) and from a real second process
(the `sandbench` CLI, and a writer through `services.audit.AuditLog`), except where a test needs a file no
writer makes (torn and corrupt lines, a log of many MiB)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.config import Config
from services.errors import SandboxNotFound
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from services.timeline import TimelineReader, open_timeline
from services.timeline_view import Filter, checkpoint_before, diff_files, output_text
from tests.conftest import wait_until

REPO = Path(__file__).resolve().parents[2]


def line(sandbox: str, op: str, **fields: object) -> bytes:
    entry = {"ts": fields.pop("ts", time.time()), "who": fields.pop("who", "tester"), "provider": "local"}
    entry.update(op=op, outcome=fields.pop("outcome", "ok"), sandbox=sandbox, **fields)
    return (json.dumps(entry) + "\n").encode()


def append(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(data)


@pytest.mark.bwrap
async def test_operations_through_the_service_are_typed_entries_newest_first(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    other = await service.create(SandboxSpec(name="other"))
    reader = await open_timeline(service, sandbox.id)
    start = reader.load()
    await service.write_file(sandbox.id, "a.txt", b"hi\n")
    await service.move(sandbox.id, "a.txt", "b.txt")
    await service.exec(sandbox.id, ["sh", "-c", "echo '[bold]x' > c.txt"])
    await service.exec(sandbox.id, ["git", "init", "-q"])
    await service.delete_path(sandbox.id, "b.txt")
    await service.write_file(other.id, "elsewhere.txt", b"no\n")  # another sandbox: never in this timeline
    await service.checkpoints.create(sandbox.id, "mark")
    new = reader.poll()
    assert [e.op for e in new] == ["checkpoint", "delete", "exec", "exec", "move", "write"]
    assert [e.kind for e in new] == ["checkpoint", "file", "git", "exec", "file", "file"]
    assert all(e.who == "tester" and e.ok and e.sandbox == sandbox.id for e in new)
    assert new[1].what == "delete b.txt"
    assert new[4].what == "move a.txt → b.txt"
    assert new[2].what.startswith("git")  # argv or (before the exec fields) the program
    assert new[0].what.startswith("checkpoint ")
    assert all(e.key > 0 for e in new) and len({e.key for e in new}) == len(new)
    page = reader.load()  # a fresh load agrees with what was followed
    assert [e.key for e in page.entries[: len(new)]] == [e.key for e in new]
    assert len(page.entries) == len(start.entries) + len(new)
    assert not any(e.sandbox != sandbox.id for e in page.entries)


async def test_an_unseen_sandbox_has_no_timeline(service: SandboxService, sandbench_home: Path) -> None:
    mine = await service.create(SandboxSpec(name="mine"))
    # the same data dir as another identity: the sandbox is not theirs, and they get what a missing one gets
    stranger = SandboxService(service.provider, Config(identity="stranger", data_dir=sandbench_home))
    try:
        with pytest.raises(SandboxNotFound):
            await open_timeline(stranger, mine.id)
        with pytest.raises(SandboxNotFound):
            await open_timeline(service, "no-such-sandbox")
    finally:
        stranger.audit.close()


def test_torn_and_garbage_lines_are_skipped_and_a_half_written_line_waits(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    good = line("box", "write", path="one.txt")
    append(log, good)
    append(log, b"not json at all\n" + b'["a", "list"]\n' + b'{"sandbox": "box", "op": 5}\n' + b"\xff\xfe\n")
    append(log, b'{"ts": 1, "who": "x", "op": "write", "sand')  # a writer that died mid-line ...
    append(log, line("box", "write", path="two.txt"))  # ... and the next line runs into it
    reader = TimelineReader(log, "box")
    page = reader.load()
    assert [e.path for e in page.entries] == ["two.txt", "one.txt"]
    assert page.garbage >= 2  # the corrupt line naming the sandbox, and the torn one
    half = line("box", "exec", program="make")
    append(log, half[:20])  # a writer mid-append: nothing yet
    assert reader.poll() == []
    append(log, half[20:])
    got = reader.poll()
    assert [e.op for e in got] == ["exec"] and got[0].what == "make"
    assert reader.poll() == []  # delivered once


def test_fields_of_the_wrong_type_and_hostile_text_are_made_plain(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, line("box", "exec", argv=["echo", "[bold]hi[/]", "\x1b[31mred"], ms="slow", exit=True, path="d\nx"))
    append(log, line("box", "write", who=["not", "a", "name"]))
    append(log, line("box", "write", ts="yesterday"))
    (entry,) = TimelineReader(log, "box").load().entries
    assert entry.what == "echo '[bold]hi[/]' '\\x1b[31mred'  (in d\\nx)"
    assert entry.ms is None and entry.exit is None
    assert output_text(b"ok\x1b]0;title\x07\n\x1b[2J") == "ok\\x1b]0;title\\x07\n\\x1b[2J"


def test_filters_by_who_kind_and_text(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, line("box", "exec", who="agent-7", argv=["pytest", "-q"], program="pytest"))
    append(log, line("box", "write", path="src/app.py"))
    append(log, line("box", "exec", who="agent-7", argv=["git", "commit", "-m", "x"], program="git"))
    append(log, line("box", "list", path="src"))  # a read: hidden unless asked for
    append(log, line("box", "exec", argv=["cat", "x"], program="cat", internal=True))  # the app's own probe
    append(log, line("box", "stop"))
    entries = TimelineReader(log, "box").load().entries

    def ops(text: str, internal: bool = False) -> list[str]:
        return [e.what for e in Filter.parse(text, internal=internal).apply(entries)]

    assert ops("") == ["stop", "git commit -m x", "write src/app.py", "pytest -q"]
    assert ops("who:agent-7") == ["git commit -m x", "pytest -q"]
    assert ops("who:AGENT-7 kind:git") == ["git commit -m x"]
    assert ops("kind:lifecycle") == ops("kind:life") == ["stop"]
    assert ops("APP.py") == ["write src/app.py"]
    assert ops("kind:exec") == ["pytest -q"]
    assert len(ops("", internal=True)) == 6
    assert ops("who:tester", internal=True) == ["stop", "cat x", "list src", "write src/app.py"]


def test_bounds_a_big_log_reads_its_tail_and_says_how_many_are_older(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    ours = line("box", "write", path="f.txt")
    theirs = line("elsewhere", "write", path="f.txt")
    with open(log, "wb") as f:
        for i in range(60_000):  # ~6 MiB, ours every third line
            f.write(ours if i % 3 == 0 else theirs)
    total = 20_000
    reader = TimelineReader(log, "box", max_bytes=1024 * 1024)
    page = reader.load()
    assert 0 < len(page.entries) < total
    assert len(page.entries) + page.older == total  # every entry is shown or counted
    capped = TimelineReader(log, "box", max_entries=100).load()
    assert len(capped.entries) == 100 and capped.older == total - 100
    # a burst bigger than one poll's read: its newest part is read, the rest counted
    with open(log, "ab") as f:
        f.write(ours * 30_000)
    got = reader.poll()
    assert 0 < len(got) < 30_000 and len(got) + reader.skipped == 30_000


def test_a_replaced_log_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, line("box", "write", path="old.txt") * 3)
    reader = TimelineReader(log, "box")
    assert len(reader.load().entries) == 3
    fresh = tmp_path / "new.jsonl"
    append(fresh, line("box", "write", path="new.txt"))
    os.replace(fresh, log)
    assert [e.path for e in reader.poll()] == ["new.txt"]


_WRITER = """
import sys, time
from pathlib import Path
from services.audit import AuditLog
log = AuditLog(Path(sys.argv[1]), "agent-7", "local")
for i in range(5):
    sys.stdin.readline()  # one entry per line the test sends: it measures each one's delivery
    log.record("write", sandbox=sys.argv[2], path=f"f{i}.txt")
"""


async def test_follow_delivers_another_processes_appends_within_half_a_second(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, line("box", "create"))
    reader = TimelineReader(log, "box")
    reader.load()
    got: list[tuple[float, str]] = []

    async def follow() -> None:
        async for batch in reader.follow():
            got.extend((time.time() - e.ts, e.path or "") for e in reversed(batch))

    task = asyncio.ensure_future(follow())
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(log), "box"], cwd=REPO, stdin=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdin is not None
        for i in range(5):
            proc.stdin.write("go\n")
            proc.stdin.flush()
            await wait_until(None, lambda i=i: len(got) > i, f"entry {i}", timeout=30)  # type: ignore[misc]
        assert [p for _, p in got] == [f"f{i}.txt" for i in range(5)]
        # from the line's own time (written by the other process) to its delivery here: one poll interval, give or
        # take a loaded machine's scheduling (the median, so one late wake-up on a busy CI box does not decide)
        delays = sorted(d for d, _ in got)
        assert delays[2] < 0.5, delays
    finally:
        task.cancel()
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=30)


@pytest.mark.bwrap
async def test_the_cli_in_another_process_appears_in_the_apps_follow(
    service: SandboxService, sandbox: SandboxInfo, sandbench_home: Path
) -> None:
    reader = await open_timeline(service, sandbox.id)
    reader.load()
    got = []

    async def follow() -> None:
        async for batch in reader.follow():
            got.extend(batch)

    task = asyncio.ensure_future(follow())
    try:
        Path(os.environ["SANDBENCH_CONFIG"]).write_text('identity = "tester"\n')  # the service's identity
        env = {**os.environ, "SANDBENCH_HOME": str(sandbench_home)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tui.cli", "exec", "box", "--", "touch", "made-by-cli", cwd=REPO, env=env
        )
        assert await proc.wait() == 0
        await wait_until(None, lambda: any(e.kind == "exec" for e in got), "the CLI's exec", timeout=30)
    finally:
        task.cancel()
    (ex,) = [e for e in got if e.kind == "exec"]
    assert ex.what.startswith("touch") and ex.ok


@pytest.mark.bwrap
async def test_checkpoint_before_and_the_files_an_exec_changed(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "keep.txt", b"one\n")
    a = await service.checkpoints.create(sandbox.id, "a")
    reader = await open_timeline(service, sandbox.id)
    reader.load()
    await service.exec(sandbox.id, ["sh", "-c", "echo two >> keep.txt && printf 'x' > new.bin && rm -f gone"])
    b = await service.checkpoints.create(sandbox.id, "b")
    (ex,) = [e for e in reader.poll() if e.op == "exec"]
    ckpts, _ = await service.checkpoints.list_checkpoints(sandbox.id)
    found = checkpoint_before(ex, ckpts)
    assert found is not None and found.id in ((ex.before or a.id), a.id)
    _, changes = await service.checkpoints.diff_between(sandbox.id, found.id, ex.after or b.id)
    files = {f.path: f for f in diff_files(changes)}
    assert set(files) == {"keep.txt", "new.bin"}
    assert files["keep.txt"].status == "M" and files["keep.txt"].added == 1
    assert files["new.bin"].status == "A"
