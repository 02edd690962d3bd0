"""The Daytona path's overhead, measured in one run against `sandbench serve` started on 127.0.0.1.

    .venv/bin/python -m bench.daytona

Prints `metric=value unit` lines:
- read4k_{local,daytona}_p50 and read4k_added_p50: a 4 KiB file read through DaytonaProvider → SDK → serve against
  the same read on LocalProvider directly (bar: added <= 5 ms at p50).
- exec_true_{local,daytona}_p50 and exec_true_added_p50: `true` the same two ways (bar: added <= 5 ms at p50).
- pty_echo_p50 / pty_echo_p99: one keystroke to its echo through the SDK's PTY WebSocket (bar: <= 3 ms / <= 20 ms).
- create_first_exec_p50: `AsyncDaytona.create()` then `process.exec("true")` on the new sandbox (bar: <= 500 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from services.config import Config, DaytonaConfig
from services.daytona import DaytonaProvider
from services.local.provider import LocalProvider
from services.models import SandboxSpec

N = 60
N_KEYS = 200
N_CREATE = 8
IDENTITY = "bench"


def p(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def paired(n: int, a: object, b: object) -> tuple[list[float], list[float]]:
    """Time `a` and `b` alternately, so drift in the machine's load hits both sides alike."""
    ta, tb = [], []
    for _ in range(n):
        for fn, out in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            await fn()  # type: ignore[operator]
            out.append((time.perf_counter() - t0) * 1000)
    return ta, tb


def start_serve(base: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    home = base / "home"
    home.mkdir(mode=0o711)
    (base / "config.toml").write_text(f'identity = "{IDENTITY}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "SANDBENCH_"))}
    env.update(SANDBENCH_HOME=str(home), SANDBENCH_CONFIG=str(base / "config.toml"), NO_PROXY="127.0.0.1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.server", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(base / "serve.log", "ab"),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    port = int(line.rsplit(":", 1)[1].split("/")[0])
    return proc, port, (home / "serve-token").read_text().strip()


@contextlib.asynccontextmanager
async def served_sdk() -> AsyncIterator[tuple[Any, subprocess.Popen[bytes], int, str]]:
    """A fresh `sandbench serve` on a private home and the unmodified SDK's async client pointed at it:
    (client, server process, port, token); both are ended and the home removed afterwards."""
    from daytona import AsyncDaytona
    from daytona import DaytonaConfig as SdkConfig

    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-", dir="/tmp"))
    os.chmod(base, 0o711)
    os.environ["NO_PROXY"] = "127.0.0.1"
    proc, port, token = start_serve(base)
    client = AsyncDaytona(SdkConfig(api_key=token, api_url=f"http://127.0.0.1:{port}/api", target="local"))
    try:
        yield client, proc, port, token
    finally:
        await client.close()
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(base, ignore_errors=True)


async def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-", dir="/tmp"))
    os.chmod(base, 0o711)
    os.environ["NO_PROXY"] = "127.0.0.1"
    proc, port, token = start_serve(base)
    api = f"http://127.0.0.1:{port}/api"
    local_home = base / "local"
    local = LocalProvider(local_home)
    remote = DaytonaProvider(
        Config(identity=IDENTITY, data_dir=local_home, daytona=DaytonaConfig(api_key=token, api_url=api))
    )
    try:
        lsb = await local.create(SandboxSpec(name="bench"), IDENTITY)
        rsb = await remote.create(SandboxSpec(name="bench"), IDENTITY)
        blob = os.urandom(4096)
        await local.write_file(lsb.id, "f.bin", blob)
        await remote.write_file(rsb.id, "f.bin", blob)
        for prov, sid in ((local, lsb.id), (remote, rsb.id)):  # warm up
            await prov.read_file(sid, "f.bin", limit=1 << 20)
            await prov.exec(sid, ["true"])

        r_local, r_remote = await paired(
            N,
            lambda: local.read_file(lsb.id, "f.bin", limit=1 << 20),
            lambda: remote.read_file(rsb.id, "f.bin", limit=1 << 20),
        )
        e_local, e_remote = await paired(N, lambda: local.exec(lsb.id, ["true"]), lambda: remote.exec(rsb.id, ["true"]))
        rl, rr = statistics.median(r_local), statistics.median(r_remote)
        el, er = statistics.median(e_local), statistics.median(e_remote)
        print(f"read4k_local_p50={rl:.2f} ms")
        print(f"read4k_daytona_p50={rr:.2f} ms")
        print(f"read4k_added_p50={rr - rl:.2f} ms (bar <= 5)")
        print(f"exec_true_local_p50={el:.2f} ms")
        print(f"exec_true_daytona_p50={er:.2f} ms")
        print(f"exec_true_added_p50={er - el:.2f} ms (bar <= 5)")

        term = await remote.open_terminal(rsb.id, 80, 24)
        seen = bytearray()
        got = asyncio.Event()

        async def reader() -> None:
            async for chunk in term.output():
                seen.extend(chunk)
                got.set()

        task = asyncio.ensure_future(reader())
        await term.write(b"stty -echoctl; PS1='$ '\n")
        await asyncio.sleep(0.5)
        echoes = []
        for i in range(N_KEYS):
            if i and i % 50 == 0:
                await term.write(b"\x15")  # Ctrl-U: keep the line short
                await asyncio.sleep(0.05)
            seen.clear()
            got.clear()
            t0 = time.perf_counter()
            await term.write(b"x")
            while b"x" not in seen:
                await asyncio.wait_for(got.wait(), 5)
                got.clear()
            echoes.append((time.perf_counter() - t0) * 1000)
        await term.close()
        task.cancel()
        print(f"pty_echo_p50={p(echoes, 0.5):.2f} ms (bar <= 3)")
        print(f"pty_echo_p99={p(echoes, 0.99):.2f} ms (bar <= 20)")

        from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams
        from daytona import DaytonaConfig as SdkConfig

        client = AsyncDaytona(SdkConfig(api_key=token, api_url=api, target="local"))
        firsts = []
        for i in range(N_CREATE):
            t0 = time.perf_counter()
            sb = await client.create(CreateSandboxFromSnapshotParams(name=f"c{i}"))
            r = await sb.process.exec("true")
            firsts.append((time.perf_counter() - t0) * 1000)
            assert r.exit_code == 0
            await sb.delete()
        await client.close()
        print(f"create_first_exec_p50={statistics.median(firsts):.1f} ms (bar <= 500)")
        print(f"create_first_exec_max={max(firsts):.1f} ms")
    finally:
        await remote.close()
        await local.close()
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
