"""services/periodic.py: a background pass that fails is logged and the next one still runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from services.periodic import every
from tests.conftest import wait_until


async def test_a_failed_pass_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    passes: list[int] = []

    async def run() -> None:
        passes.append(len(passes))
        if len(passes) == 1:
            raise RuntimeError("boom")

    log = logging.getLogger("sandbench.test-periodic")
    with caplog.at_level(logging.ERROR, logger=log.name):
        task = asyncio.ensure_future(every(0.01, run, "test pass", log))
        try:
            await wait_until(None, lambda: len(passes) >= 3, "three passes")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    failed = [r for r in caplog.records if r.name == log.name]
    assert [r.getMessage() for r in failed] == ["test pass failed"] and failed[0].exc_info is not None
