"""The local session host (issue 11 §1): real bwrap shells on real PTYs, held by a real host process over its unix
socket. A shell outlives the provider (the app) that opened it; a new provider over the same data directory finds
it, replays its output and reaches the same shell; stop ends everything; the host exits when it holds nothing; the
socket is private, checked by both sides."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.config import Config
from services.errors import IsolationUnavailable, ProviderError, SandboxNotFound
from services.local import host_wire as hw
from services.local.host_client import stop_host
from services.local.host_procs import pids_of_uid
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxSpec, SandboxState
from services.sandbox_service import SandboxService
from services.terminal import TerminalSession
from tests.conftest import wait_until

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]


def host_pid(home: Path) -> int | None:
    try:
        pid = int(hw.pid_path(home).read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[:1] != ["Z"]


class Reader:
    """Collects a session's output in the background, so a test can wait for text."""

    def __init__(self, session: TerminalSession) -> None:
        self.session = session
        self.buf = bytearray()
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for chunk in self.session.output():
            self.buf.extend(chunk)

    async def wait_for(self, needle: bytes, timeout: float = 20.0) -> None:
        await wait_until(
            None,
            lambda: needle in self.buf,
            f"{needle!r} in the output",
            timeout,
            show=lambda: repr(bytes(self.buf[-300:])),
        )

    def stop(self) -> None:
        self.task.cancel()


def hosted(config: Config, **kw: Any) -> SandboxService:
    """A service as the app builds it: its local terminals live in the session host."""
    provider = LocalProvider(config.data_dir, owner_label=config.owner_label, session_host=True, **kw)
    return SandboxService(provider, config)


@pytest.fixture
async def app_service(config: Config) -> AsyncIterator[SandboxService]:
    svc = hosted(config)
    yield svc
    with contextlib.suppress(Exception):  # a test may have closed it (the app went away)
        await svc.close()
    # the host and every shell it holds end here (the home fixture then reaps what is left of the sandboxes)
    stop_host(config.data_dir)
    assert host_pid(config.data_dir) is None


@pytest.fixture
async def box(app_service: SandboxService) -> SandboxInfo:
    return await app_service.create(SandboxSpec(name="box"))


async def test_socket_is_private_and_the_host_exits_when_it_holds_nothing(
    app_service: SandboxService, box: SandboxInfo, config: Config
) -> None:
    home = config.data_dir
    term = await app_service.open_terminal(box.id, 80, 24)
    pid = host_pid(home)
    assert pid is not None and pid != os.getpid()
    sock = os.lstat(hw.socket_path(home))
    run = os.lstat(hw.run_dir(home))
    assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o600 and sock.st_uid == os.geteuid()
    assert stat.S_IMODE(run.st_mode) == 0o700
    out = Reader(term)
    await term.write(b"echo ready-$((6*7))\n")
    await out.wait_for(b"ready-42")
    await term.close()
    out.stop()
    await wait_until(None, lambda: not _alive(pid), "the host to exit once its last shell ended", timeout=20)
    assert not hw.socket_path(home).exists()


async def test_a_shell_outlives_the_app_and_reattaching_replays_its_output(
    app_service: SandboxService, box: SandboxInfo, config: Config
) -> None:
    term = await app_service.open_terminal(box.id, 80, 24)
    out = Reader(term)
    await term.write(b"export KEEP=kept-$((40+2)); sleep 1000 & echo started-$KEEP\n")
    await out.wait_for(b"started-kept-42")
    out.stop()
    await term.detach()  # type: ignore[attr-defined]
    await app_service.close()  # the app is gone: its provider, its connections

    again = hosted(config)  # a new app over the same data directory
    try:
        listed = await again.list_terminals(box.id)
        assert [t.id for t in listed] == [term.session_id]
        assert listed[0].active and listed[0].command in ("bash", "sh") and listed[0].attached == 0
        back = await again.attach_terminal(box.id, term.session_id)
        out = Reader(back)
        await out.wait_for(b"started-kept-42")  # the scrollback, replayed
        await back.write(b"echo got-$KEEP; jobs\n")
        await out.wait_for(b"got-kept-42")
        await out.wait_for(b"sleep 1000")
        await back.resize(91, 33)
        await back.write(b"stty size\n")
        await out.wait_for(b"33 91")
        await back.write(b"kill %1; exit 7\n")
        assert await asyncio.wait_for(back.wait(), 20) == 7
        assert back.exit_code == 7
        out.stop()
    finally:
        await again.close()


async def test_two_sandboxes_see_only_their_own_shells(
    app_service: SandboxService, box: SandboxInfo, config: Config
) -> None:
    other = await app_service.create(SandboxSpec(name="other"))
    a = await app_service.open_terminal(box.id, 80, 24)
    b = await app_service.open_terminal(other.id, 80, 24)
    assert [t.id for t in await app_service.list_terminals(box.id)] == [a.session_id]
    assert [t.id for t in await app_service.list_terminals(other.id)] == [b.session_id]
    with pytest.raises(SandboxNotFound):
        await app_service.attach_terminal(other.id, a.session_id)
    await a.close()
    await b.close()


async def test_stop_ends_every_shell_and_the_host_exits(
    app_service: SandboxService, box: SandboxInfo, config: Config
) -> None:
    provider = app_service.provider
    assert isinstance(provider, LocalProvider)
    for _ in range(2):
        term = await app_service.open_terminal(box.id, 80, 24)
        out = Reader(term)
        await term.write(b"sleep 1000 & echo bg-$!\n")
        await out.wait_for(b"bg-")
        out.stop()
        await term.detach()  # type: ignore[attr-defined]
    pid = host_pid(config.data_dir)
    assert pid is not None and len(await app_service.list_terminals(box.id)) == 2
    row = provider.store.get(box.id)
    assert row is not None
    await app_service.stop(box.id)
    assert (await app_service.get(box.id)).state is SandboxState.STOPPED
    # no process of the sandbox is left: none of its outer bwraps, none of its dedicated uid (root mode)
    assert provider.launcher.live_pids(box.id) == []
    if row.uid is not None:
        assert pids_of_uid(row.uid) == []
    await wait_until(None, lambda: not _alive(pid), "the host to exit once stop ended its shells", timeout=20)


async def test_the_client_refuses_a_socket_that_is_not_private(
    app_service: SandboxService, box: SandboxInfo, config: Config
) -> None:
    term = await app_service.open_terminal(box.id, 80, 24)
    path = hw.socket_path(config.data_dir)
    os.chmod(path, 0o666)
    try:
        with pytest.raises(ProviderError) as err:
            await app_service.open_terminal(box.id, 80, 24)
        assert "not private" in str(err.value)
    finally:
        os.chmod(path, 0o600)
    await term.close()


def as_uid(uid: int, path: Path) -> str:
    """Connect to the host's socket as another uid (a forked child that drops to it) and send a request: what came
    back ("refused" at connect, "closed" without a reply, or "reply")."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: system calls only, then _exit
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(path))
            except OSError:
                os.write(w, b"refused")
                os._exit(0)
            try:
                s.sendall(hw.json_frame({"op": "list", "sandbox": "x"}))
                s.settimeout(10)
                got = s.recv(100)
            except OSError:  # reset: the host closed on us
                got = b""
            os.write(w, b"reply" if got else b"closed")
        finally:
            os._exit(0)
    os.close(w)
    try:
        return os.read(r, 100).decode()
    finally:
        os.close(r)
        os.waitpid(pid, 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another uid")
async def test_another_uid_cannot_reach_the_shells(
    app_service: SandboxService, box: SandboxInfo, config: Config
) -> None:
    term = await app_service.open_terminal(box.id, 80, 24)
    path = hw.socket_path(config.data_dir)
    assert len(str(path)) <= hw.MAX_SUN_PATH
    # the folder and socket modes keep another uid out ...
    assert as_uid(65534, path) == "refused"
    # ... and were they opened up, the host's own peer check (SO_PEERCRED) still would
    base = config.data_dir.parent  # the test's 0700 temp folder
    for folder in (base, hw.run_dir(config.data_dir)):
        os.chmod(folder, 0o711)
    os.chmod(path, 0o666)
    try:
        assert as_uid(65534, path) == "closed"
    finally:
        os.chmod(path, 0o600)
        os.chmod(hw.run_dir(config.data_dir), 0o700)
        os.chmod(base, 0o700)
    await term.close()


async def test_a_shell_the_host_cannot_start_says_why(config: Config) -> None:
    svc = hosted(config, bwrap="/nonexistent/bwrap")
    try:
        info = await svc.create(SandboxSpec(name="nobwrap"))
    except IsolationUnavailable:
        info = None  # creating needs no process; on machines where it does, the error is the same kind
    try:
        if info is not None:
            with pytest.raises(IsolationUnavailable) as err:
                await svc.open_terminal(info.id, 80, 24)
            assert "\n" not in str(err.value) and "bwrap" in str(err.value).lower()
    finally:
        for row in svc.provider.store.all():  # type: ignore[attr-defined]
            await svc.provider.delete(row.id)
        await svc.close()
        stop_host(config.data_dir)


async def test_a_detached_quiet_shell_counts_as_idle_for_auto_stop(
    app_service: SandboxService, box: SandboxInfo
) -> None:
    term = await app_service.open_terminal(box.id, 80, 24)
    assert app_service.is_busy(box.id)  # a shell on screen keeps the sandbox up
    await term.detach()  # type: ignore[attr-defined]
    assert not app_service.is_busy(box.id)
    # no output and no input since: idle once the interval has passed (an hour from now is past any default)
    stopped = await app_service.reap_idle(now=time.time() + 3600 * 24)
    assert stopped == [box.id]
    assert await app_service.list_terminals(box.id) == []


def test_a_long_data_dir_still_gets_a_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = deep / "host.sock"
    with hw.address(path) as addr:
        assert len(addr) <= hw.MAX_SUN_PATH
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(addr)
        srv.listen(1)
    assert path.exists()
    with hw.address(path) as addr:
        cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cli.connect(addr)
    cli.close()
    srv.close()


async def test_the_host_stops_a_sandbox_left_with_only_quiet_detached_shells(config: Config) -> None:
    """The host's own auto-stop pass (it runs when no app does): detached and quiet past the interval → stopped,
    its shells ended; a shell with a client attached keeps the sandbox up."""
    from services.local.session_host import SessionHost

    setup = LocalProvider(config.data_dir, owner_label=config.owner_label)
    svc = SandboxService(setup, config)
    info = await svc.create(SandboxSpec(name="idle", auto_stop_minutes=1))
    host = SessionHost(config.data_dir)
    try:
        session = await host._open({"op": "open", "sandbox": info.id, "cols": 80, "rows": 24})
        client = session.attach()  # a client attached: busy, never stopped
        assert await host.reap_idle(now=time.time() + 3600) == []
        session.detach(client)
        assert await host.reap_idle(now=time.time() + 30) == []  # within the interval
        assert await host.reap_idle(now=time.time() + 3600) == [info.id]
        assert len(host.ptys) == 0
        assert (await svc.get(info.id)).state is SandboxState.STOPPED
    finally:
        await host.close()
        await svc.close()
