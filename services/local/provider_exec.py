"""The local provider's processes (`LocalExec`, a mixin of `LocalProvider`): `exec` (a command under bwrap, its
output pumped and bounded, its stdin fed, its timeout enforced) and terminals: a PTY shell of this process, or one
in the per-user session host (services/local/host_client.py) that outlives the app and can be listed and
reattached.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import time
from collections.abc import Mapping, Sequence

from services.errors import InvalidInput, SandbenchError
from services.local.host_client import HostClient, HostTerminal
from services.local.provider_state import ProviderState, from_epoch
from services.local.pty import LocalTerminal, set_winsize
from services.models import ExecResult, TerminalInfo
from services.provider import OutputCallback, Stdin
from services.volumes import mounted_path

log = logging.getLogger(__name__)


class LocalExec(ProviderState):
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
    ) -> ExecResult:
        row = self._running_row(sandbox_id)
        started = time.monotonic()
        launched = await self.launcher.spawn(
            self._runtime(row),
            argv,
            cwd=mounted_path(row.volumes, cwd) or cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cpu_seconds=int(timeout) + 2 if timeout else None,
        )
        proc = launched.process
        out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

        async def pump(stream: asyncio.StreamReader | None, which: str) -> None:
            if stream is None:
                return
            room = keep_output
            while chunk := await stream.read(65536):
                if room is None:
                    out[which].append(chunk)
                elif room > 0:
                    out[which].append(chunk[:room])
                    room -= len(chunk)
                if on_output is not None:
                    on_output(which, chunk)  # type: ignore[arg-type]

        async def feed() -> None:
            if proc.stdin is None:
                return
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                if isinstance(stdin, bytes):
                    if stdin:
                        proc.stdin.write(stdin)
                        await proc.stdin.drain()
                elif stdin is not None:
                    async for chunk in stdin:
                        proc.stdin.write(chunk)
                        await proc.stdin.drain()
                proc.stdin.close()

        timed_out = False
        tasks = [
            asyncio.ensure_future(pump(proc.stdout, "stdout")),
            asyncio.ensure_future(pump(proc.stderr, "stderr")),
            asyncio.ensure_future(feed()),
        ]
        try:
            await asyncio.wait_for(proc.wait(), timeout=timeout)
        except TimeoutError:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        finally:
            # once bwrap is gone, its namespace is gone: every pipe writer closed, the pumps see EOF; a streamed
            # stdin may never end by itself, and nothing reads it any more
            tasks[2].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await launched.cleanup()
        code = proc.returncode if proc.returncode is not None else -1
        if timed_out:
            code = 124
        elif code < 0:
            code = 128 - code
        return ExecResult(
            exit_code=code,
            stdout=b"".join(out["stdout"]),
            stderr=b"".join(out["stderr"]),
            duration=time.monotonic() - started,
            timed_out=timed_out,
        )

    async def open_terminal(
        self, sandbox_id: str, cols: int, rows: int, *, cwd: str = "", env: Mapping[str, str] | None = None
    ) -> LocalTerminal | HostTerminal:
        if self._host is not None:
            self._running_row(sandbox_id)  # NotRunning here, as without the host (the service retries on it)
            return await self._host.open(sandbox_id, cols, rows, cwd=cwd, env=dict(env or {}))
        row = self._running_row(sandbox_id)
        master, slave = os.openpty()
        try:
            set_winsize(master, cols, rows)
            if row.uid is not None and row.gid is not None:
                os.fchown(slave, row.uid, row.gid)  # the shell must own its terminal to set modes on it
            launched = await self.launcher.spawn(
                self._runtime(row),
                ["/usr/bin/setsid", "--ctty", "--wait", self.launcher._shell, "-i"],
                cwd=mounted_path(row.volumes, cwd) or cwd,
                env=env,
                pty_slave=slave,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return LocalTerminal(launched, master, on_activity=lambda: self.activity.note(sandbox_id))

    @property
    def shell_name(self) -> str:
        return os.path.basename(self.launcher._shell)

    async def list_terminals(self, sandbox_id: str) -> builtins.list[TerminalInfo]:
        """The sandbox's shells in the session host (never starts one to look): [] without the host."""
        if self._host is None:
            return []
        self._row(sandbox_id)
        out = []
        for s in await self._host.list(sandbox_id):
            with contextlib.suppress(TypeError, ValueError):
                out.append(
                    TerminalInfo(
                        id=str(s["id"]),
                        created_at=from_epoch(float(s["created_at"])),
                        cols=int(s["cols"]),
                        rows=int(s["rows"]),
                        active=bool(s["active"]),
                        command=str(s.get("command") or ""),
                        attached=int(s.get("attached") or 0),
                    )
                )
        return sorted(out, key=lambda t: t.created_at)

    async def attach_terminal(self, sandbox_id: str, session_id: str) -> HostTerminal:
        if self._host is None:
            raise InvalidInput(
                "these local terminals end with the app that opened them: there is no session to reattach to"
            )
        self._running_row(sandbox_id)
        return await self._host.attach(sandbox_id, session_id)

    async def _forget_terminals(self, sandbox_id: str) -> None:
        """Stopping: the host (if one runs) ends the sandbox's shells first; `kill_all` then verifies nothing is
        left, whoever started it."""
        host = self._host or HostClient(self.data_dir)
        try:
            await host.forget(sandbox_id)
        except (OSError, SandbenchError) as exc:
            log.info("asking the session host to end %s's shells: %s", sandbox_id, exc)
