"""Local terminals in the session host vs in the app's own process: `python bench/terminal_host.py` (`--quick`).

Both run a real sandboxed bash (bwrap) on a real PTY through the real `SandboxService`; the only difference is
`LocalProvider(session_host=...)`: in-process (`LocalTerminal` read by this process, as before issue 11) or held by
the session host and reached over its unix socket (`HostTerminal`). Printing `metric=value unit` lines:

- keystroke echo: one key written → bash's readline echoes it → the bytes arrive here (p50/p99/mean, ms);
- drain of `seq 1 N` (MB/s), so the extra hop's cost on a flood is visible too;
- the first terminal's open time (with the host: including starting the host process).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.config import Config
from services.local.host_client import stop_host
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService


async def _until(it: object, buf: bytearray, needle: bytes) -> None:
    async for chunk in it:  # type: ignore[attr-defined]
        buf.extend(chunk)
        if needle in buf:
            return


async def run(hosted: bool, keys: int, seq_n: int) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="sbbench-host-", dir="/tmp")) / "home"
    cfg = Config(identity="bench", data_dir=home)
    svc = SandboxService(LocalProvider(home, owner_label=cfg.owner_label, session_host=hosted), cfg)
    out: dict[str, float] = {}
    try:
        box = await svc.create(SandboxSpec(name="bench"))
        t0 = time.perf_counter()
        term = await svc.open_terminal(box.id, 80, 24)
        out["open_ms"] = (time.perf_counter() - t0) * 1000
        stream = term.output().__aiter__()
        buf = bytearray()
        await term.write(b"PS1='$ '; echo rea''dy\n")
        await asyncio.wait_for(_until(stream, buf, b"ready"), 30)
        await asyncio.sleep(0.3)
        samples = []
        for i in range(keys):
            if i and i % 50 == 0:
                await term.write(b"\x15")  # ctrl+u: keep the line short (not measured)
                await asyncio.sleep(0.02)
            ch = b"abcdefghij"[i % 10 : i % 10 + 1]
            buf.clear()
            t0 = time.perf_counter()
            await term.write(ch)
            await asyncio.wait_for(_until(stream, buf, ch), 10)
            samples.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.002)
        samples.sort()
        out["echo_p50_ms"] = samples[len(samples) // 2]
        out["echo_p99_ms"] = samples[min(len(samples) - 1, int(0.99 * len(samples)))]
        out["echo_mean_ms"] = statistics.mean(samples)
        await term.write(b"\x15stty -echo; seq 1 %d; echo DO''NE\n" % seq_n)
        buf.clear()
        t0 = time.perf_counter()
        size = 0
        async for chunk in stream:
            size += len(chunk)
            buf.extend(chunk[-16:])
            del buf[:-32]
            if b"DONE" in buf:
                break
        out["seq_mb_s"] = size / 1e6 / (time.perf_counter() - t0)
        await term.close()
    finally:
        await svc.close()
        stop_host(home)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    keys, seq_n = (200, 200_000) if args.quick else (1000, 1_000_000)
    for label, hosted in (("in_process", False), ("session_host", True)):
        got = asyncio.run(run(hosted, keys, seq_n))
        print(f"terminal_host.{label}.open={got['open_ms']:.0f} ms")
        print(f"terminal_host.{label}.echo.p50={got['echo_p50_ms']:.2f} ms")
        print(f"terminal_host.{label}.echo.p99={got['echo_p99_ms']:.2f} ms")
        print(f"terminal_host.{label}.echo.mean={got['echo_mean_ms']:.2f} ms ({keys} keys)")
        print(f"terminal_host.{label}.seq_drain={got['seq_mb_s']:.1f} MB/s (seq 1 {seq_n})")


if __name__ == "__main__":
    main()
