"""`sandbench serve`'s memory under a bulk download that asks for one 10 MiB file 40 times, and under commands that
print 300 MiB (issue 10 §5).

    .venv/bin/python -m bench.serve

The server runs as its own process (outside any cgroup); its peak RSS is the kernel's VmHWM from
/proc/PID/status. Prints `metric=value unit` lines:
- serve_idle_hwm_mib: the reference, the server's peak after start-up, one sandbox created and the file made.
- serve_bulk40x10_hwm_mib: its peak after streaming the 400 MiB multipart answer (bar: < 200 MiB).
- serve_bulk40x10_added_mib: the difference, what the request cost.
- serve_bulk40x10_mib_s: how fast the answer streamed to the client (information, no bar).
- serve_exec300_hwm_mib / serve_session300_hwm_mib: the peak of a fresh server after one `process.exec`, or one
  process-session command, printing 300 MiB (bar: < 200 MiB; the answer is cut at 16 MiB, the log at 8 MiB).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import aiohttp

from bench.daytona import served_sdk

COPIES = 40
MIB = 1024 * 1024


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/PID/status")


async def main() -> None:
    from daytona import CreateSandboxFromSnapshotParams

    async with served_sdk() as (client, proc, port, token):
        sb = await client.create(CreateSandboxFromSnapshotParams(name="bench-serve"), timeout=60)
        res = await sb.process.exec("head -c 10M /dev/urandom > ten.bin && sha256sum ten.bin")
        digest = res.result.split()[0]
        idle = vm_hwm_mib(proc.pid)
        url = f"http://127.0.0.1:{port}/toolbox/{sb.id}/files/bulk-download"
        headers = {"Authorization": f"Bearer {token}", "Accept": "multipart/form-data"}
        got, good = 0, 0
        t0 = time.perf_counter()
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json={"paths": ["ten.bin"] * COPIES}, headers=headers) as resp,
        ):
            resp.raise_for_status()
            reader = aiohttp.MultipartReader.from_response(resp)
            while (part := await reader.next()) is not None:
                assert isinstance(part, aiohttp.BodyPartReader)
                h = hashlib.sha256()
                while chunk := await part.read_chunk(MIB):
                    h.update(chunk)
                    got += len(chunk)
                good += h.hexdigest() == digest
        elapsed = time.perf_counter() - t0
        peak = vm_hwm_mib(proc.pid)
        assert got == COPIES * 10 * MIB and good == COPIES, (got, good)
        print(f"serve_idle_hwm_mib={idle:.1f} MiB")
        print(f"serve_bulk40x10_hwm_mib={peak:.1f} MiB")
        print(f"serve_bulk40x10_added_mib={peak - idle:.1f} MiB")
        print(f"serve_bulk40x10_mib_s={got / MIB / elapsed:.0f} MiB/s")
        await sb.delete()


PRINT_300M = "head -c 300M /dev/zero | tr '\\0' x"


async def command_peak(kind: str) -> float:
    """The peak RSS of a fresh server after one command printing 300 MiB, run as `kind` ("exec" or "session")."""
    from daytona import CreateSandboxFromSnapshotParams, SessionExecuteRequest

    async with served_sdk() as (client, proc, _port, _token):
        sb = await client.create(CreateSandboxFromSnapshotParams(name=f"bench-{kind}"), timeout=60)
        if kind == "exec":
            kept = len((await sb.process.exec(PRINT_300M)).result)
        else:
            await sb.process.create_session("s")
            kept = len(
                (await sb.process.execute_session_command("s", SessionExecuteRequest(command=PRINT_300M))).stdout
            )
        assert kept > 4 * MIB, kept  # what the server answers: it read all 300 MiB
        peak = vm_hwm_mib(proc.pid)
        await sb.delete()
        return peak


async def run_all() -> None:
    await main()
    for kind in ("exec", "session"):
        print(f"serve_{kind}300_hwm_mib={await command_peak(kind):.1f} MiB")


if __name__ == "__main__":
    asyncio.run(run_all())
