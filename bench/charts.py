"""The charts of `code_run` (issue 12): what the matplotlib hook costs a run, through the unmodified SDK against
a real `sandbench serve`.

    .venv/bin/python -m bench.charts

Prints `metric=value unit` lines, each with its reference measured in the same run on the same server:
- charts_print_p50_ms: `code_run("print(1)")` (every Python run carries the hook);
  charts_print_ref_p50_ms: `exec("python3 -c 'print(1)'")`, the same program without it.
- charts_line_p50_ms: a 1,000-point line chart shown, so one chart (PNG and description) comes back;
  charts_line_ref_p50_ms: the same figure only saved to PNG in memory through `exec` (rendering, no description).
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.daytona import p, served_sdk

ROUNDS = 30
CHART_ROUNDS = 10
FIGURE = (
    "import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
    "plt.plot(range(1000), [i * i for i in range(1000)])\nplt.title('squares')\n"
)
SHOWN = FIGURE + "plt.show()\n"
SAVED = FIGURE + "import io\nplt.savefig(io.BytesIO(), format='png', bbox_inches='tight', dpi=100)\n"


async def timed(rounds: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def main() -> None:
    from daytona import CreateSandboxFromSnapshotParams

    async with served_sdk() as (client, _proc, _port, _token):
        sb = await client.create(CreateSandboxFromSnapshotParams(name="bench-charts"), timeout=60)
        proc = sb.process
        shown = await proc.code_run(SHOWN)
        assert len(shown.artifacts.charts) == 1, shown.result  # the hook is on, matplotlib is there
        print(f"charts_print_p50_ms={p(await timed(ROUNDS, lambda: proc.code_run('print(1)')), 0.5):.1f} ms")
        plain = "python3 -c " + shlex.quote("print(1)")
        print(f"charts_print_ref_p50_ms={p(await timed(ROUNDS, lambda: proc.exec(plain)), 0.5):.1f} ms")
        print(f"charts_line_p50_ms={p(await timed(CHART_ROUNDS, lambda: proc.code_run(SHOWN)), 0.5):.1f} ms")
        saved = "python3 -c " + shlex.quote(SAVED)
        print(f"charts_line_ref_p50_ms={p(await timed(CHART_ROUNDS, lambda: proc.exec(saved)), 0.5):.1f} ms")
        await sb.delete()


if __name__ == "__main__":
    asyncio.run(main())
