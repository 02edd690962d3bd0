"""What a named volume costs over `sandbench serve` (issue 12): an exec in a sandbox that mounts volumes, and a
file-API round trip into a volume, each against the same call in the same run without volumes.

    .venv/bin/python -m bench.volumes

The unmodified SDK's async client against a fresh server. Prints `metric=value unit` lines (medians of N calls):
- exec_plain_ms: `process.exec("true")` in a sandbox with no volume (the reference).
- exec_1vol_ms / exec_8vol_ms: the same in a sandbox mounting 1 / 8 volumes (each exec binds them again).
- file_plain_ms: upload then download of 4 KiB in the workspace (the reference).
- file_vol_ms: the same at a path under a volume's mount point (routed into the volume's folder).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.daytona import served_sdk

N = 30


async def median_ms(call: Callable[[], Awaitable[Any]]) -> float:
    await call()  # warm
    times = []
    for _ in range(N):
        t0 = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def main() -> None:
    from daytona import CreateSandboxFromSnapshotParams, VolumeMount

    async with served_sdk() as (client, _proc, _port, _token):
        vols = [await client.volume.create(f"bench-{i}") for i in range(8)]

        async def sandbox(name: str, n: int) -> Any:
            mounts = [VolumeMount(volume_id=v.id, mount_path=f"/home/daytona/v{i}") for i, v in enumerate(vols[:n])]
            return await client.create(CreateSandboxFromSnapshotParams(name=name, volumes=mounts), timeout=60)

        plain, one, eight = await sandbox("bench-plain", 0), await sandbox("bench-1", 1), await sandbox("bench-8", 8)
        for name, sb in (("exec_plain_ms", plain), ("exec_1vol_ms", one), ("exec_8vol_ms", eight)):
            print(f"{name}={await median_ms(lambda sb=sb: sb.process.exec('true')):.1f} ms", flush=True)
        data = b"x" * 4096

        async def round_trip(sb: Any, path: str) -> None:
            await sb.fs.upload_file(data, path)
            assert await sb.fs.download_file(path) == data

        plain_ms = await median_ms(lambda: round_trip(one, "/home/daytona/plain.bin"))
        vol_ms = await median_ms(lambda: round_trip(one, "/home/daytona/v0/in-volume.bin"))
        print(f"file_plain_ms={plain_ms:.1f} ms", flush=True)
        print(f"file_vol_ms={vol_ms:.1f} ms", flush=True)
        for sb in (plain, one, eight):
            await sb.delete()


if __name__ == "__main__":
    asyncio.run(main())
