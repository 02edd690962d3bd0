"""The Timeline's reader (issue 13 §2, services/timeline.py): what opening and following a sandbox's timeline costs
on a big audit log, against reading the whole log naively in the same run.

    .venv/bin/python -m bench.timeline

A 64 MiB audit log (`BENCH_TIMELINE_MIB`) of 20 sandboxes' lines, one in 20 the sandbox's; prints:
- timeline_load_ms / timeline_load_peak_mib: `load()` (the last 4 MiB parsed, the rest counted in chunks) and its
  peak Python allocation; timeline_naive_load_ms / timeline_naive_peak_mib: every line `json.loads`ed and filtered.
- timeline_poll_idle_us: one `poll()` with nothing new (a `stat`), the cost every 0.25 s while the view is open;
  timeline_follow_cpu_pct: that, as a share of one CPU at 4 polls a second.
- timeline_poll_line_us: one `poll()` after another process-like append of one line.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from services.timeline import TimelineReader

MIB = int(os.environ.get("BENCH_TIMELINE_MIB", "64"))
OURS = "b0000000000a"


def line(sandbox: str, n: int) -> bytes:
    entry = {"ts": 1_796_000_000 + n / 10, "who": "tester", "provider": "local", "op": "write", "outcome": "ok"}
    entry.update(sandbox=sandbox, path=f"src/pkg{n % 97}/module_{n}.py")
    return (json.dumps(entry) + "\n").encode()


def make_log(path: Path) -> int:
    ours = 0
    with open(path, "wb") as f:
        n = 0
        while f.tell() < MIB * 1024 * 1024:
            box = OURS if n % 20 == 0 else f"b{n % 20:011d}"
            ours += box == OURS
            f.write(line(box, n))
            n += 1
    return ours


def naive(path: Path) -> int:
    found = []
    with open(path, "rb") as f:
        for raw in f:
            entry = json.loads(raw)
            if entry.get("sandbox") == OURS:
                found.append(entry)
    return len(found)


def timed(call: object, rounds: int) -> tuple[float, float]:
    """Median wall time (ms) of `rounds` calls, and the peak allocation (MiB) of one more."""
    assert callable(call)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    tracemalloc.start()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak / 1024 / 1024


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-timeline-") as tmp:
        log = Path(tmp) / "audit.jsonl"
        ours = make_log(log)
        reader = TimelineReader(log, OURS)
        page = reader.load()
        assert len(page.entries) + page.older == ours, (len(page.entries), page.older, ours)
        load_ms, load_peak = timed(reader.load, 5)
        naive_ms, naive_peak = timed(lambda: naive(log), 2)
        print(f"timeline_log_mib={log.stat().st_size / 1024 / 1024:.0f} MiB ({ours} entries of the sandbox)")
        print(f"timeline_load_ms={load_ms:.1f} ms (shown {len(page.entries)}, counted older {page.older})")
        print(f"timeline_load_peak_mib={load_peak:.1f} MiB")
        print(f"timeline_naive_load_ms={naive_ms:.1f} ms")
        print(f"timeline_naive_peak_mib={naive_peak:.1f} MiB")

        reader.load()
        polls = []
        for _ in range(2000):
            t0 = time.perf_counter()
            reader.poll()
            polls.append((time.perf_counter() - t0) * 1e6)
        idle = statistics.median(polls)
        print(f"timeline_poll_idle_us={idle:.1f} us")
        print(f"timeline_follow_cpu_pct={idle * 4 / 1e6 * 100:.3f} %")

        fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        costs = []
        try:
            for n in range(500):
                os.write(fd, line(OURS, 10_000_000 + n))
                t0 = time.perf_counter()
                got = reader.poll()
                costs.append((time.perf_counter() - t0) * 1e6)
                assert len(got) == 1
        finally:
            os.close(fd)
        print(f"timeline_poll_line_us={statistics.median(costs):.1f} us")


if __name__ == "__main__":
    main()
