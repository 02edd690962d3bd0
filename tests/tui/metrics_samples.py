"""Fixed metrics samples for the Metrics view's snapshot and Pilot tests: 15 minutes of one sample a second of a
sandbox that burns CPU in bursts, grows its memory to the limit (one OOM kill), forks up to its cap and writes files.
`fixed_sampler` is the named seam: a `MetricsSampler` holding them whose reads never complete, so no live sample
ever lands in a frame."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

from services.metrics import LimitHits, MetricsSample, MetricsSampler

MiB = 1024 * 1024
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
N = 900


def fixed_samples(sandbox_id: str, n: int = N) -> list[MetricsSample]:
    out = []
    for i in range(n):
        burst = 85.0 if (i // 60) % 4 == 1 else 0.0
        cpu = round(min(100.0, burst + 6 + 5 * math.sin(i / 9)), 2)
        memory = min(1024 * MiB, 120 * MiB + i * MiB)
        out.append(
            MetricsSample(
                sandbox_id=sandbox_id,
                time=T0 + timedelta(seconds=i),
                source="cgroup v2",
                cpus=1,
                cpu_pct=cpu,
                memory_used=memory if i < 880 else 200 * MiB,  # the OOM kill at 880 s freed it
                memory_cache=12 * MiB,
                memory_limit=1024 * MiB,
                pids=3 + (i // 30) % 10 * 25,
                pids_limit=256,
                disk_used=40 * MiB + i * 64 * 1024,
                disk_limit=3 * 1024 * MiB,
                hits=LimitHits(
                    oom_kills=1 if i >= 880 else 0,
                    pids_refused=3 if i >= 600 else 0,
                    cpu_throttled=42 if i >= 300 else 0,
                    cpu_throttled_seconds=1.3 if i >= 300 else 0.0,
                ),
                at=1000.0 + i,
            )
        )
    return out


async def _never(_sandbox_id: str) -> MetricsSample:
    await asyncio.Event().wait()  # a read that never completes: only the fixed samples are shown
    raise AssertionError("unreachable")


def fixed_sampler(sandbox_id: str, n: int = N) -> MetricsSampler:
    sampler = MetricsSampler(_never)
    sampler.record_many(fixed_samples(sandbox_id, n))
    return sampler
