"""services/local/netns.py without root: the namespace helper joins a bwrap's user namespace, then its network
namespace, and the socket it hands back reaches a server listening only inside (the path `sandbench serve` takes
when run by a normal user; test_server_preview.py covers the root path through the whole server).

Run as an unprivileged process for real: as ourselves when we are not root, else as `nobody` (with the system's
python3: the venv's interpreter may sit under a folder `nobody` cannot enter, as /root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import bwrap_program, require
from tests.services.serve_helpers import REPO

pytestmark = pytest.mark.bwrap

SCRIPT = r"""
import asyncio, os, socket, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from services.local import netns

async def main():
    assert os.geteuid() != 0
    server = subprocess.Popen(
        [sys.argv[2], "--unshare-user", "--unshare-net", "--unshare-pid", "--die-with-parent", "--dev", "/dev",
         "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
         "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--",
         "/usr/bin/python3", "-m", "http.server", "8123", "--bind", "127.0.0.1", "-d", "/usr/share"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not (found := netns.listeners([server.pid], 8123)):
            assert time.monotonic() < deadline, "the server never listened"
            await asyncio.sleep(0.05)
        here = asyncio.get_running_loop()
        try:
            socket.create_connection(("127.0.0.1", 8123), timeout=1).close()
            print("REACHABLE FROM THE HOST")  # must not happen: the namespace is the sandbox's own
        except OSError:
            pass
        helper = await netns.NsSocketHelper.start(found[0].pid, found[0].netns)
        sock = await helper.new_socket(found[0].family)
        await here.sock_connect(sock, (found[0].address, 8123))
        await here.sock_sendall(sock, b"GET / HTTP/1.0\r\n\r\n")
        print((await here.sock_recv(sock, 64)).decode(errors="replace").splitlines()[0])
        sock.close()
        await helper.close()
    finally:
        server.kill()
        server.wait()

asyncio.run(main())
"""


def test_helper_reaches_a_listener_inside_a_user_and_network_namespace_without_root(tmp_path: Path) -> None:
    code = str(REPO)
    if os.geteuid() == 0:
        # the host's python3, which nobody can run (the venv may sit under a 0700 folder), and a copy of the code
        # nobody can read (so may the checkout: CI clones into a 0700 folder)
        argv = [require("runuser"), "-u", "nobody", "--", "/usr/bin/python3"]
        base = Path(tempfile.mkdtemp(prefix="sandbench-netns-", dir="/tmp"))
        os.chmod(base, 0o755)
        shutil.copytree(REPO / "services", base / "services", ignore=shutil.ignore_patterns("__pycache__"))
        for folder, dirs, files in os.walk(base):
            for name in dirs:
                os.chmod(os.path.join(folder, name), 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        code = str(base)
    else:
        argv = [sys.executable]
    try:
        res = subprocess.run(
            [*argv, "-c", SCRIPT, code, bwrap_program()], capture_output=True, text=True, timeout=60, cwd="/"
        )
    finally:
        if code != str(REPO):
            shutil.rmtree(code, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "REACHABLE FROM THE HOST" not in res.stdout
    assert res.stdout.strip() == "HTTP/1.0 200 OK"
