"""A local sandbox's metrics read from its cgroup (issue 13 §3): use, limits, and the limits it ran into.

cgroup v2 (one directory):
- CPU `cpu.stat` usage_usec; throttling `cpu.stat` nr_throttled / throttled_usec;
- memory `memory.current` less the page cache (`memory.stat` file), limit `memory.max`, OOM kills
  `memory.events` oom_kill;
- pids `pids.current`, `pids.max`, forks refused at the cap `pids.events` max.

cgroup v1 (a directory per controller), the same facts from the older files: `cpuacct.usage`, `cpu.stat`
nr_throttled / throttled_time (ns), `memory.usage_in_bytes` less `memory.stat` total_cache,
`memory.limit_in_bytes`, `memory.oom_control` oom_kill (Linux 4.13+), `pids.current`, `pids.max`, `pids.events`
max. A file the kernel does not offer leaves its figure `None`, named in `unavailable`.

Each file is a few hundred bytes the kernel formats on read: read with one `os.read`, no buffering, on the
caller's thread (microseconds; a thread hop would cost more than the read — see bench/metrics.py).
"""

from __future__ import annotations

import os

from services.local.cgroups import Cgroup
from services.metrics import LimitHits, MetricsReading

_READ = 64 * 1024  # memory.stat is the largest file read, ~1.5 KiB


def _raw(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, _READ).decode("ascii", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _int(path: str) -> int | None:
    raw = _raw(path)
    if raw is None:
        return None
    raw = raw.strip()
    if raw == "max":
        return None  # no limit
    try:
        return int(raw)
    except ValueError:
        return None


def _keyed(path: str) -> dict[str, int] | None:
    raw = _raw(path)
    if raw is None:
        return None
    out: dict[str, int] = {}
    for line in raw.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def _get(table: dict[str, int] | None, key: str) -> int | None:
    return None if table is None else table.get(key)


V1_UNLIMITED = 1 << 62  # v1 writes "no limit" as a huge page-aligned number


def read(cg: Cgroup | None, *, version: int, cpus: int, memory_limit: int, pids_limit: int) -> MetricsReading:
    """The reading of `cg`; `None` (nothing run yet, so no cgroup yet): zero use, no hits, the configured limits."""
    if cg is None:
        return MetricsReading(
            cpus=cpus,
            source=f"cgroup v{version}",
            cpu_ns=0,
            memory_used=0,
            memory_cache=0,
            memory_limit=memory_limit,
            pids=0,
            pids_limit=pids_limit,
            hits=LimitHits(0, 0, 0, 0.0),
        )
    return _read_v2(cg, cpus) if cg.version == 2 else _read_v1(cg, cpus)


def _read_v2(cg: Cgroup, cpus: int) -> MetricsReading:
    d = str(cg.dirs["unified"])
    cpu = _keyed(f"{d}/cpu.stat")
    mem = _int(f"{d}/memory.current")
    cache = _get(_keyed(f"{d}/memory.stat"), "file")
    events = _keyed(f"{d}/memory.events")
    pid_events = _keyed(f"{d}/pids.events")
    usage_us, throttled_us = _get(cpu, "usage_usec"), _get(cpu, "throttled_usec")
    hits = LimitHits(
        oom_kills=_get(events, "oom_kill"),
        pids_refused=_get(pid_events, "max"),
        cpu_throttled=_get(cpu, "nr_throttled"),
        cpu_throttled_seconds=None if throttled_us is None else throttled_us / 1e6,
    )
    return _reading(
        "cgroup v2",
        cpus,
        cpu_ns=None if usage_us is None else usage_us * 1000,
        memory=mem,
        cache=cache,
        memory_limit=_int(f"{d}/memory.max"),
        pids=_int(f"{d}/pids.current"),
        pids_limit=_int(f"{d}/pids.max"),
        hits=hits,
    )


def _read_v1(cg: Cgroup, cpus: int) -> MetricsReading:
    mem_d, pids_d = cg.dirs.get("memory"), cg.dirs.get("pids")
    cpu_d, acct_d = cg.dirs.get("cpu"), cg.dirs.get("cpuacct")
    stat = _keyed(f"{mem_d}/memory.stat") if mem_d else None
    cache = _get(stat, "total_cache")
    if cache is None:
        cache = _get(stat, "cache")
    cpu = _keyed(f"{cpu_d}/cpu.stat") if cpu_d else None
    throttled_ns = _get(cpu, "throttled_time")
    limit = _int(f"{mem_d}/memory.limit_in_bytes") if mem_d else None
    hits = LimitHits(
        oom_kills=_get(_keyed(f"{mem_d}/memory.oom_control"), "oom_kill") if mem_d else None,
        pids_refused=_get(_keyed(f"{pids_d}/pids.events"), "max") if pids_d else None,
        cpu_throttled=_get(cpu, "nr_throttled"),
        cpu_throttled_seconds=None if throttled_ns is None else throttled_ns / 1e9,
    )
    return _reading(
        "cgroup v1",
        cpus,
        cpu_ns=_int(f"{acct_d}/cpuacct.usage") if acct_d else None,
        memory=_int(f"{mem_d}/memory.usage_in_bytes") if mem_d else None,
        cache=cache,
        memory_limit=None if limit is not None and limit >= V1_UNLIMITED else limit,
        pids=_int(f"{pids_d}/pids.current") if pids_d else None,
        pids_limit=_int(f"{pids_d}/pids.max") if pids_d else None,
        hits=hits,
    )


def _reading(
    source: str,
    cpus: int,
    *,
    cpu_ns: int | None,
    memory: int | None,
    cache: int | None,
    memory_limit: int | None,
    pids: int | None,
    pids_limit: int | None,
    hits: LimitHits,
) -> MetricsReading:
    cache = None if cache is None or memory is None else min(cache, memory)
    missing = [
        ("cpu", cpu_ns is None, "no CPU accounting in this cgroup hierarchy (v1 without cpuacct)"),
        ("memory", memory is None, "no memory accounting in this cgroup hierarchy"),
        ("pids", pids is None, "no pids accounting in this cgroup hierarchy"),
        ("oom kills", hits.oom_kills is None, "this kernel does not count OOM kills per cgroup"),
        ("pids cap hits", hits.pids_refused is None, "this kernel does not count forks refused at the pids cap"),
        ("cpu throttling", hits.cpu_throttled is None, "this cgroup hierarchy does not count CPU throttling"),
    ]
    return MetricsReading(
        cpus=cpus,
        source=source,
        cpu_ns=cpu_ns,
        memory_used=None if memory is None else memory - (cache or 0),
        memory_cache=cache,
        memory_limit=memory_limit,
        pids=pids,
        pids_limit=pids_limit,
        hits=hits,
        unavailable=tuple(f"{what}: {why}" for what, gone, why in missing if gone),
    )
