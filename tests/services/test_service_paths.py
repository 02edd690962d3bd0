"""Generated paths through SandboxService against a real local sandbox: refused or harmless, host untouched."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.config import Config
from services.errors import SandbenchError
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService

PIECES = ["a", "b", "..", ".", "/", "\x00", "link", "link-dir", "fifo", "é", "~", " ", "x" * 120, "-rf", "[bold]"]


def test_generated_paths_never_touch_the_host(config: Config, tmp_path: Path) -> None:
    # one event loop for the whole test: hypothesis calls a plain function per example
    loop = asyncio.new_event_loop()
    service = SandboxService(LocalProvider(config.data_dir), config)
    sandbox = loop.run_until_complete(service.create(SandboxSpec(name="fuzzed")))
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary"
    canary.write_text("host")
    before = canary.stat().st_mtime_ns
    ws = service.provider.workspace_path(sandbox.id)  # type: ignore[attr-defined]
    os.symlink(canary, ws / "link")  # planted by sandboxed code
    os.symlink(outside, ws / "link-dir")
    os.mkfifo(ws / "fifo")
    seen: list[str] = []

    async def attempt(path: str, data: bytes) -> None:
        for op in (
            service.read_file(sandbox.id, path),
            service.stat(sandbox.id, path),
            service.write_file(sandbox.id, path, data),
            service.list_dir(sandbox.id, path),
        ):
            try:
                await op
            except SandbenchError as exc:
                seen.append(type(exc).__name__)
                assert str(outside) not in str(exc)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join), st.binary(max_size=64))
    def check(path: str, data: bytes) -> None:
        loop.run_until_complete(attempt(path, data))

    try:
        check()
    finally:
        loop.run_until_complete(service.delete(sandbox.id))
        loop.run_until_complete(service.close())
        loop.close()
    assert canary.read_text() == "host" and canary.stat().st_mtime_ns == before
    assert sorted(p.name for p in outside.iterdir()) == ["canary"]
    assert "PathRejected" in seen  # the generator did reach the refusals
