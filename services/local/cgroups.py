"""Per-sandbox cgroups: the limits that bound a sandbox's totals (processes, memory, CPU) and the handle that lets
`stop` kill every process of a sandbox and verify none is left.

rlimits are per process (4 x 300 MiB passed RLIMIT_AS=512M, shared/isolation.md); only a cgroup bounds the sum.
This module finds a cgroup hierarchy we may write — a delegated cgroup v2 subtree with pids, memory and cpu, else
the v1 controllers — and manages `<hierarchy>/<parent_name>/<sandbox_id>` in it. It never raises while probing:
where no hierarchy is usable, `available` is false and `reason` says why, so the UI can show `no-cgroup`.

Processes join by writing their own pid into every path of `Cgroup.procs_files` after fork and before exec (the
launcher's preexec), so nothing the sandbox runs ever exists outside the cgroup.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from services.errors import InvalidInput, NameRejected

log = logging.getLogger(__name__)

MOUNTINFO = "/proc/self/mountinfo"
SELF_CGROUP = "/proc/self/cgroup"
V2_CONTROLLERS = ("pids", "memory", "cpu")
V1_REQUIRED = ("pids", "memory", "cpu")
# The freezer makes kill_all race-free: frozen processes cannot fork or exit, so the pid list we kill is exact.
# cpuacct (often mounted apart from cpu) counts the CPU time a sandbox used, for its metrics.
V1_OPTIONAL = ("freezer", "cpuacct")
CPU_PERIOD_US = 100_000
CPU_QUOTA_MIN_US = 1_000  # the kernel's floor for cfs_quota_us
MEMORY_MIN = 4 * 1024 * 1024

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_PARENT_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")


def _check_id(sandbox_id: str) -> str:
    # The id becomes a directory name under a kernel filesystem: nothing but the documented alphabet.
    if not isinstance(sandbox_id, str) or not _NAME_RE.fullmatch(sandbox_id):
        raise NameRejected(f"invalid sandbox id for a cgroup: {sandbox_id!r}")
    return sandbox_id


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _write(path: Path, value: str) -> None:
    # One write(2) per value: cgroup files act on each write, and buffered writers may split or retry.
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _cgroup_mounts() -> list[tuple[str, str, str, str]]:
    """(mount point, root inside the hierarchy, fstype, super options) of every cgroup mount we can see."""
    out: list[tuple[str, str, str, str]] = []
    try:
        lines = Path(MOUNTINFO).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        # mountinfo escapes spaces and friends as octal; cgroup mount points here never need them, skip odd ones
        if "\\" in fields[4]:
            continue
        out.append((fields[4], fields[3], tail[0], tail[2]))
    return out


def _own_v2_path() -> str | None:
    for line in (_read(Path(SELF_CGROUP)) or "").splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


@dataclass(frozen=True)
class _Layout:
    """Where sandbox cgroups go: one parent directory per hierarchy (one for v2; one per v1 controller)."""

    version: int
    parents: dict[str, Path]  # controller (or "unified") -> parent directory


class Cgroup:
    """One sandbox's cgroup: a directory in the v2 hierarchy, or one per v1 controller."""

    def __init__(self, sandbox_id: str, version: int, dirs: dict[str, Path]) -> None:
        self.sandbox_id = sandbox_id
        self.version = version
        self.dirs = dirs
        self.procs_files: tuple[str, ...] = tuple(str(d / "cgroup.procs") for d in dict.fromkeys(dirs.values()))

    def __repr__(self) -> str:
        return f"Cgroup({self.sandbox_id!r}, v{self.version}, {sorted(self.dirs)})"

    def pids(self) -> set[int]:
        found: set[int] = set()
        for f in self.procs_files:
            for tok in (_read(Path(f)) or "").split():
                with contextlib.suppress(ValueError):
                    found.add(int(tok))
        return found

    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process in the cgroup, including ones forking or daemonising meanwhile; True when the
        cgroup was seen empty before `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.pids():
                return True
            if time.monotonic() >= deadline:
                log.warning("cgroup %s still has processes after %.1fs: %s", self.sandbox_id, timeout, self.pids())
                return False
            if self.version == 2:
                self._kill_v2(deadline)
            else:
                self._kill_v1(deadline)
            self._wait_empty(min(deadline, time.monotonic() + 0.25))

    def _kill_v2(self, deadline: float) -> None:
        d = self.dirs["unified"]
        if (d / "cgroup.kill").exists():
            # The kernel kills the whole subtree atomically, forks in flight included (Linux 5.14+).
            try:
                _write(d / "cgroup.kill", "1")
                return
            except OSError:
                log.exception("cgroup.kill failed for %s", self.sandbox_id)
        self._frozen_kill(d / "cgroup.freeze", "1", "0", d / "cgroup.events", "frozen 1", deadline)

    def _kill_v1(self, deadline: float) -> None:
        d = self.dirs.get("freezer")
        if d is None:
            # Without a freezer, repeat until empty: pids.max bounds how many new children can appear per round.
            self._signal_all()
            return
        self._frozen_kill(d / "freezer.state", "FROZEN", "THAWED", d / "freezer.state", "FROZEN", deadline)

    def _frozen_kill(self, ctl: Path, freeze: str, thaw: str, state: Path, frozen: str, deadline: float) -> None:
        try:
            _write(ctl, freeze)
        except OSError:
            log.exception("could not freeze cgroup %s", self.sandbox_id)
            self._signal_all()
            return
        try:
            # Wait for the freeze to settle so the pid list is complete and no pid can be recycled under us; if it
            # does not settle in time, killing what we see is still the right move.
            settle = min(deadline, time.monotonic() + 1.0)
            while frozen not in (_read(state) or "") and time.monotonic() < settle:
                time.sleep(0.005)
            self._signal_all()
        finally:
            # A killed task dies only once thawed.
            try:
                _write(ctl, thaw)
            except OSError:
                log.exception("could not thaw cgroup %s", self.sandbox_id)

    def _signal_all(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def _wait_empty(self, until: float) -> None:
        while self.pids() and time.monotonic() < until:
            time.sleep(0.005)

    def remove(self) -> None:
        """Kill anything left, then remove the cgroup's directories; already-gone is fine."""
        if self.pids():
            self.kill_all()
        for d in dict.fromkeys(self.dirs.values()):
            deadline = time.monotonic() + 2.0
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    # EBUSY briefly after the last task exits, while the kernel releases it
                    if exc.errno == errno.EBUSY and time.monotonic() < deadline:
                        time.sleep(0.01)
                        continue
                    log.warning("could not remove cgroup %s: %s", d, exc)
                    break

    def usage(self) -> CgroupUsage:
        """What the sandbox's processes use now, read from the kernel's accounting (None where a file is missing)."""
        if self.version == 2:
            d = self.dirs["unified"]
            stat = _keyed(d / "memory.stat")
            cpu = _keyed(d / "cpu.stat").get("usage_usec")
            return CgroupUsage(_int_file(d / "memory.current"), stat.get("file"), None if cpu is None else cpu * 1000)
        mem = self.dirs.get("memory")
        acct = self.dirs.get("cpuacct")
        stat = _keyed(mem / "memory.stat") if mem else {}
        return CgroupUsage(
            _int_file(mem / "memory.usage_in_bytes") if mem else None,
            stat.get("total_cache", stat.get("cache")),
            _int_file(acct / "cpuacct.usage") if acct else None,
        )

    def memory_peak_bytes(self) -> int | None:
        d = self.dirs.get("unified") if self.version == 2 else self.dirs.get("memory")
        if d is None:
            return None
        raw = _read(d / ("memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"))
        try:
            return int(raw.strip()) if raw else None
        except ValueError:
            return None


@dataclass(frozen=True)
class CgroupUsage:
    """One reading of a sandbox cgroup's accounting: memory charged (page cache included), of it the page cache,
    and the CPU time used since the cgroup was made."""

    memory_bytes: int | None
    cache_bytes: int | None
    cpu_ns: int | None


def _int_file(path: Path) -> int | None:
    raw = _read(path)
    try:
        return int(raw.strip()) if raw else None
    except ValueError:
        return None


def _keyed(path: Path) -> dict[str, int]:
    """A flat-keyed cgroup file (`memory.stat`, `cpu.stat`): `name value` per line."""
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out


class CgroupManager:
    """Finds a writable cgroup hierarchy once, then creates, updates and finds sandbox cgroups in it."""

    def __init__(self, parent_name: str = "sandbench") -> None:
        self._layout: _Layout | None = None
        self._reason = ""
        self.parent_name = parent_name
        if not _PARENT_RE.fullmatch(parent_name):
            self._reason = f"invalid cgroup parent name {parent_name!r}"
            return
        try:
            self._layout, self._reason = self._probe()
        except Exception:  # never raise from a probe: no cgroup is a supported, reported state
            log.exception("cgroup probe failed")
            self._layout, self._reason = None, "cgroup probe failed"
        if self._layout is None:
            log.info("no per-sandbox cgroups: %s", self._reason)

    @property
    def available(self) -> bool:
        return self._layout is not None

    def reprobe(self) -> bool:
        """Look again when no hierarchy was usable (delegation may have been set up since); True when one is."""
        if self._layout is None and _PARENT_RE.fullmatch(self.parent_name):
            try:
                self._layout, self._reason = self._probe()
            except Exception:
                log.exception("cgroup probe failed")
        return self.available

    @property
    def reason(self) -> str:
        return "" if self._layout is not None else (self._reason or "no writable cgroup hierarchy")

    @property
    def version(self) -> int | None:
        return self._layout.version if self._layout else None

    # -- probing ---------------------------------------------------------------------------------------------------
    def _probe(self) -> tuple[_Layout | None, str]:
        mounts = _cgroup_mounts()
        v2 = self._probe_v2(mounts)
        if v2 is not None:
            return v2, ""
        v1, why = self._probe_v1(mounts)
        if v1 is not None:
            return v1, ""
        return None, why

    def _probe_v2(self, mounts: list[tuple[str, str, str, str]]) -> _Layout | None:
        mount = next((m for m in mounts if m[2] == "cgroup2"), None)
        own = _own_v2_path()
        if mount is None or own is None:
            return None
        mountpoint, root = Path(mount[0]), mount[1]
        rel = os.path.relpath(own, root) if own.startswith(root) else "."
        # Our own cgroup holds processes, so (unless it is the root) it cannot hand controllers to children: walk
        # up to the highest ancestor we may write — the delegation point (user@UID.service) or, for root, the root.
        start = mountpoint / rel
        candidates = [mountpoint]
        if start != mountpoint and mountpoint in start.parents:
            candidates = [p for p in start.parents if p == mountpoint or mountpoint in p.parents]
        base = None
        for c in candidates:
            if os.access(c / "cgroup.subtree_control", os.W_OK) and os.access(c, os.W_OK):
                base = c
        if base is None:
            return None
        if not set(V2_CONTROLLERS) <= set((_read(base / "cgroup.controllers") or "").split()):
            return None
        try:
            self._enable_v2(base)
            parent = base / self.parent_name
            parent.mkdir(exist_ok=True)
            self._enable_v2(parent)
        except OSError as exc:
            log.info("cgroup v2 at %s is not usable: %s", base, exc)
            return None
        return _Layout(2, {"unified": parent})

    @staticmethod
    def _enable_v2(d: Path) -> None:
        have = set((_read(d / "cgroup.subtree_control") or "").split())
        missing = [c for c in V2_CONTROLLERS if c not in have]
        if missing:
            _write(d / "cgroup.subtree_control", " ".join("+" + c for c in missing))

    def _probe_v1(self, mounts: list[tuple[str, str, str, str]]) -> tuple[_Layout | None, str]:
        found: dict[str, Path] = {}
        for mountpoint, _root, fstype, opts in mounts:
            if fstype != "cgroup":
                continue
            for ctl in opts.split(","):
                if ctl in V1_REQUIRED + V1_OPTIONAL:
                    found.setdefault(ctl, Path(mountpoint))
        missing = [c for c in V1_REQUIRED if c not in found]
        if missing:
            return None, "no writable cgroup hierarchy" + (f" (v1 lacks {', '.join(missing)})" if found else "")
        # The hierarchy root, not our own cgroup: the path must be the same for every process of the app (the TUI
        # starts a sandbox, the CLI stops it), and v1 as root has no delegation to respect.
        parents: dict[str, Path] = {}
        for ctl, hierarchy in found.items():
            parent = hierarchy / self.parent_name
            try:
                parent.mkdir(exist_ok=True)
                if not os.access(parent / "cgroup.procs", os.W_OK):
                    raise PermissionError(errno.EACCES, "not writable", str(parent))
            except OSError as exc:
                if ctl in V1_REQUIRED:
                    return None, f"no writable cgroup hierarchy ({ctl}: {exc.strerror or exc})"
                log.info("v1 %s controller not usable: %s", ctl, exc)
                continue
            parents[ctl] = parent
        return _Layout(1, parents), ""

    # -- sandbox cgroups -----------------------------------------------------------------------------------------
    def _dirs(self, sandbox_id: str) -> dict[str, Path]:
        assert self._layout is not None
        return {ctl: parent / sandbox_id for ctl, parent in self._layout.parents.items()}

    def _mkdir_under_parent(self, d: Path) -> None:
        """Make one sandbox cgroup directory; remakes our parent first when it has gone since the probe (an
        administrator's cleanup, a cgroup tool removing empty groups), so a sandbox started later still gets its
        limits rather than none."""
        try:
            d.mkdir()
        except FileNotFoundError:
            d.parent.mkdir(exist_ok=True)
            if self._layout is not None and self._layout.version == 2:
                self._enable_v2(d.parent)
            log.info("cgroup parent %s was gone; made it again", d.parent)
            d.mkdir()

    def get(self, sandbox_id: str) -> Cgroup | None:
        _check_id(sandbox_id)
        if self._layout is None:
            return None
        dirs = self._dirs(sandbox_id)
        # an optional v1 controller this sandbox's cgroup was made without (an older version made it) is left out
        required = [ctl for ctl in dirs if ctl not in V1_OPTIONAL]
        if not all(dirs[ctl].is_dir() for ctl in required):
            return None
        present = {ctl: d for ctl, d in dirs.items() if ctl in required or d.is_dir()}
        return Cgroup(sandbox_id, self._layout.version, present)

    def ensure(self, sandbox_id: str, *, pids_max: int, memory_bytes: int, cpus: float) -> Cgroup | None:
        """Create the sandbox's cgroup, or update its limits; None when unavailable or creation failed."""
        _check_id(sandbox_id)
        if pids_max < 1 or memory_bytes < MEMORY_MIN or not cpus > 0:
            raise InvalidInput(f"invalid cgroup limits: pids={pids_max} memory={memory_bytes} cpus={cpus}")
        if self._layout is None:
            return None
        dirs = self._dirs(sandbox_id)
        created: list[Path] = []
        try:
            for d in dirs.values():
                if not d.is_dir():
                    self._mkdir_under_parent(d)
                    created.append(d)
        except OSError as exc:
            log.warning("could not create cgroup for %s: %s", sandbox_id, exc)
            for d in reversed(created):
                with contextlib.suppress(OSError):
                    d.rmdir()
            return None
        cg = Cgroup(sandbox_id, self._layout.version, dirs)
        try:
            if self._layout.version == 2:
                _limits_v2(dirs["unified"], pids_max, memory_bytes, cpus)
            else:
                _limits_v1(dirs, pids_max, memory_bytes, cpus)
        except OSError as exc:
            if created:
                # A fresh cgroup without its limits would claim bounds that are not there.
                log.warning("could not set cgroup limits for %s: %s", sandbox_id, exc)
                cg.remove()
                return None
            log.warning("could not update cgroup limits for %s (previous limits stay): %s", sandbox_id, exc)
        return cg


def _cpu_quota(cpus: float) -> int:
    return max(CPU_QUOTA_MIN_US, round(cpus * CPU_PERIOD_US))


def _limits_v2(d: Path, pids_max: int, memory_bytes: int, cpus: float) -> None:
    _write(d / "pids.max", str(pids_max))
    _write(d / "memory.max", str(memory_bytes))
    if (d / "memory.swap.max").exists():
        # memory.max does not count swap in v2: without this a sandbox could page its excess out.
        _write(d / "memory.swap.max", "0")
    _write(d / "cpu.max", f"{_cpu_quota(cpus)} {CPU_PERIOD_US}")


def _limits_v1(dirs: dict[str, Path], pids_max: int, memory_bytes: int, cpus: float) -> None:
    _write(dirs["pids"] / "pids.max", str(pids_max))
    mem = dirs["memory"]
    limit, memsw = mem / "memory.limit_in_bytes", mem / "memory.memsw.limit_in_bytes"
    if memsw.exists():
        # memsw (memory + swap) must stay >= the memory limit at every step, so the order depends on direction.
        try:
            _write(limit, str(memory_bytes))
            _write(memsw, str(memory_bytes))
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            _write(memsw, str(memory_bytes))
            _write(limit, str(memory_bytes))
    else:
        _write(limit, str(memory_bytes))
        # No swap accounting (swapaccount=0): the best we can do is ask the kernel not to swap this group.
        with contextlib.suppress(OSError):
            _write(mem / "memory.swappiness", "0")
    cpu = dirs["cpu"]
    _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
    _write(cpu / "cpu.cfs_quota_us", str(_cpu_quota(cpus)))
