"""Running commands in a sandbox for SandboxService: `exec` with its audit entry and automatic-checkpoint bracket, and
`exec_output`, the kept output an audit entry names.

One exec is one audit entry (services/audit.py): the command line redacted (services/redact.py), its duration and
exit code, a bounded redacted copy of its output (services/exec_log.py), and, with automatic checkpoints on, the
checkpoints taken before and after it (services/checkpoints/auto.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from services import paths
from services.errors import InvalidInput, SandbenchError
from services.exec_log import OutputKeeper
from services.models import ExecResult
from services.provider import OutputCallback, Stdin
from services.sandbox_core import SandboxCore

log = logging.getLogger(__name__)


class ExecOps(SandboxCore):
    """`exec` and its kept outputs, for `SandboxService` (a mixin over its core)."""

    async def exec(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        *,
        cwd: str = "",
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        stdin: Stdin | None = None,
        on_output: OutputCallback | None = None,
        keep_output: int | None = None,
        internal: bool = False,
        shown_argv: Sequence[str] | None = None,
        shown_cwd: str | None = None,
        shown_output: Callable[[], bytes] | None = None,
        shown_internal: bool = False,
    ) -> ExecResult:
        """Run `argv` in the sandbox. Audited as one exec entry (services/audit.py): the command line redacted,
        duration, exit code, a bounded redacted copy of the output (`exec_output`), and — with automatic checkpoints
        on — the checkpoints before and after it (services/checkpoints/auto.py).

        `internal`: the app's own read-only probe (git status, a search): no checkpoints, marked so in the log.
        `shown_argv` / `shown_cwd`: what the log shows when `argv` is a wrapper around the caller's command (serve
        runs an agent's command string through `sh -c` with its own script); `shown_output`: the command's own
        output, when the stream also carries the wrapper's (read once it ended, then bounded and redacted);
        `shown_internal`: mark the entry internal without making the command one (serve, for the app's own execs,
        services/exec_mark.py: display only, so it still gets its automatic checkpoints)."""
        if not argv or not all(isinstance(a, str) and "\x00" not in a for a in argv):
            raise InvalidInput("a command is a non-empty list of arguments without NUL bytes")
        c = paths.normalize(cwd)
        for key in env or {}:
            if not key or "=" in key or "\x00" in key or "\x00" in (env or {})[key]:
                raise InvalidInput(f"invalid environment variable name {key[:40]!r}")
        shown = [str(a) for a in shown_argv] if shown_argv else list(argv)
        redactor = self.redactor.with_env(dict(env or {}))
        keeper = OutputKeeper(self.config.exec_output_limit)
        around: dict[str, str | None] = {"before": None, "after": None}
        done: dict[str, int] = {}

        def tee(stream: Any, data: bytes) -> None:
            if shown_output is None:
                keeper.feed(data)
            if on_output is not None:
                on_output(stream, data)

        async def call() -> ExecResult:
            auto = None if internal else await self._auto_bracket(sandbox_id, redactor.summary(shown))
            if auto is not None:
                around["before"] = await auto.before()
            t0 = time.monotonic()
            try:
                result = await self.provider.exec(
                    sandbox_id,
                    list(argv),
                    cwd=c,
                    env=env,
                    timeout=timeout,
                    stdin=stdin,
                    on_output=tee,
                    keep_output=keep_output,
                )
            except SandbenchError:
                done["ms"] = int((time.monotonic() - t0) * 1000)
                if auto is not None:
                    around["after"] = await auto.after()
                raise
            done["ms"] = int((time.monotonic() - t0) * 1000)
            done["exit"] = result.exit_code
            if shown_output is not None:
                keeper.feed(shown_output())
            elif keeper.total == 0:  # a provider that does not stream: what it kept is what there is
                keeper.feed(result.stdout)
                keeper.feed(result.stderr)
            if auto is not None:
                around["after"] = await auto.after()
            return result

        def audit(outcome: str) -> None:
            output_id = None
            kept = keeper.finish(redactor)
            if kept is not None:
                try:
                    output_id = self.exec_outputs.put(sandbox_id, kept)
                except (OSError, SandbenchError):
                    log.warning("could not keep the output of an exec in %s", sandbox_id, exc_info=True)
            self.audit.record_exec(
                sandbox=sandbox_id,
                cwd=shown_cwd if shown_cwd is not None else c,
                program=redactor.text(os.path.basename(shown[0]))[:200],
                argv=redactor.argv(shown),
                ms=done.get("ms", 0),
                outcome=outcome,
                exit_code=done.get("exit"),
                before=around["before"],
                after=around["after"],
                output=output_id,
                internal=internal or shown_internal,
            )

        return await self._run("exec", sandbox_id, call, write=True, audit=audit)

    async def _auto_bracket(self, sandbox_id: str, summary: str) -> Any:
        """The automatic checkpoints around one exec, or None when they are off for this sandbox."""
        from services.checkpoints.auto import bracket

        return await bracket(self._whole(), sandbox_id, summary)

    async def exec_output(self, sandbox_id: str, output_id: str) -> bytes:
        """The kept (bounded, redacted) output of one exec, by the id its audit entry names. Ownership checked:
        read access to the sandbox is enough, as for its files."""
        info = self.cached(sandbox_id) or self._remember(await self._provider_get(sandbox_id))
        self._check_access(info, sandbox_id, write=False)
        return await asyncio.to_thread(self.exec_outputs.read, sandbox_id, output_id)
