"""The audit log: one JSON line per service operation — who, which sandbox, which operation, which path, outcome.

Never file contents, command output, environment values or secrets: callers pass only the fields below. An exec's
entry (`record_exec`) carries its command line *redacted* by the caller (services/redact.py), its duration, exit
code, the checkpoints around it and the id of its kept output — the Timeline is read from these lines:

    {"ts", "who", "provider", "op": "exec", "outcome", "sandbox", "path": cwd, "program", "argv": [...],
     "ms": duration, "exit": code (absent on error), "before": checkpoint id | null, "after": checkpoint id | null,
     "output": output id (absent when none kept), "internal": true (only for the app's own read-only probes)}

`who` is who acted. It is the log's identity (the service's owner), unless the operation runs `acting_as` another
name — a `sandbench serve` token acting for an owner under its own name (services/server/auth.py) — and then the
entry says `"who": NAME, "for": OWNER`. The acting name is a context variable, so it follows the request into the
tasks and threads it starts and never leaks into another request's entries.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

# the name the current operation acts under, when it is not the service's own identity
ACTING: contextvars.ContextVar[str | None] = contextvars.ContextVar("sandbench_acting", default=None)


@contextlib.contextmanager
def acting_as(name: str | None) -> Iterator[None]:
    """Within the block (and the tasks and threads it starts), audit entries say `who: name` (None: the owner)."""
    token = ACTING.set(name)
    try:
        yield
    finally:
        ACTING.reset(token)


class AuditLog:
    def __init__(self, path: Path, identity: str, provider: str):
        self.path = path
        self.identity = identity
        self.provider = provider
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND makes each line one write at the end, whatever other processes append meanwhile
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)

    def record(
        self,
        op: str,
        *,
        sandbox: str | None = None,
        name: str | None = None,
        path: str | None = None,
        dest: str | None = None,
        program: str | None = None,
        outcome: str = "ok",
    ) -> None:
        entry: dict[str, object] = {
            "ts": round(time.time(), 3),
            "who": self.actor(),
            "provider": self.provider,
            "op": op,
            "outcome": outcome,
        }
        for key, value in (("sandbox", sandbox), ("name", name), ("path", path), ("dest", dest), ("program", program)):
            if value is not None:
                entry[key] = value
        self._write(entry)

    def record_exec(
        self,
        *,
        sandbox: str,
        cwd: str,
        program: str,
        argv: list[str],
        ms: int,
        outcome: str = "ok",
        exit_code: int | None = None,
        before: str | None = None,
        after: str | None = None,
        output: str | None = None,
        internal: bool = False,
        who: str | None = None,
    ) -> None:
        """One exec's entry; `argv` and `program` must already be redacted."""
        entry: dict[str, object] = {
            "ts": round(time.time(), 3),
            "who": who or self.actor(),
            "provider": self.provider,
            "op": "exec",
            "outcome": outcome,
            "sandbox": sandbox,
            "path": cwd,
            "program": program,
            "argv": argv,
            "ms": ms,
        }
        if exit_code is not None:
            entry["exit"] = exit_code
        entry["before"] = before
        entry["after"] = after
        if output is not None:
            entry["output"] = output
        if internal:
            entry["internal"] = True
        self._write(entry)

    def actor(self) -> str:
        """Who is acting now: the `acting_as` name, else the log's identity."""
        return ACTING.get() or self.identity

    def _write(self, entry: dict[str, object]) -> None:
        if entry["who"] != self.identity:
            entry["for"] = self.identity  # whose sandbox and rights the actor used
        line = (json.dumps(entry, ensure_ascii=True) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
