"""Rotation of the audit log (issue 15, services/audit.py) and the Timeline across it (services/timeline.py): real
processes appending while others rotate, the reader's first page and its following across the boundary, retention,
and the config keys."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from services.audit import AuditLog, rotate, rotated_files, rotated_path
from services.config import ConfigError, load
from services.local.provider import LocalProvider
from services.sandbox_service import SandboxService
from services.timeline import TimelineReader
from tests.conftest import wait_until

REPO = Path(__file__).resolve().parents[2]

_WRITER = """
import sys
from pathlib import Path
from services.audit import AuditLog
name, count = sys.argv[2], int(sys.argv[3])
log = AuditLog(Path(sys.argv[1]), name, "local", max_bytes=int(sys.argv[4]))
sys.stdin.readline()  # start together
for i in range(count):
    log.record("write", sandbox="box", path=f"{name}-{i}")
"""

_ROTATOR = """
import sys
from pathlib import Path
from services.audit import rotate
path, done, n = Path(sys.argv[1]), Path(sys.argv[2]), 0
sys.stdin.readline()
while not done.exists():
    n += rotate(path)
print(n)
"""


def all_lines(log: Path) -> list[bytes]:
    """Every line of the log, oldest file first."""
    files = [p for _, p in reversed(rotated_files(log))] + [log]
    return [raw for f in files if f.exists() for raw in f.read_bytes().splitlines()]


def test_two_writers_and_a_rotator_in_other_processes_lose_and_repeat_no_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    count = 3000
    done = tmp_path / "done"
    # the writers rotate too (at 40 kB: dozens of times each), while a third process rotates as fast as it can
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(log), name, str(count), "40000"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            text=True,
        )
        for name in ("w1", "w2")
    ]
    rotator = subprocess.Popen(
        [sys.executable, "-c", _ROTATOR, str(log), str(done)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for p in (*writers, rotator):
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for w in writers:
            assert w.wait(timeout=120) == 0
    finally:
        done.touch()
        out, _ = rotator.communicate(timeout=60)
    assert int(out) > 0, "the third process rotated at least once"
    assert len(rotated_files(log)) > 3
    lines = all_lines(log)
    entries = [json.loads(raw) for raw in lines]  # no torn or merged line either
    seen = Counter(e["path"] for e in entries)
    assert len(entries) == 2 * count and set(seen.values()) == {1}
    # and no writer kept appending to a file renamed away: past 40 kB only the lines in flight when it crossed
    longest = max(len(raw) + 1 for raw in lines)
    assert max(p.stat().st_size for _, p in rotated_files(log)) <= 40000 + 4 * longest
    for name in ("w1", "w2"):
        # oldest file first: each writer's lines in the order it wrote them, so none went into a file after it was
        # renamed away (that line would sit before lines written earlier into the newer file)
        mine = [int(e["path"].split("-")[1]) for e in entries if e["who"] == name]
        assert mine == list(range(count))


def test_the_timeline_shows_entries_from_before_and_after_a_rotation_in_order(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    audit = AuditLog(log, "tester", "local")
    for i in range(5):
        audit.record("write", sandbox="box", path=f"before-{i}")
    assert rotate(log)
    for i in range(3):
        audit.record("write", sandbox="box", path=f"after-{i}")
    assert log.stat().st_size > 0 and rotated_path(log, 1).exists()
    page = TimelineReader(log, "box").load()
    paths = [e.path for e in page.entries]
    assert paths == [f"after-{i}" for i in (2, 1, 0)] + [f"before-{i}" for i in (4, 3, 2, 1, 0)]
    keys = [e.key for e in page.entries]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    # the window is bounded: with room for the current file only, the rotated one's entries are not read
    small = TimelineReader(log, "box", max_bytes=log.stat().st_size).load()
    assert [e.path for e in small.entries] == paths[:3] and small.older_capped


_STEPPER = """
import sys
from pathlib import Path
from services.audit import AuditLog, rotate
path = Path(sys.argv[1])
log = AuditLog(path, "agent-7", "local")
for i, cmd in enumerate(sys.stdin):
    for _ in range(cmd.count("rotate")):
        rotate(path)
        log.record("write", sandbox="other", path="filler")  # the new file is not empty
    log.record("write", sandbox="box", path=f"f{i}.txt")
"""


async def test_following_across_a_rotation_by_another_process_delivers_each_entry_once(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    AuditLog(log, "tester", "local").record("create", sandbox="box")
    reader = TimelineReader(log, "box")
    assert len(reader.load().entries) == 1
    got: list[tuple[float, str, int]] = []

    async def follow() -> None:
        async for batch in reader.follow():
            got.extend((time.time() - e.ts, e.path or "", e.key) for e in reversed(batch))

    task = asyncio.ensure_future(follow())
    proc = subprocess.Popen([sys.executable, "-c", _STEPPER, str(log)], cwd=REPO, stdin=subprocess.PIPE, text=True)
    # plain appends, a rotation, appends into the new file, then two rotations within one poll interval
    steps = ["go", "go", "rotate", "go", "go", "rotate rotate", "go"]
    try:
        assert proc.stdin is not None
        for i, step in enumerate(steps):
            proc.stdin.write(step + "\n")
            proc.stdin.flush()
            await wait_until(None, lambda i=i: len(got) > i, f"entry {i}", timeout=30)  # type: ignore[misc]
        assert [p for _, p, _ in got] == [f"f{i}.txt" for i in range(len(steps))]
        assert [k for *_, k in got] == sorted({k for *_, k in got})  # unique and in the log's order
        assert len(rotated_files(log)) == 3
        delays = sorted(d for d, _, _ in got)
        assert delays[len(delays) // 2] < 0.5, delays
    finally:
        task.cancel()
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=30)
    # a later load sees the same entries across the current file and the newest rotated one
    assert [e.path for e in reader.load().entries][:2] == ["f6.txt", "f5.txt"]


def test_two_rotations_between_polls_lose_nothing(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    audit = AuditLog(log, "tester", "local")
    audit.record("create", sandbox="box")
    reader = TimelineReader(log, "box")
    reader.load()
    audit.record("write", sandbox="box", path="a")
    rotate(log)
    audit.record("write", sandbox="box", path="b")
    rotate(log)
    audit.record("write", sandbox="box", path="c")
    assert [e.path for e in reader.poll()] == ["c", "b", "a"]
    assert reader.poll() == []


def test_retention_removes_the_oldest_rotated_files(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    audit = AuditLog(log, "tester", "local", max_bytes=1, keep=3)  # every line rotates
    for i in range(6):
        audit.record("write", sandbox="box", path=f"n{i}")
    assert [n for n, _ in rotated_files(log)] == [1, 2, 3]
    assert [json.loads(p.read_bytes())["path"] for _, p in rotated_files(log)] == ["n5", "n4", "n3"]
    # by age: a rotated file older than keep_days goes at the next rotation, the younger stay
    old = time.time() - 3 * 86400
    os.utime(rotated_path(log, 3), (old, old))
    audit.max_bytes = 0  # this line stays in the current file
    audit.record("write", sandbox="box", path="fresh")
    assert rotate(log, keep=0, keep_days=2)
    assert [n for n, _ in rotated_files(log)] == [1, 2, 3]  # .3 (n3) went; n4, n5 and the rotated current remain
    assert [json.loads(p.read_bytes())["path"] for _, p in rotated_files(log)] == ["fresh", "n5", "n4"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("audit_max_bytes = 1000\n", "key 'audit_max_bytes' must be 0 (never rotate) or at least 1048576 (1 MiB)"),
        ("audit_keep = -1\n", "key 'audit_keep' must be between 0 and 100000"),
        ('audit_keep_days = "week"\n', "key 'audit_keep_days' has the wrong type (str): expected a number"),
    ],
)
def test_a_bad_rotation_setting_is_a_clear_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text('identity = "tester"\n' + text)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert str(err.value) == f"{path}:2: {message}"  # the file, the line and the key


async def test_the_service_rotates_its_log_at_the_configured_size(sandbench_home: Path) -> None:
    path = Path(os.environ["SANDBENCH_CONFIG"])
    path.write_text('identity = "tester"\naudit_max_bytes = 1048576\naudit_keep = 2\n')
    config = load(path)
    service = SandboxService(LocalProvider(config.data_dir, owner_label=config.owner_label), config)
    config.audit_log.write_bytes(b"x" * (1024 * 1024 - 10) + b"\n")
    service.audit.record("write", sandbox="box", path="over")
    assert rotated_path(config.audit_log, 1).read_bytes().endswith(b'"path": "over"}\n')
    service.audit.record("write", sandbox="box", path="next")
    assert json.loads(config.audit_log.read_bytes())["path"] == "next"


def test_a_log_replaced_after_a_rotation_does_not_read_the_rotated_file_again(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    audit = AuditLog(log, "tester", "local")
    audit.record("write", sandbox="box", path="a")
    rotate(log)
    audit.record("write", sandbox="box", path="b")
    reader = TimelineReader(log, "box")
    assert [e.path for e in reader.load().entries] == ["b", "a"]
    fresh = tmp_path / "fresh.jsonl"
    AuditLog(fresh, "tester", "local").record("write", sandbox="box", path="c")
    os.replace(fresh, log)  # not a rotation: audit.jsonl.1 is still the file read at load
    assert [e.path for e in reader.poll()] == ["c"]
    rotate(log)
    audit.record("write", sandbox="box", path="d")
    assert [e.path for e in reader.poll()] == ["d"]
