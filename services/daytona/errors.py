"""How the Daytona provider calls the SDK: bounded retries of idempotent calls, and every SDK (or network) error
translated into one `services.errors` type with one printable line and the API key masked.

The SDK, and aiohttp under it, are imported inside the functions, as in the provider: importing this module must
not load them (they cost a `sandbench --provider daytona` process over a second of CPU, and these functions only
run once an SDK call has failed, when both are loaded already).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.errors import (
    AlreadyExists,
    Conflict,
    FileNotFound,
    InvalidInput,
    NotRunning,
    OperationTimeout,
    PathRejected,
    PermissionDenied,
    ProviderError,
    SandbenchError,
    SandboxNotFound,
    SnapshotNotFound,
    TooLarge,
    bounded_details,
)
from services.text import first_line

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRIES = 3
BACKOFF = (0.2, 0.6, 1.5)  # seconds before each retry; bounded: an idempotent call costs at most ~2.3 s extra


def _message(text: str, secret: str | None) -> str:
    """An SDK message as one safe line of at most 240 characters, with `secret` masked (before anything else)."""
    if secret:
        text = text.replace(secret, "***")
    return first_line(text, 240, empty="no details")


def translate(exc: BaseException, op: str, *, kind: str, secret: str | None) -> SandbenchError:
    """Any error from the SDK (or the network under it) as one `services.errors` type with one printable line,
    the API key (`secret`) masked. `kind` says what was asked for (sandbox, file, snapshot, create, terminal), since
    a 404 or a 409 means something different for each. The server's whole message (a multi-line body), masked,
    goes with it as `details` for the details view (never onto `sandbench serve`'s wire, which sends `public`)."""
    error = _translate(exc, op, kind=kind, secret=secret)
    raw = getattr(exc, "message", None)
    if error is not exc and error.details is None and isinstance(raw, str):
        error.details = bounded_details(raw.replace(secret, "***") if secret else raw)
    return error


def _translate(exc: BaseException, op: str, *, kind: str, secret: str | None) -> SandbenchError:
    import aiohttp
    from daytona import (
        DaytonaAuthenticationError,
        DaytonaBadRequestError,
        DaytonaConflictError,
        DaytonaError,
        DaytonaFileNotFoundError,
        DaytonaForbiddenError,
        DaytonaInvalidFilePathError,
        DaytonaNotFoundError,
        DaytonaRateLimitError,
        DaytonaTimeoutError,
    )

    if isinstance(exc, SandbenchError):
        return exc
    if isinstance(exc, DaytonaError):
        msg = _message(exc.message if isinstance(exc.message, str) else str(exc), secret)
        status = exc.status_code
        if isinstance(exc, DaytonaFileNotFoundError) or (kind == "file" and status == 404 and "sandbox" not in msg):
            return FileNotFound(msg)
        if isinstance(exc, DaytonaNotFoundError):
            if kind == "snapshot":
                return SnapshotNotFound(msg)
            return SandboxNotFound(msg)
        if isinstance(exc, DaytonaAuthenticationError):
            return PermissionDenied("Daytona rejected the API key (check DAYTONA_API_KEY)")
        if isinstance(exc, DaytonaForbiddenError):
            return PermissionDenied(msg)
        if isinstance(exc, DaytonaInvalidFilePathError):
            return PathRejected(msg)
        if isinstance(exc, DaytonaConflictError):
            return AlreadyExists(msg) if kind in ("create", "file") else Conflict(msg)
        if isinstance(exc, DaytonaTimeoutError):
            return OperationTimeout(f"Daytona timed out during {op}")
        if isinstance(exc, DaytonaRateLimitError):
            return ProviderError("Daytona is rate limiting requests; try again shortly")
        if status == 413:
            return TooLarge(msg)
        if isinstance(exc, DaytonaBadRequestError):
            if "not running" in msg or "not started" in msg:
                return NotRunning(msg)
            return InvalidInput(msg)
        if status is not None and status >= 500:
            return ProviderError(f"Daytona server error during {op} ({status}): {msg}")
        if kind == "terminal" and status is None and "not found" in msg.lower():
            # the PTY WebSocket reports a missing session in its close frame, not as an HTTP status
            return FileNotFound(msg)
        if status is None and ("connect" in msg.lower() or "closed" in msg.lower()):
            return ProviderError(_unreachable(op, msg))
        return ProviderError(f"Daytona: {msg}")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return ProviderError(_unreachable(op, str(exc)), details=bounded_details(str(exc)))
    if isinstance(exc, asyncio.TimeoutError):
        return OperationTimeout(f"Daytona timed out during {op}")
    log.error("unexpected error from the Daytona SDK during %s", op, exc_info=exc)
    return ProviderError(f"Daytona: unexpected error during {op} (details in the log)")


_HOST = re.compile(r"[Cc]annot connect to host (\S+?)(?::443)? ssl:")
_WHY = (  # what aiohttp's and the OS's words mean, in the words of someone at the keyboard
    ("connect call failed", "nothing answers there (connection refused)"),
    ("connection refused", "nothing answers there (connection refused)"),
    ("name or service not known", "the host name is not known"),
    ("temporary failure in name resolution", "the host name could not be looked up"),
    ("timed out", "it did not answer in time"),
    ("certificate", "its TLS certificate was not accepted"),
    ("closed", "the connection was closed"),
)


def _unreachable(op: str, msg: str) -> str:
    """A connection failure as one plain line (the raw aiohttp text, with its socket tuples, goes to details)."""
    low = msg.lower()
    where = m.group(1) if (m := _HOST.search(msg)) else "the server"
    why = next((said for found, said in _WHY if found in low), "the connection failed")
    return f"cannot reach Daytona at {where} during {op}: {why}"


def unreachable(exc: BaseException) -> bool:
    """The server could not be reached at all (refused, reset): worth one retry, not several."""
    import aiohttp
    from daytona import DaytonaConnectionError

    return isinstance(exc, aiohttp.ClientConnectionError | ConnectionError | DaytonaConnectionError)


def retryable(exc: BaseException) -> bool:
    """Safe to try again if the call is idempotent: timeouts, 5xx and dropped connections."""
    import aiohttp
    from daytona import DaytonaConnectionError, DaytonaError, DaytonaTimeoutError

    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError | asyncio.TimeoutError):
        return True
    if isinstance(exc, DaytonaConnectionError | DaytonaTimeoutError):
        return not type(exc).__name__.startswith("DaytonaProcess")
    if isinstance(exc, DaytonaError):
        return (exc.status_code is not None and exc.status_code >= 500) or (
            exc.status_code is None and "connect" in str(exc).lower()
        )
    return False


async def call(
    op: str, fn: Callable[[], Awaitable[T]], *, secret: str | None, idempotent: bool = True, kind: str = "sandbox"
) -> T:
    """Run one SDK call: retried with bounded backoff when idempotent and the failure is transient, and any
    failure raised as a `services.errors` type (`translate`)."""
    attempts = RETRIES + 1 if idempotent else 1
    for attempt in range(attempts):
        try:
            return await fn()
        except SandbenchError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A refused connection already costs about a second inside the SDK: one retry rides out a server
            # restart without making a dead server take many seconds to report.
            gone = unreachable(exc)
            if attempt + 1 < attempts and retryable(exc) and not (gone and attempt >= 1):
                log.info("daytona %s failed (%s); retrying", op, type(exc).__name__)
                await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                continue
            log.debug("daytona %s failed", op, exc_info=exc)
            raise translate(exc, op, kind=kind, secret=secret) from exc
    raise AssertionError("unreachable")
