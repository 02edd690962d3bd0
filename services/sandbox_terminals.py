"""Terminals of SandboxService: open one, list the live sessions a provider keeps, reattach to one.

A terminal handed out is wrapped (`_TrackedTerminal`) so its sandbox counts as busy while it is open (the reaper
never stops a sandbox with a terminal in use) and typing in it counts as activity.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from services import paths
from services.errors import InvalidInput, SandbenchError
from services.models import SandboxState, TerminalInfo
from services.provider import TerminalReattach
from services.sandbox_core import SandboxCore, outcome
from services.terminal import TerminalSession

# a terminal session id as the Daytona API accepts it; anything else never reaches a URL
TERMINAL_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class TerminalOps(SandboxCore):
    """The terminals of `SandboxService` (a mixin over its core)."""

    async def open_terminal(
        self, sandbox_id: str, cols: int = 80, rows: int = 24, *, cwd: str = "", env: Mapping[str, str] | None = None
    ) -> TerminalSession:
        c = paths.normalize(cwd)
        session = await self._run(
            "terminal",
            sandbox_id,
            lambda: self.provider.open_terminal(sandbox_id, cols, rows, cwd=c, env=env),
            write=True,
            path=c or None,
        )
        return _TrackedTerminal(session, self, sandbox_id)

    async def list_terminals(self, sandbox_id: str) -> list[TerminalInfo]:
        """Terminal sessions still alive on the provider's side, to offer reattaching to them when a sandbox is
        reopened (oldest first; `active=False` for exited ones). A
        sandbox that is not running has no live sessions, so this never starts one just to look."""
        if not isinstance(self.provider, TerminalReattach):
            return []
        provider = self.provider
        try:
            info = self.cached(sandbox_id) or self._remember(await self._provider_get(sandbox_id))
            self._check_access(info, sandbox_id, write=True)  # a terminal is exec: owners only, as open_terminal
        except SandbenchError as exc:
            self.audit.record("terminal-list", sandbox=sandbox_id, outcome=outcome(exc))
            raise
        if info.state is not SandboxState.STARTED:
            return []
        return await self._run("terminal-list", sandbox_id, lambda: provider.list_terminals(sandbox_id), write=True)

    async def attach_terminal(self, sandbox_id: str, session_id: str) -> TerminalSession:
        """Reattach to a live terminal session (an id from `list_terminals`): its recent output replays, then it
        streams. Ownership-checked and audited like `open_terminal`. `close()` ends the shell; `detach()` drops
        only the connection, leaving the shell for a later attach."""
        if not isinstance(self.provider, TerminalReattach):
            exc: SandbenchError = InvalidInput(
                f"{self.provider.name} terminals end with the app: there is no session to reattach to"
            )
            self.audit.record("terminal-attach", sandbox=sandbox_id, outcome=outcome(exc))
            raise exc
        if not isinstance(session_id, str) or not TERMINAL_ID.fullmatch(session_id):
            exc = InvalidInput("a terminal session id is 1-128 letters, digits, '.', '_' or '-'")
            self.audit.record("terminal-attach", sandbox=sandbox_id, outcome=outcome(exc))
            raise exc
        provider = self.provider
        session = await self._run(
            "terminal-attach", sandbox_id, lambda: provider.attach_terminal(sandbox_id, session_id), write=True
        )
        return _TrackedTerminal(session, self, sandbox_id)


class _TrackedTerminal:
    """A terminal that keeps its sandbox marked busy while open, and records activity as it is used."""

    def __init__(self, inner: TerminalSession, service: SandboxCore, sandbox_id: str):
        self._inner = inner
        self._service = service
        self._sandbox_id = sandbox_id
        self._open = True
        service._busy[sandbox_id] += 1

    @property
    def session_id(self) -> str:
        return self._inner.session_id

    @property
    def exit_code(self) -> int | None:
        return self._inner.exit_code

    async def write(self, data: bytes) -> None:
        await self._inner.write(data)
        await self._service._touch(self._sandbox_id)

    async def resize(self, cols: int, rows: int) -> None:
        await self._inner.resize(cols, rows)

    async def output(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner.output():
            yield chunk

    async def wait(self) -> int:
        code = await self._inner.wait()
        self._release()
        return code

    def _release(self) -> None:
        if self._open:
            self._open = False
            self._service._busy[self._sandbox_id] -= 1

    async def close(self) -> None:
        await self._inner.close()
        self._release()

    async def detach(self) -> None:
        """Drop the connection but leave the shell running (providers whose sessions outlive the client);
        elsewhere the same as `close()`, since a shell without its client would only leak."""
        detach = getattr(self._inner, "detach", None)
        if callable(detach):
            await detach()
        else:
            await self._inner.close()
        self._release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
