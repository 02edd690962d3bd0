"""A local sandbox's processes and listening ports, read from the host's /proc; and signalling one of them.

Which processes are the sandbox's is decided by the kernel, never by anything the sandbox says: the pids in its
cgroup (`CgroupManager.get(id).pids()`; every process a sandbox runs joins it before exec, launch.py), or — on a
host without per-sandbox cgroups — the descendants of its outer bwrap processes (`Launcher.live_pids`). Names,
command lines and user names are the sandbox's to choose and are only ever displayed.

User names come from the sandbox's uid mapping (launch.py): inside, the one mapped uid is `sandbox` (1000), which is
the sandbox's dedicated host uid as root, or the app's own uid otherwise; anything else shows as its number.

`signal` is race-free against pid reuse: it opens a pidfd first, then checks — with the pidfd pinning the process
— that the pid is in the sandbox's set *now* and that its start time is the one the caller saw, then signals
through the pidfd (a process that died meanwhile is never confused with a newcomer holding its pid).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal as signal_mod

from services.errors import PermissionDenied
from services.local.launch import SANDBOX_USER, Launcher
from services.proc_parse import (
    CMDLINE_MAX,
    ProcessGone,
    ProcSample,
    ProcTable,
    Socket,
    parse_btime,
    parse_net_table,
    parse_nspid,
    parse_stat,
    parse_uid,
    parse_uptime,
    sample_from,
)

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PIDS_MAX = 4096  # processes read per listing: a sandbox's pids cgroup caps it far below this
TABLE_MAX = 1024 * 1024  # bytes of a socket table read: listening sockets come first


def _read(path: str, limit: int = 65536) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return None


def _children_map() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        raw = _read(f"/proc/{entry.name}/stat")
        parsed = parse_stat(raw.decode("utf-8", "replace")) if raw else None
        if parsed is not None:
            out.setdefault(int(parsed[1][1]), []).append(int(entry.name))
    return out


def sandbox_pids(launcher: Launcher, sandbox_id: str) -> set[int]:
    """The host pids of the sandbox's processes now (see the module docstring)."""
    cg = launcher.cgroups.get(sandbox_id) if launcher.cgroups.available else None
    if cg is not None:
        return cg.pids()
    roots = launcher.live_pids(sandbox_id)
    if not roots:
        return set()
    children = _children_map()
    found: set[int] = set()
    stack = list(roots)
    while stack and len(found) < PIDS_MAX:
        pid = stack.pop()
        if pid in found:
            continue
        found.add(pid)
        stack.extend(children.get(pid, ()))
    return found


def _netns(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def _launcher_shown(cmdline: bytes) -> bytes:
    """Our own bwrap (`.../bwrap --args FD -- ARGV`) shown as `bwrap ARGV`: its host path is the host's detail,
    and the options are in a memfd anyway. Display only."""
    parts = cmdline.split(b"\0")
    if len(parts) > 3 and (parts[0] == b"bwrap" or parts[0].endswith(b"/bwrap")) and parts[1:4:2] == [b"--args", b"--"]:
        return b"\0".join([b"bwrap", *parts[4:]])
    return cmdline


def _own_levels() -> int:
    """How many pid namespaces deep this process is, as /proc sees it: a sandbox's outer bwrap is as deep (it is
    started here), whatever runs in the sandbox one deeper (bwrap --unshare-pid)."""
    return len(parse_nspid((_read("/proc/self/status") or b"").decode("utf-8", "replace"))) or 1


def sandbox_view(sample: ProcSample, nspid: tuple[int, ...], own: int) -> ProcSample:
    """`sample` with its pid as seen inside the sandbox and whether it is the sandbox's plumbing — from the
    kernel's NSpid line, which the sandbox cannot forge: a process no deeper than us is the outer bwrap, and pid 1
    of the sandbox's namespace is the inner bwrap (its init). A pid namespace the sandbox makes itself is deeper
    still: its processes keep the pid the sandbox's own namespace gives them."""
    if len(nspid) <= own:
        return dataclasses.replace(sample, plumbing=True)
    inside = nspid[own]
    return dataclasses.replace(sample, nspid=inside, plumbing=inside == 1 and len(nspid) == own + 1)


def read_table(pids: set[int], mapped_uid: int) -> ProcTable:
    """The processes `pids` as they are now (ones that ended meanwhile are left out)."""
    samples: list[ProcSample] = []
    own = _own_levels()
    for pid in sorted(pids)[:PIDS_MAX]:
        stat = _read(f"/proc/{pid}/stat")
        status = _read(f"/proc/{pid}/status")
        if stat is None or status is None:
            continue
        status_text = status.decode("utf-8", "replace")
        uid = parse_uid(status_text)
        user = SANDBOX_USER if uid == mapped_uid else str(uid) if uid is not None else "?"
        cmdline = _read(f"/proc/{pid}/cmdline", CMDLINE_MAX) or b""
        sample = sample_from(
            pid,
            stat.decode("utf-8", "backslashreplace"),
            uid,
            user,
            _launcher_shown(cmdline),
            page_size=PAGE_SIZE,
            netns=_netns(pid),
        )
        if sample is not None:
            samples.append(sandbox_view(sample, parse_nspid(status_text), own))
    uptime = parse_uptime((_read("/proc/uptime") or b"").decode()) or 0.0
    btime = parse_btime((_read("/proc/stat") or b"").decode("utf-8", "replace")) or 0.0
    return ProcTable(tuple(samples), CLK_TCK, uptime, btime)


def start_ticks(pid: int) -> int | None:
    raw = _read(f"/proc/{pid}/stat")
    parsed = parse_stat(raw.decode("utf-8", "replace")) if raw else None
    return int(parsed[1][19]) if parsed is not None else None


def signal(launcher: Launcher, sandbox_id: str, pid: int, started: int | None, sig: int) -> None:
    """Send `sig` to `pid` if it is one of the sandbox's processes (and, with `started`, the very process that
    started then). PermissionDenied for a pid outside the sandbox; ProcessGone when it has ended."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise ProcessGone(f"process {pid} has ended") from None
    except OSError as exc:
        raise PermissionDenied(f"process {pid} cannot be signalled") from exc
    try:
        # checked with the process pinned by the pidfd: the answers below are about this very process
        if pid not in sandbox_pids(launcher, sandbox_id):
            raise PermissionDenied(f"process {pid} is not one of this sandbox's processes: it was not signalled")
        now = start_ticks(pid)
        if now is None:
            raise ProcessGone(f"process {pid} has ended")
        if started is not None and now != started:
            raise ProcessGone(f"process {pid} has ended (its pid now belongs to another process)")
        try:
            signal_mod.pidfd_send_signal(pidfd, sig)
        except ProcessLookupError:
            raise ProcessGone(f"process {pid} has ended") from None
        except PermissionError as exc:
            raise PermissionDenied(f"process {pid} cannot be signalled") from exc
    finally:
        os.close(pidfd)


def alive(pid: int, started: int) -> bool:
    """The process that started at `started` still runs (a zombie has ended: it only waits to be reaped)."""
    raw = _read(f"/proc/{pid}/stat")
    parsed = parse_stat(raw.decode("utf-8", "replace")) if raw else None
    return parsed is not None and int(parsed[1][19]) == started and parsed[1][0] not in ("Z", "X")


def _socket_owners(pids: set[int], wanted: set[int]) -> dict[int, int]:
    """socket inode → the first pid (lowest) holding it, for the inodes in `wanted`."""
    owners: dict[int, int] = {}
    for pid in sorted(pids):
        if len(owners) == len(wanted):
            break
        with contextlib.suppress(OSError):
            for entry in os.scandir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(entry.path)  # the kernel's text ("socket:[123]"), never followed
                except OSError:
                    continue
                if target.startswith("socket:[") and target.endswith("]"):
                    with contextlib.suppress(ValueError):
                        ino = int(target[8:-1])
                        if ino in wanted:
                            owners.setdefault(ino, pid)
    return owners


def listening(pids: set[int]) -> list[tuple[int, Socket, int | None]]:
    """(netns inode, socket, owning pid) of every listening TCP socket in the sandbox's network namespaces, each
    namespace read once. The host's own namespace is never read (fail closed: no host port is ever listed)."""
    host = os.stat("/proc/self/ns/net").st_ino
    seen: dict[int, int] = {}
    for pid in sorted(pids):
        ino = _netns(pid)
        if ino is not None and ino != host:
            seen.setdefault(ino, pid)
    found: list[tuple[int, Socket]] = []
    for ino, pid in seen.items():
        for name in ("tcp", "tcp6"):
            raw = _read(f"/proc/{pid}/net/{name}", TABLE_MAX)
            # the namespace must still be the one we looked up (the pid may have ended and been reused)
            if raw is not None and _netns(pid) == ino:
                found.extend((ino, s) for s in parse_net_table(raw.decode("ascii", "replace"), name))
    owners = _socket_owners(pids, {s.inode for _ino, s in found})
    return [(ino, s, owners.get(s.inode)) for ino, s in found]
