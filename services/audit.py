"""The audit log: one JSON line per service operation — who, which sandbox, which operation, which path, outcome.

Never file contents, command output, environment values or secrets: callers pass only the fields below, and
`argv` is reduced to the program name (arguments can carry tokens).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path


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
            "who": self.identity,
            "provider": self.provider,
            "op": op,
            "outcome": outcome,
        }
        for key, value in (("sandbox", sandbox), ("name", name), ("path", path), ("dest", dest), ("program", program)):
            if value is not None:
                entry[key] = value
        line = (json.dumps(entry, ensure_ascii=True) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
