"""Checkpoints of a Daytona sandbox (scanned inside it, services/checkpoints/remote.py) against the same on a local
sandbox (scanned from the host), same tree, same run: 2,000 files in 40 folders, 10 of them changed per round.

    .venv/bin/python -m bench.checkpoint_daytona

A `sandbench serve` on 127.0.0.1 plays Daytona (the real SDK drives it). Prints `metric=value unit` (medians of
ROUNDS), for `local` and `daytona`:
- first_checkpoint_ms_*: the first checkpoint (everything hashed; on Daytona every file is also fetched)
- noop_checkpoint_ms_*: nothing changed since the last one
- checkpoint_10_ms_*: after 10 files changed; and checkpoint_10_ratio = daytona / local
- changes_10_ms_*: `changes` of that state
- restore_10_ms_*: restore of the 10 files (with its checkpoint of the current state first)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.daytona import IDENTITY, start_serve
from services.config import Config, DaytonaConfig
from services.daytona import DaytonaProvider
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService

FILES = 2000
ROUNDS = 5
MAKE = (
    "import os\n"
    "for d in range(40):\n"
    "    os.makedirs(f'pkg{d}/lib', exist_ok=True)\n"
    "    for i in range(50):\n"
    "        open(f'pkg{d}/lib/m{i}.js', 'w').write(f'// {d} {i}\\n' + 'x = 1;\\n' * (20 + i * 7))\n"
)


def emit(metric: str, value: float, unit: str) -> None:
    print(f"{metric}={value:.1f} {unit}", flush=True)


async def timed(coro: object) -> float:
    t0 = time.perf_counter()
    await coro  # type: ignore[misc]
    return (time.perf_counter() - t0) * 1000


async def sh(svc: SandboxService, box: SandboxInfo, argv: list[str]) -> None:
    r = await svc.exec(box.id, argv, timeout=300)
    assert r.exit_code == 0, r.stdout


async def measure(svc: SandboxService, box: SandboxInfo, tag: str) -> dict[str, float]:
    ck = svc.checkpoints
    await sh(svc, box, ["python3", "-c", MAKE])
    await asyncio.sleep(0.1)  # past the racy window: metadata can vouch for the files
    first = await timed(ck.create(box.id, "first"))
    noop = [await timed(ck.create(box.id)) for _ in range(ROUNDS)]
    ten, changes, restore = [], [], []
    for r in range(ROUNDS):
        at = (await ck.list_checkpoints(box.id))[1]
        assert at is not None
        edit = [f"pkg{d}/lib/m{r}.js" for d in range(10)]
        await sh(svc, box, ["sh", "-c", 'for f in "$@"; do echo "// round" >> "$f"; done', "sh", *edit])
        await asyncio.sleep(0.1)
        changes.append(await timed(ck.changes(box.id)))
        ten.append(await timed(ck.create(box.id, f"round {r}")))
        restore.append(await timed(ck.restore(box.id, at, edit)))
        await ck.create(box.id)
    out = {
        "first_checkpoint_ms": first,
        "noop_checkpoint_ms": statistics.median(noop),
        "checkpoint_10_ms": statistics.median(ten),
        "changes_10_ms": statistics.median(changes),
        "restore_10_ms": statistics.median(restore),
    }
    for k, v in out.items():
        emit(f"{k}_{tag}", v, "ms")
    return out


async def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-", dir="/tmp"))
    os.chmod(base, 0o711)
    os.environ["NO_PROXY"] = "127.0.0.1"
    proc, port, token = start_serve(base)
    api = f"http://127.0.0.1:{port}/api"
    lhome, dhome = base / "local", base / "dstore"
    lcfg = Config(identity=IDENTITY, data_dir=lhome)
    dcfg = Config(identity=IDENTITY, data_dir=dhome, daytona=DaytonaConfig(api_key=token, api_url=api, target="local"))
    local = SandboxService(LocalProvider(lhome), lcfg)
    remote = SandboxService(DaytonaProvider(dcfg), dcfg)
    try:
        lbox = await local.create(SandboxSpec(name="bench"))
        dbox = await remote.create(SandboxSpec(name="bench"))
        lo = await measure(local, lbox, "local")
        do = await measure(remote, dbox, "daytona")
        print(f"files={FILES} count")
        for k in ("checkpoint_10_ms", "changes_10_ms", "restore_10_ms"):
            print(f"{k.removesuffix('_ms')}_ratio={do[k] / lo[k]:.1f} x (daytona / local)")
    finally:
        await remote.close()
        await local.close()
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
