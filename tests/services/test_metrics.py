"""Metrics through the service (issue 13 §3), against real bubblewrap and the real kernel's cgroups: a CPU burner
shows in the CPU share, a memory hog over its limit shows as an OOM kill, a fork bomb at the pids cap as refused
forks; the sampler reads only while someone watches and keeps a bounded window.

The limits are small on purpose (a 128 MiB sandbox, the default 256-pids cap) so no test can hurt the machine;
every process a test starts ends when the test does (the fork bomb's children wait on a pipe the parent closes).
Where the host has no per-sandbox cgroups the cgroup tests skip, as tests/services/test_cgroups.py decides —
except in CI as root, which is known to have them, so there they fail.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.config import Config
from services.errors import NotRunning
from services.local.cgroups import CgroupManager
from services.local.provider import LocalProvider
from services.metrics import (
    LimitHits,
    MetricsSample,
    MetricsSampler,
    MetricsUnavailable,
)
from services.models import Resources, SandboxSpec, SandboxState
from services.sandbox_service import SandboxService
from tests.services.test_cgroups import IN_CI

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]

MiB = 1024 * 1024


@pytest.fixture
def cgroups(provider: LocalProvider) -> None:
    m = provider.launcher.cgroups
    if not m.available:
        if IN_CI and os.geteuid() == 0:
            pytest.fail(f"CI is expected to offer a writable cgroup hierarchy: {m.reason}")
        pytest.skip(f"no per-sandbox cgroups here: {m.reason}")


async def until(check: object, timeout: float = 30.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        got = check() if callable(check) else None
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in {timeout:g} s")
        await asyncio.sleep(0.1)


def py(code: str) -> list[str]:
    return ["python3", "-c", textwrap.dedent(code)]


async def test_a_cpu_burner_shows_in_the_samples(service: SandboxService, cgroups: None) -> None:
    box = await service.create(SandboxSpec(name="burn"))
    idle = await service.metrics(box.id)
    assert idle.cpus == 1 and idle.memory_limit == 1024 * MiB and idle.pids_limit == 256
    assert idle.disk_limit == 3 * 1024 * MiB and idle.source.startswith("cgroup v")
    assert idle.cpu_pct is not None and idle.cpu_pct < 50
    sampler = service.metrics_sampler
    watch = sampler.watch(box.id)
    # the burner runs until it has had 3 s of CPU, however loaded the machine (its share of a loaded CPU may be
    # far under 100 %); the samples must account for that CPU time, whatever share it came in
    burner = "import time\nwhile time.process_time() < 3: pass\nprint(time.process_time())"
    burn = asyncio.ensure_future(service.exec(box.id, py(burner), timeout=90))
    try:
        busy = await until(lambda: any((s.cpu_pct or 0) >= 10 for s in sampler.history(box.id)), what="a busy sample")
        assert busy
    finally:
        result = await burn
        await until(lambda: (sampler.history(box.id)[-1].cpu_pct or 0) < 10, what="an idle sample again")
        watch.close()
    assert result.exit_code == 0, result.stderr
    used = float(result.stdout.decode() if isinstance(result.stdout, bytes) else result.stdout)
    history = sampler.history(box.id)
    shares = [s.cpu_pct for s in history]
    assert all(p is not None and 0 <= p <= 100 for p in shares)
    # each sample's share covers the window since the one before it
    seen = sum((b.cpu_pct or 0) / 100 * (b.at - a.at) for a, b in itertools.pairwise(history))
    assert 0.6 * used <= seen <= 1.4 * used + 0.5, (seen, used, shares)


async def test_a_burner_over_its_cpu_quota_shows_throttling(
    service: SandboxService, provider: LocalProvider, cgroups: None
) -> None:
    box = await service.create(SandboxSpec(name="quota"))
    await service.exec(box.id, ["true"])  # its cgroup exists from here on
    # a fifth of a CPU (the cgroup's quota, lowered as tests/services/test_cgroups.py does): one busy loop uses its
    # whole quota in every period, however loaded this machine is
    assert provider.launcher.cgroups.ensure(box.id, pids_max=256, memory_bytes=1024 * MiB, cpus=0.2) is not None
    before = await service.metrics(box.id)
    assert before.hits.cpu_throttled == 0
    result = await service.exec(box.id, py("import time\nt = time.time()\nwhile time.time() - t < 2: pass"))
    assert result.exit_code == 0, result.stderr
    after = await service.metrics(box.id)
    assert (after.hits.cpu_throttled or 0) >= 1 and (after.hits.cpu_throttled_seconds or 0) > 0


async def test_memory_over_the_limit_is_an_oom_kill(service: SandboxService, cgroups: None) -> None:
    box = await service.create(SandboxSpec(name="hog", resources=Resources(memory_gib=0.125)))
    before = await service.metrics(box.id)
    assert before.memory_limit == 128 * MiB and before.hits.oom_kills == 0
    hog = py(
        """
        b = bytearray(400 * 1024 * 1024)
        for j in range(0, len(b), 4096): b[j] = 1
        print("held")
        """
    )
    result = await service.exec(box.id, hog, timeout=60)
    assert result.exit_code != 0 and b"held" not in result.stdout  # the kernel killed it before it held 400 MiB
    after = await service.metrics(box.id)
    assert (after.hits.oom_kills or 0) >= 1
    assert after.memory_used is not None and after.memory_used <= after.memory_limit


async def test_a_fork_bomb_at_the_pids_cap_shows_refused_forks(service: SandboxService, cgroups: None) -> None:
    box = await service.create(SandboxSpec(name="forks"))
    assert (await service.metrics(box.id)).hits.pids_refused == 0
    bomb = py(
        """
        import os
        r, w = os.pipe()
        n = 0
        for _ in range(2000):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                os.close(w); os.read(r, 1); os._exit(0)  # waits until the parent lets go
            n += 1
        print("forked", n, flush=True)
        os.close(w)
        for _ in range(n): os.wait()
        """
    )
    result = await service.exec(box.id, bomb, timeout=60)
    assert result.exit_code == 0, result.stderr
    forked = int(result.stdout.split()[-1])
    assert forked < 256  # the cap held
    after = await service.metrics(box.id)
    assert (after.hits.pids_refused or 0) >= 1
    assert after.pids_limit == 256


async def test_sampling_stops_when_nobody_watches(service: SandboxService, cgroups: None) -> None:
    box = await service.create(SandboxSpec(name="watched"))
    await service.exec(box.id, ["true"])
    sampler = service.metrics_sampler
    first, second = sampler.watch(box.id), sampler.watch(box.id)
    await until(lambda: len(sampler.history(box.id)) >= 2, what="two samples")
    first.close()
    assert sampler.running  # one watcher is left
    second.close()
    assert not sampler.running and sampler.watched == set()
    ticks, kept = sampler.ticks, len(sampler.history(box.id))
    await asyncio.sleep(3 * sampler.interval)  # what must not happen: nothing to await but time
    assert sampler.ticks == ticks and len(sampler.history(box.id)) == kept
    assert kept >= 2  # the window is kept for the next look


async def test_metrics_never_start_a_stopped_sandbox(service: SandboxService) -> None:
    box = await service.create(SandboxSpec(name="asleep"))
    await service.stop(box.id)
    with pytest.raises(NotRunning, match="metrics are read from a running sandbox"):
        await service.metrics(box.id)
    assert (await service.get(box.id)).state is SandboxState.STOPPED


async def test_without_cgroups_metrics_say_why(sandbench_home: Path) -> None:
    sandbench_home.mkdir(parents=True, exist_ok=True)
    cfg = Config(identity="tester", data_dir=sandbench_home)
    provider = LocalProvider(sandbench_home, owner_label=cfg.owner_label)
    provider.launcher.cgroups = CgroupManager("no such parent!")
    svc = SandboxService(provider, cfg)
    try:
        box = await svc.create(SandboxSpec(name="plain"))
        with pytest.raises(MetricsUnavailable, match=r"per-sandbox cgroups.*invalid cgroup parent name"):
            await svc.metrics(box.id)
        await svc.delete(box.id)
    finally:
        await svc.close()


def _sample(at: float, cpu: float = 1.0) -> MetricsSample:
    return MetricsSample(
        sandbox_id="s1",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        source="test",
        cpus=1,
        cpu_pct=cpu,
        memory_used=1,
        memory_cache=0,
        memory_limit=2,
        pids=1,
        pids_limit=8,
        disk_used=1,
        disk_limit=2,
        hits=LimitHits(0, 0, 0, 0.0),
        at=at,
    )


def test_the_kept_window_is_bounded_by_time_and_count() -> None:
    async def never(_sid: str) -> MetricsSample:
        raise AssertionError("not sampled")

    sampler = MetricsSampler(never, interval=1.0, keep=60.0)
    sampler.record_many(_sample(float(t)) for t in range(200))
    kept = sampler.history("s1")
    assert kept[0].at >= 199 - 60 and kept[-1].at == 199 and len(kept) <= 61
    # a burst of samples at one instant is bounded by count, not only by age
    sampler.record_many(_sample(500.0) for _ in range(1000))
    assert len(sampler.history("s1")) <= 62


def test_histories_of_unwatched_sandboxes_are_bounded() -> None:
    async def never(_sid: str) -> MetricsSample:
        raise AssertionError("not sampled")

    sampler = MetricsSampler(never, max_histories=3)
    for n in range(10):
        sampler.record(dataclasses.replace(_sample(1.0), sandbox_id=f"s{n}"))
    assert sum(1 for n in range(10) if sampler.history(f"s{n}")) == 3
