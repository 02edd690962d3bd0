"""Where the suite's CPU goes: `pytest -p tests.cpu_profile -n 0 ...` records, per test (setup + call + teardown),
the user+sys CPU of this process and of its reaped children (`getrusage` RUSAGE_SELF + RUSAGE_CHILDREN) and the
wall time, then prints the heaviest tests and files and writes them all to $SANDBENCH_TEST_CPU_OUT (TSV) if set.

Children count only once reaped (waited for): a daemon a test starts and another test reaps is billed to the
later one, and a double-forked host process that nobody waits for is not billed at all. Module- and session-scoped
fixtures are billed to the first test that uses them. Run it on one worker (`-n 0`): under xdist each worker
prints nothing (the controller has no items) but still writes the TSV with the worker's name appended.
"""

from __future__ import annotations

import os
import resource
import time
from collections import defaultdict
from collections.abc import Iterator

import pytest

_rows: list[tuple[str, float, float, float]] = []  # nodeid, cpu self, cpu children, wall


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    s0, c0, w0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.monotonic()
    yield
    s1, c1, w1 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.monotonic()
    _rows.append((item.nodeid, s1 - s0, c1 - c0, w1 - w0))


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("SANDBENCH_TEST_CPU_OUT")
    if out and _rows:
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        path = f"{out}.{worker}" if worker else out
        with open(path, "w") as f:
            for nodeid, own, kids, wall in _rows:
                f.write(f"{nodeid}\t{own:.3f}\t{kids:.3f}\t{wall:.3f}\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _rows:
        return
    tr = terminalreporter
    own = sum(r[1] for r in _rows)
    kids = sum(r[2] for r in _rows)
    wall = sum(r[3] for r in _rows)
    tr.write_sep("=", f"CPU per test: self {own:.1f} s + children {kids:.1f} s, wall {wall:.1f} s")
    for nodeid, o, k, w in sorted(_rows, key=lambda r: -(r[1] + r[2]))[:40]:
        tr.write_line(f"{o + k:7.2f} s cpu ({o:6.2f} self {k:6.2f} kids) {w:7.2f} s wall  {nodeid}")
    files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for nodeid, o, k, w in _rows:
        acc = files[nodeid.split("::")[0]]
        acc[0] += o
        acc[1] += k
        acc[2] += w
        acc[3] += 1
    tr.write_sep("-", "CPU per file")
    for name, (o, k, w, n) in sorted(files.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:40]:
        tr.write_line(f"{o + k:7.2f} s cpu ({o:6.2f} self {k:6.2f} kids) {w:7.2f} s wall {int(n):4d} tests  {name}")
