"""The audit log's writes (issue 15, services/audit.py): what one line costs with the rotation protocol (a shared
flock, a `stat` of the path, the write, an `lseek`, the unlock) against the write path before it and a bare write,
measured in the same run, and what one rotation costs.

    .venv/bin/python -m bench.audit

Prints:
- audit_bare_write_us: `os.write` of an already-encoded line to an O_APPEND fd (the floor);
- audit_record_before_us: `AuditLog.record` with the write path before rotation (one `os.write`, reproduced
  here by a subclass), so the difference is the protocol alone;
- audit_record_us: `AuditLog.record` with rotation on (64 MiB, not reached) and `audit_record_overhead_us`, the
  difference to the one before;
- audit_rotate_ms: one `rotate()` of a 1 MiB log with 10 rotated files kept (shift, prune, rename, create).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from services.audit import AuditLog, rotate

ROUNDS = int(os.environ.get("BENCH_AUDIT_ROUNDS", "20000"))


def per_call_us(call: Callable[[], object], rounds: int = ROUNDS) -> float:
    """Median over 5 batches of the mean time of one call (µs): batches smooth the timer's own cost."""
    batch = max(1, rounds // 5)
    means = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(batch):
            call()
        means.append((time.perf_counter() - t0) / batch * 1e6)
    return statistics.median(means)


def entry() -> dict[str, object]:
    return {"ts": round(time.time(), 3), "who": "tester", "provider": "local", "op": "write", "outcome": "ok",
            "sandbox": "b0000000000a", "path": "src/pkg/module.py"}  # fmt: skip


class Before(AuditLog):
    """The write path before rotation: one O_APPEND write, no lock, no check of the path."""

    def _append(self, line: bytes) -> int:
        os.write(self._fd, line)
        return 0


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        bare_path = Path(tmp) / "bare.jsonl"
        fd = os.open(bare_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        line = (json.dumps(entry(), ensure_ascii=True) + "\n").encode()
        try:
            bare = per_call_us(lambda: os.write(fd, line))
        finally:
            os.close(fd)
        before = Before(Path(tmp) / "before.jsonl", "tester", "local")
        log = AuditLog(Path(tmp) / "audit.jsonl", "tester", "local", max_bytes=64 * 1024 * 1024, keep=10)
        olds, news = [], []
        try:
            for _ in range(5):  # interleaved, so a neighbour's burst on the shared machine hits both alike
                olds.append(per_call_us(lambda: before.record("write", sandbox="b0000000000a", path="src/x.py")))
                news.append(per_call_us(lambda: log.record("write", sandbox="b0000000000a", path="src/x.py")))
        finally:
            before.close()
            log.close()
        old, new = statistics.median(olds), statistics.median(news)
        print(f"audit_bare_write_us={bare:.2f} us")
        print(f"audit_record_before_us={old:.2f} us")
        print(f"audit_record_us={new:.2f} us")
        print(f"audit_record_overhead_us={new - old:.2f} us ({(new - old) / old * 100:.0f} % over before)")

        rot = Path(tmp) / "rot.jsonl"
        costs = []
        for _ in range(30):
            rot.write_bytes(line * (1024 * 1024 // len(line)))
            t0 = time.perf_counter()
            assert rotate(rot, keep=10)
            costs.append((time.perf_counter() - t0) * 1000)
        print(f"audit_rotate_ms={statistics.median(costs):.3f} ms (1 MiB log, 10 rotated files kept)")


if __name__ == "__main__":
    main()
