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
import json
import logging
import os
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
from services.local import host_procs, launch_child, mount_points, seccomp
from services.local.bwrap import fix_for, missing_reason, probe_failure, resolve_bwrap
from services.local.cgroups import Cgroup, CgroupManager
from services.local.host_procs import proc_starttime  # noqa: F401  (the provider reads it from here)
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
        self._mount_point = mount_points.workspace_mount_point() if os.geteuid() == 0 else None
        self._volume_points = mount_points.volume_mount_points() if self._mount_point is not None else None

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
                    *("--ro-bind", "/usr", "/usr", *mount_points.usr_links(), "--", "/usr/bin/true"),
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
            return choice, False, probe_failure(choice, detail)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("bwrap probe (%s) failed: %s", choice.path, exc)
            return (
                choice,
                False,
                (
                    f"the {choice.source} bubblewrap cannot be run by the sandbox's user (details in the log file): "
                    + fix_for(choice)
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
        """What the forked child runs before exec'ing bwrap for `rt` (see `launch_child.make_preexec`)."""
        return launch_child.make_preexec(
            procs_files=cgroup.procs_files if cgroup else (),
            uid=rt.uid,
            gid=rt.gid,
            rlimits=launch_child.rlimits(
                rt.resources, cpu_seconds, dedicated_uid=rt.uid is not None, cgroup=cgroup is not None
            ),
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
        a += ["--ro-bind", "/usr", "/usr", *mount_points.usr_links()]
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
            pids_max=max(64, launch_child.PIDS_PER_CPU * max(1, rt.resources.cpu)),
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
            blocked = mount_points.untraversable_folder(rt.workspace)
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
                    "bwrap",  # argv[0] as the sandbox's `ps` shows it: the host's install path stays out of it
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
                    executable=choice.path,
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
        return host_procs.record_pid(self.run_dir / sandbox_id, pid)

    def live_pids(self, sandbox_id: str) -> list[int]:
        """Outer bwrap pids of this sandbox that are still alive (started by any process of ours)."""
        return host_procs.recorded_live_pids(self.run_dir / sandbox_id)

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
            host_procs.kill_uid(uid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = self.live_pids(sandbox_id) + (host_procs.pids_of_uid(uid) if uid is not None else [])
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
