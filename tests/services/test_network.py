"""User-mode networking for sandboxes, against real bwrap and slirp4netns (services/local/network.py).

A sandbox with network gets its own namespace with a tap device; the host's loopback services must stay out of
reach (both as 127.0.0.1 inside, which is the sandbox's own loopback, and through slirp's gateway 10.0.2.2), while
the host's real addresses are reachable — which shows networking works at all without needing the internet. The
control test runs slirp4netns without `--disable-host-loopback` and shows the gateway path is real, so the main
test would notice if the flag went missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.errors import IsolationUnavailable
from services.local import network
from services.local.network import SlirpNetwork
from tests.conftest import bwrap_program, require

pytestmark = pytest.mark.bwrap

SANDBOX_UID = 60001
BANNER = b"sandbench-host-server\n"

# Runs inside the sandbox: argv[1] is a JSON list of [host, port]; prints interfaces and connection outcomes.
PROBE = r"""
import errno, json, socket, subprocess, sys
addrs = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout.split("\n")
ifaces = {}
for line in addrs:
    parts = line.split()
    if len(parts) >= 4:
        ifaces.setdefault(parts[1], []).append(parts[3].split("/")[0])
links = [l.split(":")[1].strip().split("@")[0] for l in subprocess.run(["ip", "-o", "link"], capture_output=True,
         text=True).stdout.splitlines() if l.strip()]
out = {}
for host, port in json.loads(sys.argv[1]):
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.settimeout(3)
            out[f"{host}:{port}"] = "banner" if s.recv(64).startswith(b"sandbench-host-server") else "no-banner"
    except OSError as exc:
        out[f"{host}:{port}"] = errno.errorcode.get(exc.errno, "timeout") if exc.errno else "timeout"
print(json.dumps({"ifaces": ifaces, "links": links, "connect": out}))
"""


class Server:
    """A TCP server on the host that greets every client with BANNER."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                with contextlib.suppress(OSError):
                    conn.sendall(BANNER)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=5)


def host_address() -> str | None:
    """A non-loopback IPv4 address of this host, if it has one."""
    out = subprocess.run([require("ip"), "-4", "-o", "addr"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            addr = ipaddress.ip_address(parts[3].split("/")[0])
            if not addr.is_loopback and not addr.is_link_local:
                return str(addr)
    return None


@pytest.fixture(scope="module")
def loopback_server() -> Iterator[Server]:
    s = Server("127.0.0.1")
    yield s
    s.close()


@pytest.fixture(scope="module")
def lan_server() -> Iterator[Server | None]:
    addr = host_address()
    s = Server(addr) if addr else None
    yield s
    if s:
        s.close()


def need_slirp() -> None:
    """slirp4netns must be installed (a missing program fails the test); a host without a usable tun device is a
    condition no package fixes, so that alone skips."""
    require("slirp4netns")
    if not network.slirp_available():
        pytest.skip(f"{network.TUN_DEVICE} is missing or not usable by this user: no user-mode networking here")


def _drop() -> None:
    os.setgroups([])
    os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)


def proc_uids(pid: int) -> set[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(x) for x in line.split()[1:]}
    raise AssertionError("no Uid line")


def _read_info(fd: int) -> dict[str, Any]:
    data = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        with contextlib.suppress(ValueError):
            return dict(json.loads(data))
    raise AssertionError(f"bwrap wrote no info: {data!r}")


async def run_sandboxed(targets: list[tuple[str, int]], *, with_network: bool) -> dict[str, Any]:
    as_root = os.geteuid() == 0
    info_r, info_w = os.pipe()
    block_r, block_w = os.pipe()
    require("ip")  # the probe lists interfaces with it, inside the sandbox (the host's /usr)
    argv = [
        bwrap_program(),
        "--unshare-user", "--unshare-net", "--unshare-pid",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--proc", "/proc", "--dev", "/dev",
        "--info-fd", str(info_w), "--block-fd", str(block_r),
        "--", "python3", "-c", PROBE, json.dumps(targets),
    ]  # fmt: skip
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(info_w, block_r),
            preexec_fn=_drop if as_root else None,
            env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
            cwd="/",
        )
    finally:
        os.close(info_w)
        os.close(block_r)
    net: SlirpNetwork | None = None
    try:
        loop = asyncio.get_running_loop()
        info = await asyncio.wait_for(loop.run_in_executor(None, _read_info, info_r), 10)
        if with_network:
            uid = SANDBOX_UID if as_root else None
            net = await SlirpNetwork.attach(int(info["child-pid"]), uid=uid, gid=uid)
            # slirp4netns runs as the sandbox's uid, never as root for a sandbox that is not
            assert proc_uids(net.process.pid) == {SANDBOX_UID if as_root else os.getuid()}
        os.write(block_w, b"go")
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        return dict(json.loads(out))
    finally:
        os.close(info_r)
        os.close(block_w)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if net is not None:
            await net.close()
            assert net.process.returncode is not None


def _targets(loopback: Server, lan: Server | None) -> list[tuple[str, int]]:
    t = [("127.0.0.1", loopback.port), (network.GATEWAY_IP, loopback.port)]
    if lan is not None:
        t.append((lan.host, lan.port))
    return t


async def test_network_on_has_tap_reaches_host_but_not_host_loopback(
    loopback_server: Server, lan_server: Server | None
) -> None:
    need_slirp()
    before = loopback_server.accepted
    res = await run_sandboxed(_targets(loopback_server, lan_server), with_network=True)
    assert res["ifaces"].get("tap0") == [network.SANDBOX_IP]
    conn = res["connect"]
    # 127.0.0.1 inside is the sandbox's own loopback; the gateway must not forward to the host's
    assert conn[f"127.0.0.1:{loopback_server.port}"] == "ECONNREFUSED"
    assert conn[f"{network.GATEWAY_IP}:{loopback_server.port}"] != "banner"
    assert loopback_server.accepted == before
    if lan_server is None:
        pytest.skip("no non-loopback address on this host to show networking works")
    assert conn[f"{lan_server.host}:{lan_server.port}"] == "banner"


async def test_without_host_loopback_flag_the_gateway_reaches_host_loopback(
    loopback_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control: the gateway path to the host's loopback is real, so the test above would catch a missing flag."""
    need_slirp()
    flags = tuple(f for f in network.SLIRP_FLAGS if f != "--disable-host-loopback")
    assert flags != network.SLIRP_FLAGS
    monkeypatch.setattr(network, "SLIRP_FLAGS", flags)
    res = await run_sandboxed([(network.GATEWAY_IP, loopback_server.port)], with_network=True)
    assert res["connect"][f"{network.GATEWAY_IP}:{loopback_server.port}"] == "banner"


async def test_network_off_has_only_loopback(loopback_server: Server, lan_server: Server | None) -> None:
    res = await run_sandboxed(_targets(loopback_server, lan_server), with_network=False)
    assert res["links"] == ["lo"]
    assert set(res["ifaces"]) <= {"lo"}
    for target, outcome in res["connect"].items():
        if target.startswith("127.0.0.1:"):
            assert outcome == "ECONNREFUSED"
        else:
            assert outcome == "ENETUNREACH", target


async def test_refuses_the_hosts_own_namespace() -> None:
    require("slirp4netns")
    with pytest.raises(IsolationUnavailable, match="host's network namespace"):
        await SlirpNetwork.attach(os.getpid(), uid=SANDBOX_UID, gid=SANDBOX_UID)


async def test_missing_process_is_an_isolation_error() -> None:
    require("slirp4netns")
    with pytest.raises(IsolationUnavailable, match="failed to start"):
        await SlirpNetwork.attach(2**22 + 7, uid=SANDBOX_UID, gid=SANDBOX_UID)


async def test_slirp_that_never_gets_ready_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # a stand-in that ignores its arguments and hangs, readable by the sandbox uid
    d = Path(tempfile.mkdtemp(prefix="sandbench-slirp-"))
    try:
        os.chmod(d, 0o755)
        fake = d / "slirp4netns"
        pidfile = d / "pid"
        pidfile.touch(mode=0o666)
        pidfile.chmod(0o666)
        fake.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 30\n")
        fake.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        monkeypatch.setattr(network, "_slirp_binary", lambda: str(fake))
        monkeypatch.setitem(network._FEATURES, str(fake), frozenset())
        monkeypatch.setattr(network, "READY_TIMEOUT", 0.5)
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        proc = subprocess.Popen(
            [bwrap_program(), "--unshare-user", "--unshare-net", "--ro-bind", "/usr", "/usr",
             "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
             "--info-fd", str(info_w), "--block-fd", str(block_r), "--", "true"],
            pass_fds=(info_w, block_r),
            preexec_fn=_drop if os.geteuid() == 0 else None,
        )  # fmt: skip
        os.close(info_w)
        os.close(block_r)
        try:
            pid = int(_read_info(info_r)["child-pid"])
            started = asyncio.get_running_loop().time()
            with pytest.raises(IsolationUnavailable, match="failed to start"):
                await SlirpNetwork.attach(pid, uid=SANDBOX_UID, gid=SANDBOX_UID)
            assert asyncio.get_running_loop().time() - started < 3
            hung = int(pidfile.read_text())
            assert not Path(f"/proc/{hung}").exists(), "the stand-in was left running"
        finally:
            os.write(block_w, b"x")
            os.close(block_w)
            os.close(info_r)
            proc.wait(timeout=10)
    finally:
        for f in d.iterdir():
            f.unlink()
        d.rmdir()


def test_resolv_conf_points_at_slirp_dns() -> None:
    assert network.resolv_conf() == b"nameserver 10.0.2.3\n"
