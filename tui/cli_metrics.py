"""`sandbench metrics NAME [--json]`: a sandbox's latest sample, its limits and the limits it ran into
(docs/cli.md, "metrics").

Thin: the measuring is `SandboxService.metrics` (services/metrics.py), the same the app and `sandbench serve` use;
this module turns a sample into lines of text or the stable `--json` shape (`MetricsSample.to_json`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from services.metrics import MetricsSample
from services.text import safe_text
from services.units import BINARY, byte_size


def add_parsers(sub: Any) -> None:
    m = sub.add_parser("metrics", help="a running sandbox's CPU, memory, pids and disk now, its limits and limit hits")
    m.add_argument("name")
    m.add_argument("--json", action="store_true")
    m.set_defaults(verb_run=dispatch)


def _size(n: int | None) -> str:
    return "unavailable" if n is None else byte_size(n, BINARY, " ")


def _of(used: str, limit: str | None) -> str:
    return f"{used} of {limit}" if limit else used


def _count(n: int | None) -> str:
    return "unavailable" if n is None else str(n)


def lines(name: str, m: MetricsSample) -> list[str]:
    """The text `sandbench metrics` prints (names from the sandbox escaped)."""
    cpu = "unavailable" if m.cpu_pct is None else f"{m.cpu_pct:.1f}%"
    h = m.hits
    throttled = _count(h.cpu_throttled)
    if h.cpu_throttled and h.cpu_throttled_seconds is not None:
        throttled += f" periods ({h.cpu_throttled_seconds:.1f} s waited)"
    out = [
        f"{safe_text(name)}  {m.time.isoformat(timespec='seconds')}  ({m.source})",
        f"cpu     {cpu} of {m.cpus} cpu{'s' if m.cpus != 1 else ''}",
        f"memory  {_of(_size(m.memory_used), _size(m.memory_limit) if m.memory_limit else None)}"
        + (f"  (+ {_size(m.memory_cache)} page cache)" if m.memory_cache else ""),
        f"pids    {_of(_count(m.pids), str(m.pids_limit) if m.pids_limit else None)}",
        f"disk    {_of(_size(m.disk_used), _size(m.disk_limit) if m.disk_limit else None)}",
        "limit hits:",
        f"  oom kills           {_count(h.oom_kills)}",
        f"  pids cap reached    {_count(h.pids_refused)}" + (" forks refused" if h.pids_refused else ""),
        f"  cpu throttled       {throttled}",
    ]
    out += [f"unavailable: {safe_text(why)}" for why in m.unavailable]
    return out


async def dispatch(args: argparse.Namespace, svc: Any, info: Any) -> int:
    sample = await svc.metrics(info.id)
    if args.json:
        print(json.dumps({"name": info.name, **sample.to_json()}, indent=2))
    else:
        print("\n".join(lines(info.name, sample)))
    return 0
