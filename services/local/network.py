"""User-mode networking for a sandbox that asked for network: slirp4netns attached to the sandbox's own network
namespace, with the host's loopback unreachable.

The sandbox never shares the host's network namespace (`--share-net` would hand it every service listening on the
host's 127.0.0.1). bwrap creates a fresh namespace (`--unshare-net`), reports its child's pid on `--info-fd` and
waits on `--block-fd`; `SlirpNetwork.attach` then plugs a tap device into that namespace, and the launcher lets
bwrap go on. slirp4netns runs as the sandbox's own uid (never root when the sandbox is not), with a scrubbed
environment and its own seccomp filter, and exits when `close()` closes its exit fd — or when we die, since the
kernel closes that fd for us.

Facts this module is built on (measured with bwrap 0.8 and slirp4netns 1.2):
- bwrap with `--dev` builds a second, nested user namespace for the sandboxed process, so `/proc/PID/ns/user` is
  NOT the namespace that owns the network namespace and slirp4netns fails `setns(CLONE_NEWNET)` with EPERM. We ask
  the kernel for the owner (`NS_GET_USERNS` on the netns fd) and hand slirp4netns both namespaces as fds
  (`--netns-type=path`, paths under `/proc/self/fd`), which also removes any pid-reuse race.
- slirp4netns opens `/dev/net/tun` itself. Where that node is root-only (hosts without udev create it 0600), and we
  are root, the child gets a private mount namespace with its own tun node owned by the sandbox uid, so slirp4netns
  still never runs as root. The host's `/dev` is untouched.
- `--enable-sandbox` does not work with bwrap's user namespaces (slirp4netns fails `setegid(0)`);
  `--enable-seccomp` does, and is used when the binary offers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import stat
import subprocess
from collections import deque
from collections.abc import Callable

from services.errors import IsolationUnavailable

log = logging.getLogger(__name__)

SLIRP_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
TUN_DEVICE = "/dev/net/tun"
TAP_NAME = "tap0"
SANDBOX_IP = "10.0.2.100"
GATEWAY_IP = "10.0.2.2"
DNS_IP = "10.0.2.3"
READY_TIMEOUT = 5.0
EXIT_TIMEOUT = 5.0
# --disable-host-loopback: without it, 10.0.2.2:PORT inside reaches 127.0.0.1:PORT on the host.
SLIRP_FLAGS: tuple[str, ...] = ("--configure", "--mtu=65520", "--disable-host-loopback")

NS_GET_USERNS = 0xB701  # <linux/nsfs.h> _IO(0xb7, 0x1)
CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x8, 0x4000, 0x40000

_libc = ctypes.CDLL(None, use_errno=True)
_FEATURES: dict[str, frozenset[str]] = {}


def resolv_conf() -> bytes:
    """What the launcher binds at /etc/resolv.conf in a networked sandbox: slirp4netns's DNS forwarder."""
    return f"nameserver {DNS_IP}\n".encode()


def _slirp_binary() -> str | None:
    return shutil.which("slirp4netns", path=SLIRP_PATH)


def slirp_available() -> bool:
    """slirp4netns is installed and the tun device usable: by anyone when we are root (a sandbox uid gets a private
    node, see the module docstring), else by our own uid."""
    return unavailable_reason() is None


def unavailable_reason() -> str | None:
    """Why a sandbox with network cannot run here, in one line with the fix; None when it can."""
    if _slirp_binary() is None:
        return (
            "this sandbox has network on, and its user-mode networking needs slirp4netns: install it "
            "(apt-get install slirp4netns), "
            "or use a sandbox with network off"
        )
    if not os.path.exists(TUN_DEVICE):
        return f"this sandbox has network on, which needs {TUN_DEVICE}: load the tun module (modprobe tun)"
    if os.geteuid() != 0 and not _may_open_tun(os.geteuid(), os.getegid()):
        return (
            f"this sandbox has network on, and its user-mode networking needs {TUN_DEVICE} readable and writable by "
            f"this user (chmod 0666 {TUN_DEVICE}, as udev sets it), or use a sandbox with network off"
        )
    return None


async def _features(binary: str) -> frozenset[str]:
    """Long options this slirp4netns understands (from --help), probed once per binary."""
    if binary not in _FEATURES:
        found: set[str] = set()
        try:
            proc = await asyncio.create_subprocess_exec(
                binary,
                "--help",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={"PATH": SLIRP_PATH},
            )
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=5)
            found = {tok.split("=")[0] for tok in out.decode(errors="replace").split() if tok.startswith("--")}
        except (OSError, TimeoutError):
            log.warning("could not probe %s --help", binary, exc_info=True)
        _FEATURES[binary] = frozenset(found)
    return _FEATURES[binary]


def _may_open_tun(uid: int, gid: int) -> bool:
    try:
        st = os.stat(TUN_DEVICE)
    except OSError:
        return False
    if st.st_uid == uid:
        want = stat.S_IRUSR | stat.S_IWUSR
    elif st.st_gid == gid:
        want = stat.S_IRGRP | stat.S_IWGRP
    else:
        want = stat.S_IROTH | stat.S_IWOTH
    return st.st_mode & want == want


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _make_preexec(uid: int | None, gid: int | None, private_tun: bool) -> Callable[[], None] | None:
    """Runs in the forked child before exec: optionally a private tun node, then the drop to the sandbox uid."""
    if uid is None and gid is None:
        return None

    def preexec() -> None:
        if private_tun and uid is not None:
            # A mount namespace of its own, so the node we create is seen by this slirp4netns only; private first,
            # so the tmpfs does not propagate back to the host. The tmpfs must allow devices (no MS_NODEV).
            _check(_libc.unshare(CLONE_NEWNS), "unshare")
            _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
            _check(_libc.mount(b"tmpfs", b"/dev/net", b"tmpfs", MS_NOSUID | MS_NOEXEC, b"mode=0755,size=16k"), "tmpfs")
            os.mknod(TUN_DEVICE, stat.S_IFCHR | 0o600, os.makedev(10, 200))  # misc 10:200 is the tun device
            os.chown(TUN_DEVICE, uid, -1 if gid is None else gid)
        os.setgroups([])
        if gid is not None:
            os.setresgid(gid, gid, gid)
        if uid is not None:
            os.setresuid(uid, uid, uid)

    return preexec


class SlirpNetwork:
    """A running slirp4netns serving one sandbox's network namespace."""

    def __init__(self, process: asyncio.subprocess.Process, exit_fd: int, output: asyncio.Task[None]) -> None:
        self.process = process
        self._exit_fd: int | None = exit_fd
        self._output = output

    @classmethod
    async def attach(cls, child_pid: int, *, uid: int | None, gid: int | None) -> SlirpNetwork:
        """Give the network namespace of `child_pid` (bwrap's child, blocked on --block-fd) a tap device, routed
        through user-mode networking. Raises IsolationUnavailable when that cannot be done."""
        binary = _slirp_binary()
        if binary is None:
            raise IsolationUnavailable(unavailable_reason() or "slirp4netns is not installed")
        if os.geteuid() != 0:
            # Not root: we can only run it as ourselves, which is what the sandbox runs as too.
            if uid not in (None, os.geteuid()) or gid not in (None, os.getegid()):
                raise IsolationUnavailable(f"cannot run user-mode networking as uid {uid} without root")
            uid = gid = None
        elif uid is None:
            log.warning("slirp4netns for pid %s runs as root: no sandbox uid was given", child_pid)
        features = await _features(binary)
        netns_fd = userns_fd = -1
        ready_r = ready_w = exit_r = exit_w = -1
        try:
            try:
                netns_fd = os.open(f"/proc/{child_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                if os.fstat(netns_fd).st_ino == os.stat("/proc/self/ns/net").st_ino:
                    # Plugging a tap into our own namespace would put the sandbox's traffic on the host's network.
                    raise IsolationUnavailable("refusing to attach networking to the host's network namespace")
                userns_fd = fcntl.ioctl(netns_fd, NS_GET_USERNS)
            except OSError as exc:
                log.warning("cannot reach the network namespace of pid %s: %s", child_pid, exc)
                raise IsolationUnavailable("user-mode networking failed to start") from exc
            ready_r, ready_w = os.pipe()
            exit_r, exit_w = os.pipe()
            # root may not open a 0600 tun node once it is the sandbox uid: give that uid a node of its own
            private_tun = os.geteuid() == 0 and uid is not None and not _may_open_tun(uid, -1 if gid is None else gid)
            argv = [
                binary,
                *SLIRP_FLAGS,
                *(["--enable-seccomp"] if "--enable-seccomp" in features else []),
                f"--ready-fd={ready_w}",
                f"--exit-fd={exit_r}",
                "--netns-type=path",
                f"--userns-path=/proc/self/fd/{userns_fd}",
                f"/proc/self/fd/{netns_fd}",
                TAP_NAME,
            ]
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env={"PATH": SLIRP_PATH},
                    pass_fds=(ready_w, exit_r, netns_fd, userns_fd),
                    preexec_fn=_make_preexec(uid, gid, private_tun),
                    start_new_session=True,
                    cwd="/",
                )
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("could not start slirp4netns: %s", exc)
                raise IsolationUnavailable("user-mode networking failed to start") from exc
        except BaseException:
            for fd in (exit_w, ready_r):
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            # The child holds its copies; ours would keep the pipes open past slirp4netns's death.
            for fd in (netns_fd, userns_fd, ready_w, exit_r):
                if fd >= 0:
                    os.close(fd)
        tail: deque[str] = deque(maxlen=20)
        assert process.stdout is not None
        output = asyncio.create_task(_drain(process.stdout, tail, child_pid))
        net = cls(process, exit_w, output)
        try:
            ready = await _wait_ready(ready_r, READY_TIMEOUT)
        finally:
            os.close(ready_r)
        if not ready:
            net._kill()
            await net.close()
            log.warning("slirp4netns for pid %s did not become ready: %s", child_pid, " | ".join(tail) or "no output")
            raise IsolationUnavailable("user-mode networking failed to start")
        log.debug("slirp4netns %s serves pid %s", process.pid, child_pid)
        return net

    async def close(self) -> None:
        """Stop slirp4netns: closing the exit fd is its signal to exit; kill it if it does not."""
        if self._exit_fd is not None:
            os.close(self._exit_fd)
            self._exit_fd = None
        try:
            await asyncio.wait_for(self.process.wait(), timeout=EXIT_TIMEOUT)
        except TimeoutError:
            log.warning("slirp4netns %s ignored its exit fd; killing it", self.process.pid)
            self._kill()
            await self.process.wait()
        # A helper child that inherited the output pipe must not keep close() waiting.
        try:
            await asyncio.wait_for(self._output, timeout=1.0)
        except (TimeoutError, asyncio.CancelledError):
            pass

    def _kill(self) -> None:
        # its own session and process group (start_new_session): this takes its helper child too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


async def _drain(stream: asyncio.StreamReader, tail: deque[str], child_pid: int) -> None:
    # slirp4netns talks on stdout/stderr; an unread pipe would eventually block it.
    while line := await stream.readline():
        text = line.decode(errors="replace").rstrip()
        tail.append(text)
        log.debug("slirp4netns[%s]: %s", child_pid, text)


async def _wait_ready(fd: int, timeout: float) -> bool:
    """True once slirp4netns writes "1" to its ready fd; False on EOF (it died) or after `timeout`."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    done: asyncio.Future[bool] = loop.create_future()

    def on_readable() -> None:
        try:
            data = os.read(fd, 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not done.done():
            done.set_result(data.startswith(b"1"))

    loop.add_reader(fd, on_readable)
    try:
        return await asyncio.wait_for(done, timeout)
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
