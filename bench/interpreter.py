"""The code interpreter of `sandbench serve` through the unmodified SDK (issue 12): what a context costs to start,
what one `run_code` costs, and how fast output streams.

    .venv/bin/python -m bench.interpreter

Prints `metric=value unit` lines:
- interp_first_run_ms: the first `run_code` of a sandbox (its default context's process starts).
- interp_create_context_ms: `create_context()` (a new process, ready to run).
- interp_round_trip_p50_ms / _p99_ms: `run_code("x += 1")` in a warm context, one WebSocket each.
- interp_exec_p50_ms: `process.exec("true")` on the same server, for comparison (one bwrap process each).
- interp_lines_per_s: a loop printing 200,000 short lines, received whole by the client.
"""

from __future__ import annotations

import asyncio
import time

from bench.daytona import p, served_sdk

ROUNDS = 200
LINES = 200_000


async def main() -> None:
    from daytona import CreateSandboxFromSnapshotParams

    async with served_sdk() as (client, _proc, _port, _token):
        sb = await client.create(CreateSandboxFromSnapshotParams(name="bench-interp"), timeout=60)
        ci = sb.code_interpreter
        t0 = time.perf_counter()
        await ci.run_code("x = 0")
        print(f"interp_first_run_ms={(time.perf_counter() - t0) * 1000:.1f} ms")
        t0 = time.perf_counter()
        ctx = await ci.create_context()
        print(f"interp_create_context_ms={(time.perf_counter() - t0) * 1000:.1f} ms")
        await ci.delete_context(ctx)
        runs, execs = [], []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            await ci.run_code("x += 1")
            runs.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            await sb.process.exec("true")
            execs.append((time.perf_counter() - t0) * 1000)
        print(f"interp_round_trip_p50_ms={p(runs, 0.5):.2f} ms")
        print(f"interp_round_trip_p99_ms={p(runs, 0.99):.2f} ms")
        print(f"interp_exec_p50_ms={p(execs, 0.5):.2f} ms")
        t0 = time.perf_counter()
        result = await ci.run_code(f"for i in range({LINES}):\n    print(i)\n")
        took = time.perf_counter() - t0
        assert result.stdout.count("\n") == LINES, "output was lost"
        print(f"interp_lines_per_s={LINES / took:.0f} lines/s")
        await sb.delete()


if __name__ == "__main__":
    asyncio.run(main())
