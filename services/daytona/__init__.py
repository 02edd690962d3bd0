"""The Daytona provider (DESIGN §3 `daytona.py`): the `Provider` protocol on the `daytona` SDK's `AsyncDaytona`.

`provider` (sandboxes, files, processes), `errors` (the SDK's errors as `services.errors` types, bounded retries),
`terminal` (PTY sessions that reconnect). `DaytonaProvider` is the package's one public name and is imported from
here; nothing in this package loads the SDK before the first call.
"""

from services.daytona.provider import DaytonaProvider

__all__ = ["DaytonaProvider"]
