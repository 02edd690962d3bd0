"""Parsing what Linux says about processes and sockets (/proc/PID/stat, status, cmdline, /proc/PID/net/tcp{,6}),
UI-free and provider-free: the local provider reads the host's /proc, the exec path reads a dump made inside the
sandbox, and both go through these functions.

Everything here may come from the sandbox (a process names itself; on Daytona the whole dump is the sandbox's), so
the parsers are total: malformed input gives None or is skipped, never an exception, and nothing is ever
interpreted — command names and lines are kept as text for display only (services/processes.py sanitizes them).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from services.errors import SandbenchError

CMDLINE_MAX = 4096  # bytes of a command line read; the rest is cut (display only)
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


class ProcessGone(SandbenchError):
    """The process has ended (or its pid now belongs to another one)."""

    title = "No such process"
    exit_code = 3


@dataclass(frozen=True)
class ProcSample:
    """One process as read at one moment: the raw facts, before CPU % (which needs two readings) is known."""

    pid: int
    ppid: int
    uid: int | None
    user: str
    state: str  # one letter: R S D Z T t I X ...
    cpu_ticks: int  # utime + stime, in clock ticks
    start_ticks: int  # field 22: start after boot, in clock ticks (with pid, the process's identity)
    rss_bytes: int
    threads: int
    comm: str  # the kernel's 15-character name (the process sets it)
    argv: tuple[str, ...]  # its command line (the process can rewrite it)
    netns: int | None = None  # network namespace inode, where known
    nspid: int | None = None  # the pid as the sandbox sees it (`echo $$`), where it differs from `pid` (local)
    plumbing: bool = False  # the sandbox's own bwrap (outside it, or its pid 1): not the user's, not to be ended


@dataclass(frozen=True)
class ProcTable:
    """One reading of a sandbox's processes, with the clock facts needed to turn ticks into times."""

    samples: tuple[ProcSample, ...]
    clk_tck: int
    uptime: float  # seconds since boot, read with the samples (the window for CPU %)
    boot_time: float  # Unix time of boot (`btime` of /proc/stat)


@dataclass(frozen=True)
class Socket:
    """A listening TCP socket from a namespace's socket table."""

    family: str  # "tcp" or "tcp6"
    address: str
    port: int
    inode: int


def parse_stat(text: str) -> tuple[str, list[str]] | None:
    """(comm, fields from field 3 on) of /proc/PID/stat; None when it is not one. The name sits between the first
    '(' and the *last* ')': a process may put spaces and parentheses in its name."""
    head, sep, rest = text.partition("(")
    comm, sep2, tail = rest.rpartition(")")
    if not sep or not sep2 or not head.strip().isdigit():
        return None
    fields = tail.split()
    if len(fields) < 22 or not all(f.lstrip("-").isdigit() for f in fields[1:22]):
        return None
    return comm, fields


def sample_from(
    pid: int,
    stat: str,
    uid: int | None,
    user: str,
    cmdline: bytes,
    *,
    page_size: int,
    netns: int | None = None,
) -> ProcSample | None:
    parsed = parse_stat(stat)
    if parsed is None:
        return None
    comm, f = parsed
    # indexes are field numbers minus 3 (man 5 proc): 4 ppid, 14 utime, 15 stime, 20 num_threads, 22 starttime,
    # 24 rss (pages)
    return ProcSample(
        pid=pid,
        ppid=int(f[1]),
        uid=uid,
        user=user,
        state=f[0][:1] or "?",
        cpu_ticks=int(f[11]) + int(f[12]),
        start_ticks=int(f[19]),
        rss_bytes=max(0, int(f[21])) * page_size,
        threads=int(f[17]),
        comm=comm[:64],
        argv=parse_cmdline(cmdline),
        netns=netns,
    )


def parse_nspid(status: str) -> tuple[int, ...]:
    """The `NSpid:` line of /proc/PID/status: the process's pid in each pid namespace it is in, outermost (the
    reader's /proc) first. () when the kernel does not say (before Linux 4.1) or the line is not numbers."""
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            parts = line.split()[1:]
            return tuple(int(p) for p in parts) if parts and all(p.isdigit() for p in parts) else ()
    return ()


def parse_uid(status: str) -> int | None:
    """The real uid from /proc/PID/status (a line the kernel writes; the process cannot forge it)."""
    for line in status.splitlines():
        if line.startswith("Uid:"):
            parts = line.split()
            if len(parts) > 1 and parts[1].isdigit():
                return int(parts[1])
            return None
    return None


def parse_cmdline(raw: bytes) -> tuple[str, ...]:
    """argv from /proc/PID/cmdline (NUL-separated), cut at CMDLINE_MAX; undecodable bytes kept as escapes."""
    raw = raw[:CMDLINE_MAX]
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    if not raw:
        return ()
    return tuple(a.decode("utf-8", "backslashreplace") for a in raw.split(b"\0"))


def parse_uptime(text: str) -> float | None:
    try:
        return float(text.split()[0])
    except (IndexError, ValueError):
        return None


def parse_btime(text: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("btime "):
            try:
                return float(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def _v4(hexaddr: str) -> str:
    return str(ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(hexaddr), "little")))


def _v6(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    if len(raw) != 16:
        raise ValueError("not an IPv6 address")
    # four 32-bit words, each in host (little-endian) order
    ip = ipaddress.IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
    return str(ip.ipv4_mapped) if ip.ipv4_mapped is not None else str(ip)


def parse_net_table(text: str, family: str) -> list[Socket]:
    """The listening sockets of /proc/PID/net/tcp (family "tcp") or tcp6 ("tcp6")."""
    out: list[Socket] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != LISTEN:
            continue
        addr, _, hexport = fields[1].partition(":")
        try:
            out.append(Socket(family, _v4(addr) if family == "tcp" else _v6(addr), int(hexport, 16), int(fields[9])))
        except ValueError:
            continue
    return out
