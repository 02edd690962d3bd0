"""What `sandbox.get_metrics_latest()` costs against `sandbench serve` (issue 12), beside a `process.exec` of `true`.

    .venv/bin/python -m bench.serve_metrics

The unmodified SDK's async client against a fresh server with one sandbox. Prints `metric=value unit` lines:
- serve_exec_true_ms: the reference, the median of 10 `process.exec("true")` round trips.
- serve_metrics_first_ms: the first `get_metrics_latest()` of a sandbox: the server reads the cgroup twice, 0.2 s
  apart, for its CPU share (bar: < 500 ms).
- serve_metrics_polled_ms: the median of 10 calls one second apart, as a dashboard polls: each reuses the previous
  reading as the start of its window, so it waits for nothing (bar: < 50 ms).
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.daytona import served_sdk


async def _ms(call: object) -> float:
    started = time.perf_counter()
    await call  # type: ignore[misc]
    return (time.perf_counter() - started) * 1000


async def main() -> None:
    from daytona import CreateSandboxFromSnapshotParams

    async with served_sdk() as (client, _proc, _port, _token):
        sb = await client.create(CreateSandboxFromSnapshotParams(name="bench-metrics"), timeout=60)
        await sb.process.exec("true")  # its cgroup exists from here on
        execs = [await _ms(sb.process.exec("true")) for _ in range(10)]
        first = await _ms(sb.get_metrics_latest())
        polled = []
        for _ in range(10):
            await asyncio.sleep(1.0)
            polled.append(await _ms(sb.get_metrics_latest()))
        await sb.delete()
    print(f"serve_exec_true_ms={statistics.median(execs):.1f} ms")
    print(f"serve_metrics_first_ms={first:.1f} ms")
    print(f"serve_metrics_polled_ms={statistics.median(polled):.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
