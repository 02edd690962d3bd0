"""`tests.conftest.wait_until`, the one way the suite waits: what a timed-out wait says, and what it refuses."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import wait_until


async def test_a_timed_out_wait_names_its_condition_and_what_was_there() -> None:
    seen = ["nothing yet"]
    with pytest.raises(AssertionError) as failed:
        await wait_until(None, lambda: "ready" in seen, timeout=0.1, show=lambda: repr(seen))
    message = str(failed.value)
    assert 'lambda: "ready" in seen' in message  # the condition's own source, when no description was given
    assert "['nothing yet']" in message and "0.1 s" in message


async def test_it_waits_for_sync_and_async_conditions() -> None:
    loop = asyncio.get_running_loop()
    flag = asyncio.Event()
    loop.call_later(0.05, flag.set)
    await wait_until(None, flag.is_set, "the flag")

    async def answered() -> bool:
        await asyncio.sleep(0)
        return flag.is_set()

    await wait_until(None, answered, "the async check")


async def test_a_timeout_passed_where_the_description_goes_is_refused() -> None:
    with pytest.raises(TypeError, match="by keyword"):
        await wait_until(None, lambda: True, 5)  # type: ignore[arg-type]
