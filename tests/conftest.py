"""Shared fixtures: a private sandbench home, the real LocalProvider and SandboxService over it, a sandbox.

Tests that need bubblewrap are marked `bwrap`; they skip when it is missing — except in CI (`CI=true`), where a
missing bubblewrap is a failure, because CI is where we prove the isolation.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def bwrap_available() -> bool:
    """The bwrap the tests would use ($SANDBENCH_BWRAP, else system, else bundled) exists."""
    from services.config import bwrap_setting_from_env
    from services.local.bwrap import resolve_bwrap

    return resolve_bwrap(bwrap_setting_from_env()) is not None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "bwrap" in item.keywords and not bwrap_available():
        if IN_CI:
            pytest.fail("bubblewrap is required in CI (apt-get install bubblewrap)")
        pytest.skip("bubblewrap (bwrap) is not installed")


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
    their data directory without deleting sandboxes; cgroups live outside it)."""
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
