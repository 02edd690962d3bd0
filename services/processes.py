"""What runs in a sandbox right now (issue 13 §3): its processes as a tree, signalling one, its listening ports and
forwarding one to localhost. UI-free; `SandboxService.processes`, `.kill_process`, `.ports`, `.forward_port` are
thin doors onto `ProcessService`, so the app, the CLI and (later) `serve` share one implementation.

Where the facts come from: a provider offering `ProcessTables` (the local one: the host's /proc, the sandbox's
cgroup — services/local/procfs.py) answers itself; any other (Daytona) is read with a fixed program run inside the
sandbox (services/processes_exec.py). Either way names, command lines and user names are the sandbox's word and are
shown only, sanitized (`safe_text`) and cut; what a signal may reach is decided by the provider from kernel facts.

CPU % is over the window since the previous reading of the same sandbox (like top and htop): the first reading has
none (None), unless the caller asks for a short `sample` window (the CLI does). Readings are not audited (the app
reads every 1.5 s; the audit log is the timeline and would drown); signals and forwards are.
"""

from __future__ import annotations

import asyncio
import logging
import signal as signal_mod
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.errors import InvalidInput, NotRunning, PermissionDenied, SandbenchError
from services.models import SandboxInfo, SandboxState
from services.proc_parse import ProcessGone, ProcTable, Socket
from services.processes_exec import ExecReader
from services.provider import ProcessTables
from services.text import safe_text

if TYPE_CHECKING:
    from services.forwards import Forward, PortForwards
    from services.sandbox_service import SandboxService

log = logging.getLogger(__name__)

COMMAND_MAX = 512  # characters of a command line kept for display
SIGNALS: dict[str, int] = {
    "TERM": signal_mod.SIGTERM,
    "KILL": signal_mod.SIGKILL,
    "INT": signal_mod.SIGINT,
    "HUP": signal_mod.SIGHUP,
}
STATE_NAMES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk wait",
    "Z": "zombie",
    "T": "stopped",
    "t": "traced",
    "I": "idle",
    "X": "dead",
    "W": "paging",
    "P": "parked",
}
KILL_AFTER_MAX = 300.0  # seconds a caller may ask to wait between TERM and KILL
SORT_KEYS = ("cpu", "memory", "pid", "age")


@dataclass(frozen=True)
class ProcessInfo:
    """One process of a sandbox, ready to show. `started` (start time in clock ticks after boot) together with
    `pid` names the process: pass both to `kill_process`, so a pid reused since the listing is never signalled."""

    pid: int
    ppid: int
    user: str
    cpu_percent: float | None  # over the last sample window; None on a first reading
    rss_bytes: int
    state: str  # the kernel's letter
    started_at: float  # Unix time
    age: float  # seconds
    command: str  # sanitized, cut at COMMAND_MAX
    name: str  # the kernel's short name, sanitized
    threads: int
    started: int
    sandbox_pid: int | None = None  # the pid inside the sandbox (`echo $$`), when it differs from `pid` (local)
    sandbox_ppid: int | None = None  # the parent's, likewise (0: its parent is the sandbox's own plumbing)

    @property
    def shown_pid(self) -> int:
        """The pid a person knows: the sandbox's own (each command and terminal of a local sandbox numbers its
        processes from 1), else the one signals go to."""
        return self.sandbox_pid if self.sandbox_pid is not None else self.pid

    @property
    def host_pid(self) -> int | None:
        """The host's pid (local sandboxes: unique across the sandbox's commands and terminals), else None."""
        return self.pid if self.sandbox_pid is not None else None

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self.state, self.state)


@dataclass(frozen=True)
class PortInfo:
    """A TCP port something listens on inside the sandbox (one per namespace, address family and address)."""

    port: int
    address: str
    family: str  # "tcp" / "tcp6"
    netns: int
    pid: int | None  # the owning process's pid on the host (local sandboxes) or as the reader saw it (Daytona)
    command: str  # the owning process's, sanitized ("" when unknown)
    sandbox_pid: int | None = None  # its pid inside the sandbox, where that differs from `pid` (local)

    @property
    def shown_pid(self) -> int | None:
        """The pid a person knows, as the process list shows it: the sandbox's own (`echo $!` there)."""
        return self.sandbox_pid if self.sandbox_pid is not None else self.pid

    @property
    def host_pid(self) -> int | None:
        """The host's pid (local sandboxes), else None, as `ProcessInfo.host_pid`."""
        return self.pid if self.sandbox_pid is not None else None


@dataclass(frozen=True)
class KillResult:
    pid: int
    signal: str  # the last signal sent
    ended: bool  # seen gone before we returned
    escalated: bool = False  # KILL followed a TERM that did not end it
    sandbox_pid: int | None = None  # its pid inside the sandbox, where that differs from `pid` (local)


def check_signal(name: str) -> int:
    sig = SIGNALS.get(name.upper().removeprefix("SIG"))
    if sig is None:
        raise InvalidInput(f"unknown signal {name[:20]!r}: use one of {', '.join(SIGNALS)}")
    return sig


def display_command(argv: tuple[str, ...], comm: str) -> str:
    """The command line as one safe line: args joined by spaces, controls shown as escapes, cut at COMMAND_MAX;
    `[name]` when there is none (a kernel thread, a zombie)."""
    text = " ".join(argv) if argv else f"[{comm}]"
    text = safe_text(text)
    return text if len(text) <= COMMAND_MAX else text[: COMMAND_MAX - 1] + "…"


def build(table: ProcTable, previous: ProcTable | None) -> list[ProcessInfo]:
    """ProcessInfo for each sample; CPU % from the ticks used since `previous` (the same pid and start time)."""
    before: dict[tuple[int, int], int] = {}
    window = 0.0
    if previous is not None:
        before = {(s.pid, s.start_ticks): s.cpu_ticks for s in previous.samples}
        window = table.uptime - previous.uptime
    tck = table.clk_tck or 100
    out: list[ProcessInfo] = []
    inside = {s.pid: s.nspid for s in table.samples}
    for s in table.samples:
        if s.plumbing:
            continue  # the sandbox's own bwrap: ending it would end the shell or command under it
        cpu: float | None = None
        prev = before.get((s.pid, s.start_ticks))
        if window > 0 and prev is not None:
            cpu = max(0.0, (s.cpu_ticks - prev) / tck / window * 100.0)
        elif window > 0 and previous is not None:
            # started within the window: its whole life is in it
            life = table.uptime - s.start_ticks / tck
            cpu = max(0.0, s.cpu_ticks / tck / life * 100.0) if life > 0 else 0.0
        since_boot = s.start_ticks / tck
        out.append(
            ProcessInfo(
                pid=s.pid,
                ppid=s.ppid,
                user=safe_text(s.user)[:32],
                cpu_percent=None if cpu is None else round(cpu, 1),
                rss_bytes=s.rss_bytes,
                state=s.state if s.state.isalpha() else "?",
                started_at=table.boot_time + since_boot,
                age=max(0.0, table.uptime - since_boot),
                command=display_command(s.argv, s.comm),
                name=safe_text(s.comm),
                threads=s.threads,
                started=s.start_ticks,
                sandbox_pid=s.nspid,
                sandbox_ppid=None if s.nspid is None else (inside.get(s.ppid) or 0),
            )
        )
    return out


def sort_key(key: str) -> Callable[[ProcessInfo], Any]:
    """Highest first for cpu and memory, lowest pid first, oldest first."""
    if key == "cpu":
        return lambda p: (-(p.cpu_percent or 0.0), -p.rss_bytes, p.pid)
    if key == "memory":
        return lambda p: (-p.rss_bytes, p.pid)
    if key == "age":
        return lambda p: (-p.age, p.pid)
    return lambda p: p.pid


def tree(procs: list[ProcessInfo], key: str = "pid") -> list[tuple[ProcessInfo, int]]:
    """The processes in tree order (each followed by its children, indented one deeper), siblings sorted by `key`.
    A process whose parent is not among them is a root. Cycles (a sandbox cannot make them; a dump can claim
    anything) are broken: each process appears once."""
    by_pid = {p.pid: p for p in procs}
    kids: dict[int, list[ProcessInfo]] = {}
    roots: list[ProcessInfo] = []
    for p in procs:
        if p.ppid in by_pid and p.ppid != p.pid:
            kids.setdefault(p.ppid, []).append(p)
        else:
            roots.append(p)
    order = sort_key(key)
    out: list[tuple[ProcessInfo, int]] = []
    seen: set[int] = set()
    stack = [(p, 0) for p in sorted(roots, key=order, reverse=True)]
    while stack:
        p, depth = stack.pop()
        if p.pid in seen:
            continue
        seen.add(p.pid)
        out.append((p, depth))
        stack.extend((c, depth + 1) for c in sorted(kids.get(p.pid, []), key=order, reverse=True))
    # anything only reachable through a cycle
    out.extend((p, 0) for p in sorted(procs, key=order) if p.pid not in seen)
    return out


def human_age(seconds: float) -> str:
    """A process's age as `ps`-like text (`42s`, `3m07s`, `2h05m`, `4d03h`): the CLI's and the view's."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def matches(p: ProcessInfo, text: str) -> bool:
    """The filter as you type: every word in the command line, user, state or pid (case-insensitive)."""
    hay = f"{p.shown_pid} {p.user} {p.state_name} {p.command}".lower()
    return all(word in hay for word in text.lower().split())


class ProcessService:
    """Processes, signals, ports and forwards of one `SandboxService`'s sandboxes."""

    def __init__(self, svc: SandboxService) -> None:
        self.svc = svc
        self._previous: dict[str, ProcTable] = {}
        self._read_at: dict[str, float] = {}  # monotonic time of each sandbox's last listing
        self._exec_reader = ExecReader(svc.provider.exec)
        self._forwards: PortForwards | None = None
        self._unsubscribe = svc.subscribe(self._state_changed)
        self._tasks: set[asyncio.Task[None]] = set()

    def _reader(self) -> ProcessTables:
        provider = self.svc.provider
        return provider if isinstance(provider, ProcessTables) else self._exec_reader

    async def _access(self, sandbox_id: str, *, write: bool) -> SandboxInfo | None:
        """The sandbox if it runs, None when it does not (nothing runs in it); read access is enough to look on
        the local provider (the host reads /proc), looking through exec or signalling needs ownership."""
        info = await self.svc.get(sandbox_id)
        if (write or not isinstance(self.svc.provider, ProcessTables)) and not self.svc.owns(info):
            # `get` let it through, so others' sandboxes are shown (read-only): say so rather than "not found"
            raise PermissionDenied(
                f"sandbox {info.name!r} is another owner's (read-only): its processes are not yours to see or end"
            )
        if info.state is not SandboxState.STARTED:
            return None
        return info

    async def processes(self, sandbox_id: str, *, sample: float = 0.0) -> list[ProcessInfo]:
        """The sandbox's processes now ([] when it is not running). With `sample` seconds and no recent reading,
        read twice that far apart so CPU % is known."""
        if await self._access(sandbox_id, write=False) is None:
            self._previous.pop(sandbox_id, None)
            return []
        reader = self._reader()
        previous = self._previous.get(sandbox_id)
        if sample > 0 and previous is None:
            previous = await reader.process_table(sandbox_id)
            await asyncio.sleep(sample)
        table = await reader.process_table(sandbox_id)
        self._previous[sandbox_id] = table
        self._read_at[sandbox_id] = time.monotonic()
        return build(table, previous)

    async def kill(
        self,
        sandbox_id: str,
        pid: int,
        signal: str = "TERM",
        *,
        started: int | None = None,
        kill_after: float | None = None,
        wait: float = 2.0,
        inside: bool = False,
    ) -> KillResult:
        """Send `signal` to the sandbox's process `pid` (that started at `started`, when given). With `kill_after`,
        a TERM that has not ended it within that many seconds is followed by KILL. Waits up to `wait` seconds
        (or `kill_after`) to say whether it ended.

        `pid` is the one signals go to (`ProcessInfo.pid`: the host's on local sandboxes), or with `inside` the
        sandbox's own (`ProcessInfo.shown_pid`, what `echo $$` says there): each command and terminal of a local
        sandbox numbers its processes from 1, so one that names several is refused, naming their host pids. The
        sandbox's own bwrap processes are never signalled (ending one ends the shell or command under it)."""
        sig = check_signal(signal)
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
            raise InvalidInput(f"not a process id: {pid!r}")
        if kill_after is not None and not 0 <= kill_after <= KILL_AFTER_MAX:
            raise InvalidInput(f"the wait before KILL is from 0 to {KILL_AFTER_MAX:g} seconds")
        name = signal.upper().removeprefix("SIG")
        info = await self._access(sandbox_id, write=True)
        if info is None:
            raise NotRunning(f"the sandbox is not running: no process {pid} to signal")
        reader = self._reader()
        outcome = "ok"
        asked = pid
        sandbox_pid: int | None = None
        try:
            table = (await reader.process_table(sandbox_id)).samples
            if inside:
                named = [s for s in table if (s.nspid if s.nspid is not None else s.pid) == pid]
                users = [s for s in named if not s.plumbing]
                if len(users) > 1:
                    hosts = ", ".join(str(s.pid) for s in users[:8])
                    raise InvalidInput(
                        f"pid {pid} names {len(users)} processes of {info.name!r} (each command and terminal "
                        f"numbers its own from 1): give the host's pid with --host-pid (one of {hosts}); "
                        "nothing was signalled"
                    )
                if named and not users:
                    self._refuse_plumbing(pid, info.name)
                if not users:
                    raise ProcessGone(
                        f"no process {pid} in {info.name!r} (or it has just ended): nothing was signalled"
                    )
                pid, sandbox_pid = users[0].pid, users[0].nspid
                if started is None:
                    started = users[0].start_ticks
            by_pid = {s.pid: s for s in table}
            if pid in by_pid and by_pid[pid].plumbing:
                self._refuse_plumbing(asked, info.name)
            if pid in by_pid:
                sandbox_pid = by_pid[pid].nspid
            if started is None:
                # pin the identity now: the wait and an escalation must reach this process, not a successor
                if pid not in by_pid:
                    raise ProcessGone(
                        f"no process {pid} in {info.name!r} (or it has just ended): nothing was signalled"
                    )
                started = by_pid[pid].start_ticks
            await reader.signal_process(sandbox_id, pid, started, sig)
            ended = await self._wait_gone(reader, sandbox_id, pid, started, kill_after if kill_after else wait)
            if ended or kill_after is None or sig == signal_mod.SIGKILL:
                return KillResult(pid, name, ended, sandbox_pid=sandbox_pid)
            try:
                await reader.signal_process(sandbox_id, pid, started, signal_mod.SIGKILL)
            except ProcessGone:
                return KillResult(pid, name, True, sandbox_pid=sandbox_pid)
            gone = await self._wait_gone(reader, sandbox_id, pid, started, wait)
            return KillResult(pid, "KILL", gone, True, sandbox_pid=sandbox_pid)
        except SandbenchError as exc:
            outcome = type(exc).__name__
            raise
        finally:
            self.svc.audit.record("kill", sandbox=sandbox_id, name=f"{name} {pid}", outcome=outcome)

    @staticmethod
    def _refuse_plumbing(pid: int, name: str) -> None:
        raise PermissionDenied(
            f"process {pid} is {name!r}'s own bwrap (its shell or command runs under it, and ends with it): "
            "it was not signalled; end the process under it instead"
        )

    @staticmethod
    async def _wait_gone(reader: ProcessTables, sandbox_id: str, pid: int, started: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        delay = 0.02
        while await reader.process_alive(sandbox_id, pid, started):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        return True

    async def ports(self, sandbox_id: str) -> list[PortInfo]:
        """Listening TCP ports inside the sandbox, with the process holding each ([] when it is not running)."""
        if await self._access(sandbox_id, write=False) is None:
            return []
        reader = self._reader()
        sockets = await reader.listening_sockets(sandbox_id)
        commands: dict[int, str] = {}
        inside: dict[int, int] = {}
        if any(owner is not None for _ns, _s, owner in sockets):
            table = self._previous.get(sandbox_id)
            owners = {owner for _ns, _s, owner in sockets if owner is not None}
            if (
                table is None
                or time.monotonic() - self._read_at.get(sandbox_id, 0.0) > 2.0
                or not owners <= {s.pid for s in table.samples}
            ):
                table = await reader.process_table(sandbox_id)  # not for CPU %: `_previous` keeps its window
            commands = {s.pid: display_command(s.argv, s.comm) for s in table.samples}
            inside = {s.pid: s.nspid for s in table.samples if s.nspid is not None}
        return ports_from(sockets, commands, inside)

    # -- forwards ------------------------------------------------------------------------------------------
    @property
    def forwards(self) -> PortForwards:
        if self._forwards is None:
            from services.forwards import PortForwards

            self._forwards = PortForwards(self.svc.provider)
        return self._forwards

    def forward_via(self, info: SandboxInfo) -> str | None:
        """How `info`'s ports are forwarded: "tcp" (a local sandbox with network), "preview" (HTTP and WebSockets
        through the port's preview link: Daytona), or None (a local sandbox without network: not at all)."""
        if self.forwards.via_preview:
            return "preview"
        return "tcp" if info.network else None

    async def forward(self, sandbox_id: str, port: int, local_port: int = 0) -> Forward:
        """Forward `port` of the sandbox to `local_port` of 127.0.0.1 (0: any free one) until closed. A local
        sandbox needs network on; a Daytona one is forwarded through the port's preview link (HTTP and WebSockets
        only: services/forwards_preview.py), which Daytona offers whatever the sandbox's network settings."""
        info = await self._access(sandbox_id, write=True)
        if info is None:
            raise NotRunning("the sandbox is not running: nothing listens on its ports")
        preview = self.forward_via(info) == "preview"
        if not info.network and not preview:
            raise InvalidInput(
                f"{info.name!r} has no network: forwarding a port to localhost is offered for sandboxes created "
                "with network on (sandbench create --network)"
            )
        outcome = "ok"
        try:
            # a preview link's port not in the listing is asked through the link itself (the reader may not see
            # every process: through `sandbench serve` each exec has its own namespaces)
            probe = preview and self.forwards.get(sandbox_id, port) is None
            if probe and 1 <= port <= 65535:
                probe = port not in {p.port for p in await self.ports(sandbox_id)}
            what = f"port {port} of sandbox {safe_text(info.name)!r}"
            return await self.forwards.open(sandbox_id, port, local_port, what=what, probe=probe)
        except SandbenchError as exc:
            outcome = type(exc).__name__
            raise
        finally:
            self.svc.audit.record("forward", sandbox=sandbox_id, name=str(port), outcome=outcome)

    def _state_changed(self, info: SandboxInfo) -> None:
        if info.state in (SandboxState.STOPPED, SandboxState.ARCHIVED, SandboxState.DELETED, SandboxState.ERROR):
            self._previous.pop(info.id, None)
            if self._forwards is not None:
                task = asyncio.ensure_future(self._forwards.close_sandbox(info.id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._unsubscribe()
        if self._forwards is not None:
            await self._forwards.close_all()
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)


def ports_from(
    sockets: list[tuple[int, Socket, int | None]], commands: dict[int, str], inside: dict[int, int] | None = None
) -> list[PortInfo]:
    """One entry per (namespace, family, address, port), sorted by port; `inside` maps an owner's host pid to its
    pid inside the sandbox (local sandboxes), so the ports name processes as the process list does."""
    inside = inside or {}
    seen: set[tuple[int, str, str, int]] = set()
    out: list[PortInfo] = []
    for ns, s, owner in sockets:
        key = (ns, s.family, s.address, s.port)
        if key in seen:
            continue
        seen.add(key)
        command = commands.get(owner, "") if owner else ""
        out.append(PortInfo(s.port, s.address, s.family, ns, owner, command, inside.get(owner) if owner else None))
    out.sort(key=lambda p: (p.port, p.family, p.address, p.netns))
    return out
