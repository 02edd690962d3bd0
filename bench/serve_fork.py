"""What the SDK's `sandbox.fork()` costs over `sandbench serve` now that it is the checkpoint service's fork (a node
of the checkpoint tree), against the route it replaced, measured in the same run: a temporary snapshot, a create
from it, the snapshot deleted (`create_snapshot` + `create(snapshot=)` + `snapshot.delete`, through the same SDK).

    .venv/bin/python -m bench.serve_fork

A fresh server; one sandbox whose workspace is FILES files / about 64 MiB (mixed sizes, random bytes), made
inside it. Medians of N alternating runs; each new sandbox is deleted before the next run. Prints:
- fork_ms: `sandbox.fork()` of the unchanged workspace (the source is checkpointed first: a metadata scan).
- snapshot_route_ms: the old route's three calls on the same workspace (the reference).
- fork_after_10_changed_ms: a fork after 10 files of the source changed.
- fork_store_added_bytes: what that fork added to the store (the 10 changed files' contents; reference:
  changed_bytes, their size).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.daytona import start_serve

N = 5
FILES = 2000
MAKE = r"""
import os, random
random.seed(7)
for i in range(2000):
    d = "tree/m%02d/p%03d" % (i % 20, i % 150)
    os.makedirs(d, exist_ok=True)
    n = 560_000 if i % 20 == 0 else random.randint(200, 12_000)
    with open("%s/f%04d.bin" % (d, i), "wb") as f:
        f.write(os.urandom(n))
"""
CHANGE = r"""
import os
for i in range(1, 11):
    p = "tree/m%02d/p%03d/f%04d.bin" % (i % 20, i % 150, i)
    with open(p, "wb") as f:
        f.write(os.urandom(8192))
print(sum(os.path.getsize("tree/m%02d/p%03d/f%04d.bin" % (i % 20, i % 150, i)) for i in range(1, 11)))
"""


def objects_bytes(home: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(home / "store" / "objects"):
        for f in files:
            total += os.lstat(os.path.join(root, f)).st_size
    return total


async def main() -> None:
    from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams
    from daytona import DaytonaConfig as SdkConfig

    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-", dir="/tmp"))
    os.chmod(base, 0o711)
    os.environ["NO_PROXY"] = "127.0.0.1"
    proc, port, token = start_serve(base)
    client = AsyncDaytona(SdkConfig(api_key=token, api_url=f"http://127.0.0.1:{port}/api", target="local"))
    try:
        sb = await client.create(CreateSandboxFromSnapshotParams(name="bench-src"), timeout=120)
        await sb.fs.upload_file(MAKE.encode(), "make.py")
        made = await sb.process.exec("python3 make.py && rm make.py", timeout=600)
        assert made.exit_code == 0, made.result

        async def fork() -> float:
            t0 = time.perf_counter()
            twin = await sb.fork(name=f"bench-fork-{secrets.token_hex(3)}", timeout=600)
            took = (time.perf_counter() - t0) * 1000
            await twin.delete()
            return took

        async def snapshot_route() -> float:
            snap = f"bench-snap-{secrets.token_hex(3)}"
            t0 = time.perf_counter()
            await sb.create_snapshot(snap, timeout=600)
            copy = await client.create(CreateSandboxFromSnapshotParams(name=snap, snapshot=snap), timeout=600)
            await client.snapshot.delete(snap)
            took = (time.perf_counter() - t0) * 1000
            await copy.delete()
            return took

        await fork()  # warm: the source's first checkpoint stores every content once
        await snapshot_route()
        forks, routes = [], []
        for _ in range(N):
            forks.append(await fork())
            routes.append(await snapshot_route())
        print(f"fork_ms={statistics.median(forks):.0f} ms", flush=True)
        print(f"snapshot_route_ms={statistics.median(routes):.0f} ms", flush=True)

        changed_after, added = [], []
        for _ in range(3):
            changed = await sb.process.exec(shlex.join(["python3", "-c", CHANGE]))
            assert changed.exit_code == 0, changed.result
            changed_bytes = int(changed.result.strip())
            before = objects_bytes(base / "home")
            changed_after.append(await fork())
            added.append(objects_bytes(base / "home") - before)
        print(f"fork_after_10_changed_ms={statistics.median(changed_after):.0f} ms", flush=True)
        print(f"fork_store_added_bytes={statistics.median(added):.0f} B", flush=True)
        print(f"changed_bytes={changed_bytes} B", flush=True)
        await sb.delete()
    finally:
        await client.close()
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
