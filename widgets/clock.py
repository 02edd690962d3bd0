"""The time ages are shown against: the app's own clock when it has one (`SandbenchApp.clock`, fixed in snapshot
tests so relative times are stable), else the real time in UTC. One place, so every widget and screen reads the
clock the same way."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The real time, timezone-aware (UTC): the default clock."""
    return datetime.now(UTC)


def app_now(app: object) -> datetime:
    """`app.clock()` when the app has a clock that gives a datetime, else `utc_now()`."""
    clock = getattr(app, "clock", None)
    now = clock() if callable(clock) else None
    return now if isinstance(now, datetime) else utc_now()
