"""Background passes that run at an interval for as long as their owner lives (the service's lifecycle reaper, the
session host's auto-stop): one loop, so a pass that fails is logged and the next one still runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def every(interval: float, run: Callable[[], Awaitable[object]], what: str, log: logging.Logger) -> None:
    """Await `run()` every `interval` seconds (the first after one interval) until cancelled. A pass that raises is
    logged to the owner's `log` as "`what` failed", with its traceback, and the loop goes on."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run()
        except Exception:
            log.exception("%s failed", what)
