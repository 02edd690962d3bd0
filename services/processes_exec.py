"""Processes and ports of a sandbox the host cannot see into (Daytona): a fixed reader run inside it by `exec`.

The reader is a constant Python program (never built from data; its only arguments are integers we chose) that
reads /proc inside the sandbox and prints one JSON object: clock facts, each process's raw `stat`, real uid, user
name and `cmdline` (base64: any bytes survive), each network namespace's socket tables once, and which process
holds each listening socket. The host parses it with the same parsers as the local provider's /proc
(services/proc_parse.py), bounded (`OUTPUT_MAX`, `PIDS_MAX`) and total: everything in it is the sandbox's word,
good for display only. The reader leaves itself and the shell that runs it out of the list.

Signals go the same way (`KILL_PROGRAM`): the reader checks the process's start time first, so a pid that was
reused since the listing is never signalled.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from services.errors import PermissionDenied, ProviderError
from services.models import ExecResult
from services.proc_parse import ProcessGone, ProcSample, ProcTable, Socket, parse_net_table, sample_from

log = logging.getLogger(__name__)

OUTPUT_MAX = 8 * 1024 * 1024
PIDS_MAX = 4096
TIMEOUT = 20.0
FRESH = 2.0  # seconds a listing's sockets answer `listening_sockets`
MARK = "sandbench-ps-reader"

READ_PROGRAM = (
    f"# {MARK}\n"
    r"""
import base64, json, os, pwd, sys
def rd(p, n=65536):
    try:
        with open(p, "rb") as f:
            return f.read(n)
    except OSError:
        return None
def b64(b):
    return base64.b64encode(b or b"").decode()
me = os.getpid()
skip = {me}
p = os.getppid()
for _ in range(4):
    c = rd("/proc/%d/cmdline" % p, 65536) or b""
    if b"sandbench-ps-reader" not in c:
        break
    skip.add(p)
    st = (rd("/proc/%d/stat" % p) or b"").rpartition(b")")[2].split()
    p = int(st[1]) if len(st) > 1 else 0
names = {}
procs, nets, first = [], {}, {}
for d in os.listdir("/proc"):
    if not d.isdigit() or int(d) in skip or len(procs) >= 4096:
        continue
    st, status = rd("/proc/%s/stat" % d), rd("/proc/%s/status" % d)
    if st is None or status is None:
        continue
    uid = None
    for line in status.decode("latin-1").splitlines():
        if line.startswith("Uid:"):
            parts = line.split()
            uid = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            break
    if uid not in names:
        try:
            names[uid] = pwd.getpwuid(uid).pw_name if uid is not None else "?"
        except KeyError:
            names[uid] = str(uid)
    try:
        ns = os.stat("/proc/%s/ns/net" % d).st_ino
    except OSError:
        ns = None
    procs.append([int(d), b64(st), uid, names[uid], b64(rd("/proc/%s/cmdline" % d, 4096)), ns])
    if ns is not None and ns not in nets:
        nets[ns] = [b64(rd("/proc/%s/net/tcp" % d, 1 << 20)), b64(rd("/proc/%s/net/tcp6" % d, 1 << 20))]
        first[ns] = d
wanted = set()
for tables in nets.values():
    for t in tables:
        for line in base64.b64decode(t).decode("latin-1").splitlines()[1:]:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and f[9].isdigit():
                wanted.add("socket:[%s]" % f[9])
owners = {}
for pid, *_ in procs:
    if len(owners) >= len(wanted):
        break
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        continue
    for fd in fds:
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t in wanted and t not in owners:
            owners[t] = pid
up = (rd("/proc/uptime") or b"0").split()[0].decode()
bt = [l.split()[1] for l in (rd("/proc/stat", 1 << 20) or b"").decode("latin-1").splitlines() if l.startswith("btime ")]
sys.stdout.write(json.dumps({
    "clk": os.sysconf("SC_CLK_TCK"), "page": os.sysconf("SC_PAGE_SIZE"), "uptime": up,
    "btime": bt[0] if bt else "0", "procs": procs,
    "nets": {str(k): v for k, v in nets.items()},
    "owners": {k[8:-1]: v for k, v in owners.items()},
}))
"""
)

# argv: PID START SIG (START "-": any). SIG 0 asks whether it still runs. Prints one word.
KILL_PROGRAM = r"""
import os, sys
pid, start, sig = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
try:
    with open("/proc/%d/stat" % pid, "rb") as f:
        st = f.read().rpartition(b")")[2].split()
except OSError:
    print("gone"); sys.exit(0)
if len(st) < 20 or (start != "-" and st[19].decode() != start) or st[0] in (b"Z", b"X"):
    print("gone"); sys.exit(0)
if sig == 0:
    print("alive"); sys.exit(0)
try:
    os.kill(pid, sig)
    print("sent")
except ProcessLookupError:
    print("gone")
except PermissionError:
    print("denied")
"""

Exec = Callable[..., Awaitable[ExecResult]]


class ExecReader:
    """Reads one sandbox's processes and sockets through `exec(sandbox_id, argv, timeout=, keep_output=)`."""

    def __init__(self, exec_: Exec, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._exec = exec_
        self._clock = clock
        # one dump answers both questions: the sockets of the last process listing, for FRESH seconds (the view
        # asks for processes, then ports, every refresh: one exec, not two)
        self._sockets: dict[str, tuple[float, list[tuple[int, Socket, int | None]]]] = {}

    async def _run(self, sandbox_id: str, argv: Sequence[str]) -> bytes:
        result = await self._exec(sandbox_id, list(argv), timeout=TIMEOUT, keep_output=OUTPUT_MAX)
        if result.exit_code == 127:
            raise ProviderError("the process list needs python3 inside the sandbox, and it has none")
        if result.exit_code != 0 or result.timed_out:
            log.info("process reader exited %s: %r", result.exit_code, result.stderr[:500])
            raise ProviderError("could not read the sandbox's processes (the reader inside it failed)")
        return result.stdout

    async def _dump(self, sandbox_id: str) -> dict[str, object]:
        raw = await self._run(sandbox_id, ["python3", "-c", READ_PROGRAM])
        try:
            data = json.loads(raw)
        except ValueError:
            raise ProviderError("the sandbox's process list could not be read (malformed answer)") from None
        if not isinstance(data, dict):
            raise ProviderError("the sandbox's process list could not be read (malformed answer)")
        return data

    async def process_table(self, sandbox_id: str) -> ProcTable:
        table, sockets = parse_dump(await self._dump(sandbox_id))
        self._sockets[sandbox_id] = (self._clock(), sockets)
        return table

    async def listening_sockets(self, sandbox_id: str) -> list[tuple[int, Socket, int | None]]:
        known = self._sockets.pop(sandbox_id, None)
        if known is not None and self._clock() - known[0] < FRESH:
            return known[1]
        return parse_dump(await self._dump(sandbox_id))[1]

    async def signal_process(self, sandbox_id: str, pid: int, started: int | None, sig: int) -> None:
        word = await self._signal(sandbox_id, pid, started, sig)
        if word == "gone":
            raise ProcessGone(f"process {pid} has ended")
        if word == "denied":
            raise PermissionDenied(f"process {pid} cannot be signalled from the sandbox's user")
        if word != "sent":
            raise ProviderError("the signal could not be sent (unexpected answer from the sandbox)")

    async def process_alive(self, sandbox_id: str, pid: int, started: int) -> bool:
        return await self._signal(sandbox_id, pid, started, 0) == "alive"

    async def _signal(self, sandbox_id: str, pid: int, started: int | None, sig: int) -> str:
        argv = ["python3", "-c", KILL_PROGRAM, str(int(pid)), "-" if started is None else str(int(started)), str(sig)]
        return (await self._run(sandbox_id, argv)).decode("ascii", "replace").strip()


def _b64(value: object, limit: int) -> bytes:
    if not isinstance(value, str) or len(value) > limit * 2:
        return b""
    try:
        return base64.b64decode(value, validate=True)[:limit]
    except (binascii.Error, ValueError):
        return b""


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return default


def _float(value: object) -> float:
    try:
        return float(value) if isinstance(value, (int, float, str)) else 0.0
    except ValueError:
        return 0.0


def parse_dump(data: dict[str, object]) -> tuple[ProcTable, list[tuple[int, Socket, int | None]]]:
    """The reader's JSON as a process table and the listening sockets; entries that do not parse are skipped."""
    page = _int(data.get("page"), 4096) or 4096
    clk = _int(data.get("clk"), 100) or 100
    samples: list[ProcSample] = []
    procs = data.get("procs")
    for entry in procs[:PIDS_MAX] if isinstance(procs, list) else []:
        if not isinstance(entry, list) or len(entry) != 6:
            continue
        pid, stat, uid, user, cmdline, ns = entry
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            continue
        sample = sample_from(
            pid,
            _b64(stat, 65536).decode("utf-8", "backslashreplace"),
            uid if isinstance(uid, int) and not isinstance(uid, bool) else None,
            user[:64] if isinstance(user, str) else "?",
            _b64(cmdline, 4096),
            page_size=page,
            netns=ns if isinstance(ns, int) and not isinstance(ns, bool) else None,
        )
        if sample is not None:
            samples.append(sample)
    table = ProcTable(tuple(samples), clk, _float(data.get("uptime")), _float(data.get("btime")))
    owners_raw = data.get("owners")
    owners = {_int(k, -1): _int(v, -1) for k, v in owners_raw.items()} if isinstance(owners_raw, dict) else {}
    sockets: list[tuple[int, Socket, int | None]] = []
    nets = data.get("nets")
    for key, tables in nets.items() if isinstance(nets, dict) else []:
        ino = _int(key, -1)
        if ino < 0 or not isinstance(tables, list) or len(tables) != 2:
            continue
        for name, raw in zip(("tcp", "tcp6"), tables, strict=True):
            for s in parse_net_table(_b64(raw, 1 << 20).decode("ascii", "replace"), name):
                owner = owners.get(s.inode)
                sockets.append((ino, s, owner if owner is not None and owner > 0 else None))
    return table, sockets
