"""How a git remote operation gets through: first without credentials, then with the configured token, then by
asking the user (DESIGN §5: secrets never logged; tools that read config run inside the sandbox).

If a fetch/pull/push/clone fails on authentication and a token is configured (`config.git_token` or
`$SANDBENCH_GIT_TOKEN`), the token is written into the sandbox as a git credential-store file through the file API,
made mode 600, referenced with `-c credential.helper=store --file=…`, and deleted right after. If that fails too
(or there is no token) and the caller gave an `ask` callback, the command is run once more with
`GIT_ASKPASS`/`SSH_ASKPASS` pointing at a small constant script inside the sandbox that drops its prompt in a file
and waits for an answer file; `RemoteFlow` polls for prompts through the file API and asks the user through `ask`.
A prompt nobody answers ends the command with `AskTimeout`.

`RemoteFlow` is one `GitService`'s part and runs its commands through the service's own plumbing (`_exec`,
`_error`, `scrub`), so every rule about argv, environment and scrubbing is the service's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from services.errors import FileNotFound, SandbenchError
from services.git_errors import AskTimeout, AuthenticationFailed, GitError, diagnostics, is_auth_failure
from services.git_parse import decode, encode
from services.models import ExecResult

if TYPE_CHECKING:
    from services.git import GitService

log = logging.getLogger(__name__)

AskCallback = Callable[[str], Awaitable[str | None]]
ProgressCallback = Callable[[str], None]

# Where our helper files live inside the sandbox, relative to its root ($HOME): outside any worktree.
CACHE_DIR = ".cache/sandbench"
ASKPASS_PATH = f"{CACHE_DIR}/askpass"
TOKEN_ENV = "SANDBENCH_GIT_TOKEN"  # noqa: S105 (a variable name, not a secret)
TOKEN_USER = "x-access-token"  # noqa: S105 - what GitHub/GitLab/Gitea accept as the user name of a token
HELPER_OUTPUT = 64 * 1024  # bytes kept of a helper command's output (chmod, $HOME): the sandbox may print without end

# The askpass helper. Constant text: what varies (the exchange folder) comes in through the environment.
# It writes its prompt atomically, waits for the app's answer (or a cancel file), prints it and cleans up.
ASKPASS_SCRIPT = b"""#!/bin/sh
# sandbench askpass: hand the prompt to the app, wait for its answer. Written by sandbench; safe to delete.
dir="${SANDBENCH_ASKPASS_DIR:?}"
id="$$"
umask 077
printf '%s' "$1" > "$dir/prompt-$id.tmp" && mv "$dir/prompt-$id.tmp" "$dir/prompt-$id" || exit 1
limit="${SANDBENCH_ASKPASS_WAIT:-1200}"
i=0
while [ ! -e "$dir/answer-$id" ]; do
    if [ -e "$dir/cancel-$id" ] || [ "$i" -ge "$limit" ]; then
        rm -f "$dir/prompt-$id" "$dir/cancel-$id"
        exit 1
    fi
    sleep 0.1
    i=$((i + 1))
done
cat "$dir/answer-$id"
rm -f "$dir/answer-$id" "$dir/prompt-$id"
"""

# Installs a helper file from stdin with a mode: constant script, the path and mode arrive as arguments.
_INSTALL = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1.tmp" && chmod "$2" "$1.tmp" && mv -f -- "$1.tmp" "$1"'


@dataclass(frozen=True)
class RemoteResult:
    """What a fetch/pull/push printed (token scrubbed), and how it got through."""

    output: str
    used_token: bool = False
    asked: bool = False


class RemoteFlow:
    """The credential and askpass flow of one `GitService` (`git`)."""

    def __init__(self, git: GitService) -> None:
        self.git = git
        self._home: str | None = None

    async def run(
        self,
        args: list[str],
        on_progress: ProgressCallback | None,
        *,
        op: str,
        url: str | None,
        cwd: str | None = None,
    ) -> RemoteResult:
        """Run a remote command: without credentials; then with the token (http remotes); then asking."""
        r = await self._once(args, on_progress, cwd=cwd)
        if r.exit_code == 0:
            return RemoteResult(self._out(r))
        if not is_auth_failure(decode(diagnostics(r))) or r.timed_out:
            raise self.git._error(op, r)
        if self.git._token and url and urlsplit(url).scheme in ("http", "https"):
            r = await self._with_token(args, on_progress, url, cwd=cwd)
            if r.exit_code == 0:
                return RemoteResult(self._out(r), used_token=True)
            if not is_auth_failure(decode(diagnostics(r))):
                raise self.git._error(op, r)
        if self.git.ask is not None:
            r = await self._with_askpass(args, on_progress, cwd=cwd)
            if r.exit_code == 0:
                return RemoteResult(self._out(r), asked=True)
        raise self.git._error(op, r)

    def _out(self, r: ExecResult) -> str:
        return self.git.scrub(decode(r.stdout + r.stderr))

    def _progress_sink(self, on_progress: ProgressCallback | None) -> Callable[[str, bytes], None] | None:
        if on_progress is None:
            return None
        buf = bytearray()

        def sink(_stream: str, chunk: bytes) -> None:
            # git redraws progress with \r: report the newest complete line, scrubbed
            buf.extend(chunk)
            parts = re.split(rb"[\r\n]", bytes(buf))
            buf[:] = parts[-1]
            for part in reversed(parts[:-1]):
                if part.strip():
                    on_progress(self.git.scrub(decode(part).strip()))
                    break

        return sink

    async def _once(
        self,
        args: Sequence[str],
        on_progress: ProgressCallback | None,
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        config: Sequence[str] = (),
    ) -> ExecResult:
        return await self.git._exec(
            args,
            env=env,
            timeout=self.git.remote_timeout,
            on_output=self._progress_sink(on_progress),
            cwd=cwd,
            config=config,
        )

    async def _with_token(
        self, args: Sequence[str], on_progress: ProgressCallback | None, url: str, *, cwd: str | None
    ) -> ExecResult:
        assert self.git._token is not None
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        user = parts.username or self.git._username or TOKEN_USER
        line = f"{parts.scheme}://{quote(user, safe='')}:{quote(self.git._token, safe='')}@{host}\n"
        rel = f"{CACHE_DIR}/git-credentials-{secrets.token_hex(8)}"
        await self.git.service.mkdir(self.git.sandbox_id, CACHE_DIR, parents=True)
        try:
            # write_file cannot set a mode: write, then chmod inside the sandbox (the workspace is 0700 meanwhile)
            await self.git.service.write_file(self.git.sandbox_id, rel, line.encode())
            r = await self.git.service.exec(
                self.git.sandbox_id, ["chmod", "600", "--", rel], env={"LC_ALL": "C"}, keep_output=HELPER_OUTPUT
            )
            if r.exit_code != 0:
                log.warning("could not make the credential file mode 600 (exit %s)", r.exit_code)
            helper = f"store --file={await self._sandbox_home()}/{rel}"
            # the empty helper first: the repo's or user's own helpers are not asked, and not told our token
            return await self._once(
                args, on_progress, cwd=cwd, config=["credential.helper=", f"credential.helper={helper}"]
            )
        finally:
            with contextlib.suppress(SandbenchError):
                await self.git.service.delete_path(self.git.sandbox_id, rel)

    async def _install(self, rel: str, content: bytes, mode: str) -> None:
        """Create a helper file from inside the sandbox, so the sandbox user owns it and can run it."""
        r = await self.git.service.exec(
            self.git.sandbox_id, ["sh", "-c", _INSTALL, "sh", rel, mode], stdin=content, keep_output=HELPER_OUTPUT
        )
        if r.exit_code != 0:
            raise GitError(f"could not install the askpass helper: {decode(diagnostics(r)).strip()[:200]}")

    async def _with_askpass(
        self, args: Sequence[str], on_progress: ProgressCallback | None, *, cwd: str | None
    ) -> ExecResult:
        assert self.git.ask is not None
        await self._install(ASKPASS_PATH, ASKPASS_SCRIPT, "700")
        xdir = f"{CACHE_DIR}/askpass-{secrets.token_hex(6)}"
        await self.git.service.mkdir(self.git.sandbox_id, xdir, parents=True)
        home = await self._sandbox_home()
        env = {
            "SANDBENCH_ASKPASS_DIR": f"{home}/{xdir}",
            "SANDBENCH_ASKPASS_WAIT": str(int(self.git.ask_timeout * 10) + 50),  # the script gives up a bit after us
            "GIT_ASKPASS": f"{home}/{ASKPASS_PATH}",
            "SSH_ASKPASS": f"{home}/{ASKPASS_PATH}",
            "SSH_ASKPASS_REQUIRE": "force",  # ssh uses askpass even without a display
            "DISPLAY": ":0",
            "GIT_SSH_COMMAND": "ssh",
        }
        task = asyncio.ensure_future(self._once(args, on_progress, cwd=cwd, env=env))
        failure: BaseException | None = None
        try:
            failure = await self._serve_prompts(task, xdir)
            result = await task
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            with contextlib.suppress(SandbenchError):
                await self.git.service.delete_path(self.git.sandbox_id, xdir, recursive=True)
        if failure is not None:
            raise failure
        return result

    async def _sandbox_home(self) -> str:
        """$HOME inside the sandbox, which is the sandbox root: helper paths given to git must be absolute."""
        if self._home is None:
            r = await self.git.service.exec(
                self.git.sandbox_id, ["sh", "-c", 'printf %s "$HOME"'], internal=True, keep_output=HELPER_OUTPUT
            )
            self._home = decode(r.stdout).strip() or "/home/sandbox"
        return self._home

    async def _serve_prompts(self, task: asyncio.Future[ExecResult], xdir: str) -> BaseException | None:
        """Poll the exchange folder while git runs; answer each prompt through `ask`. Returns the error that
        should end the operation (a prompt left unanswered), or None."""
        assert self.git.ask is not None
        seen: set[str] = set()
        while not task.done():
            await asyncio.wait({task}, timeout=0.15)
            if task.done():
                break
            try:
                names = [e.name for e in await self.git.service.list_dir(self.git.sandbox_id, xdir)]
            except SandbenchError:
                continue
            for name in sorted(names):
                if not name.startswith("prompt-") or name.endswith(".tmp") or name in seen:
                    continue
                seen.add(name)
                ident = name.removeprefix("prompt-")
                try:
                    prompt = decode((await self.git.service.read_file(self.git.sandbox_id, f"{xdir}/{name}")).data)
                except SandbenchError:
                    continue
                started = time.monotonic()
                try:
                    answer = await asyncio.wait_for(self.git.ask(self.git.scrub(prompt.strip())), self.git.ask_timeout)
                except TimeoutError:
                    await self._answer(xdir, ident, None)
                    waited = time.monotonic() - started
                    return AskTimeout(f"no answer to {prompt.strip()[:60]!r} within {waited:.0f} s: try again")
                if answer is not None and "assword" in prompt:  # a typed password never reaches the audit log
                    self.git.service.redactor.add(answer)
                await self._answer(xdir, ident, answer)
                if answer is None:
                    return AuthenticationFailed("cancelled: the remote asked for credentials and none were given")
        return None

    async def _answer(self, xdir: str, ident: str, answer: str | None) -> None:
        name = f"{xdir}/cancel-{ident}" if answer is None else f"{xdir}/answer-{ident}"
        try:
            await self.git.service.write_file(
                self.git.sandbox_id, name, b"" if answer is None else encode(answer) + b"\n"
            )
        except FileNotFound:
            # written, then taken and removed by the helper before the write's own look at the file (a provider
            # that stats after uploading, as Daytona's does): the answer arrived
            pass
