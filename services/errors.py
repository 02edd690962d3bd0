"""The service's own error types. Every error has a short, user-readable message and a title.

Providers translate their raw exceptions into these (chaining the original with `raise ... from exc` so the log
keeps it); the UI shows `str(error)` and never a traceback. `exit_code` is what the CLI exits with. `details` is
the full text behind the one line, when there is more (every line a git hook printed, a rejected push's report, a
server's error body): the UI offers it in a scrollable details view, bounded at `MAX_DETAILS` characters here.
"""

from __future__ import annotations

MAX_DETAILS = 1 << 20  # characters of `details` kept: a hook that prints forever costs at most this (1 MiB)
CUT_NOTE = "\n… (cut at 1 MiB)"


def bounded_details(text: str | None) -> str | None:
    """`text` cut at `MAX_DETAILS` characters (saying so), None when blank."""
    if text is None or not text.strip():
        return None
    return text if len(text) <= MAX_DETAILS else text[:MAX_DETAILS] + CUT_NOTE


class SandbenchError(Exception):
    """`message` is for the person at this machine (it may name the data dir's files); `public` is what leaves
    the machine (`sandbench serve`'s answers): the same unless the message holds host detail. `details` is for this
    machine's screen only (never the wire): the full text the message sums up, bounded."""

    title = "Error"
    exit_code = 1

    def __init__(
        self, message: str, *, title: str | None = None, public: str | None = None, details: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.public = public if public is not None else message
        self.details = bounded_details(details)
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class InvalidInput(SandbenchError):
    title = "Invalid input"
    exit_code = 2


class SandboxNotFound(SandbenchError):
    title = "Not found"
    exit_code = 3


class FileNotFound(SandbenchError):
    title = "Not found"
    exit_code = 3


class SnapshotNotFound(SandbenchError):
    title = "Not found"
    exit_code = 3


class PermissionDenied(SandbenchError):
    title = "Permission denied"
    exit_code = 4


class IsolationUnavailable(SandbenchError):
    title = "Isolation unavailable"
    exit_code = 5


class PathRejected(InvalidInput):
    title = "Path rejected"


class NameRejected(InvalidInput):
    title = "Name rejected"


class AlreadyExists(SandbenchError):
    title = "Already exists"


class NotRunning(SandbenchError):
    title = "Not running"


class TooLarge(SandbenchError):
    title = "Too large"


class DiskLimitExceeded(SandbenchError):
    title = "Disk limit"


class Conflict(SandbenchError):
    """The thing changed under us (file modified on disk since it was read, state moved on)."""

    title = "Conflict"


class OperationTimeout(SandbenchError):
    title = "Timed out"
    exit_code = 124


class NotSupported(SandbenchError):
    """A feature this provider or one machine cannot give at all (a port forward on Daytona, named volumes, a public
    sandbox): `sandbench serve` answers it 501 with the message naming the feature."""

    title = "Not supported"
    http_status = 501
    http_code = "NOT_IMPLEMENTED"


class ProviderError(SandbenchError):
    title = "Provider error"


class StateDatabaseDamaged(SandbenchError):
    """The local provider's SQLite file is corrupt, truncated or lost its rows: nothing can be trusted from it, and
    nothing is written to it. `sandbench doctor --repair` moves it aside and rebuilds it from the sandboxes
    folder (each sandbox keeps a `meta.json`)."""

    title = "State database damaged"

    def __init__(self, path: object, detail: str = "") -> None:
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"the state database {path} is damaged{why}: run 'sandbench doctor --repair' to move it aside "
            "and rebuild it from the sandboxes folder (no workspace is touched)",
            public="the server's state database is damaged: its operator must run 'sandbench doctor --repair'",
        )
        self.path = path
