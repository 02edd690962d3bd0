"""The environment variables a client gave a sandbox at create (`env_vars`, the DTO's `env`), kept per sandbox by
`sandbench serve` and put under every exec, code run, session command, PTY and code interpreter context of that
sandbox (the request's own variables win), as Daytona does. `sandbox.update_env(env, unset=...)` (`POST
{toolbox}/env`, body `{"set", "unset", "unsetValuePrefix"}`) changes them for processes started afterwards;
running ones (a PTY's shell, an interpreter context's Python) keep theirs, as Daytona's daemon documents.

One JSON file per sandbox in the server's data dir (`serve-env/<id>.json`, mode 0600, replaced atomically), read
once and cached. Values may be secrets: they are never logged.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from services.errors import InvalidInput
from services.local.meta import write_json_atomic

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_VARS = 1000
MAX_BYTES = 256 * 1024


def validate(env: object) -> dict[str, str]:
    """`env` as the client sent it, checked: variable names, string values without NUL, bounded in size."""
    if env is None:
        return {}
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise InvalidInput("env must map strings to strings")
    if len(env) > MAX_VARS:
        raise InvalidInput(f"at most {MAX_VARS} environment variables")
    for key, value in env.items():
        if not NAME_RE.match(key):
            raise InvalidInput(f"not an environment variable name: {key[:40]!r}")
        if "\x00" in value:
            raise InvalidInput(f"the value of {key} contains a NUL byte")
    if sum(len(k) + len(v) for k, v in env.items()) > MAX_BYTES:
        raise InvalidInput(f"the environment is over {MAX_BYTES // 1024} KiB")
    return dict(env)


class SandboxEnvStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, dict[str, str]] = {}

    def _path(self, sandbox_id: str) -> Path | None:
        return self.directory / f"{sandbox_id}.json" if _ID_RE.match(sandbox_id) else None

    def get(self, sandbox_id: str) -> dict[str, str]:
        cached = self._cache.get(sandbox_id)
        if cached is not None:
            return dict(cached)
        env: dict[str, str] = {}
        path = self._path(sandbox_id)
        if path is not None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                fd = -1
            if fd >= 0:
                with os.fdopen(fd, "rb") as f:
                    try:
                        data = json.loads(f.read(MAX_BYTES * 2))
                    except ValueError:
                        data = {}
                if isinstance(data, dict):
                    env = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
        self._cache[sandbox_id] = env
        return dict(env)

    def set(self, sandbox_id: str, env: Mapping[str, str]) -> None:
        path = self._path(sandbox_id)
        if path is None:
            raise InvalidInput("this sandbox id cannot keep an environment")
        if not env:
            self.delete(sandbox_id)
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_json_atomic(path, dict(env))
        self._cache[sandbox_id] = dict(env)

    def delete(self, sandbox_id: str) -> None:
        self._cache.pop(sandbox_id, None)
        path = self._path(sandbox_id)
        if path is not None:
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def merged(self, sandbox_id: str, request_env: Mapping[str, str] | None) -> dict[str, str]:
        """The sandbox's variables with the request's on top."""
        return {**self.get(sandbox_id), **(request_env or {})}


def updated(env: Mapping[str, str], body: Mapping[str, object]) -> dict[str, str]:
    """`env` after an update request: `unset` names removed, then those whose value starts with `unsetValuePrefix`
    (unless `set` names them), then `set` applied. The result is checked as a create's `env` is."""
    to_set = validate(body.get("set"))
    unset = body.get("unset") or []
    if not isinstance(unset, list) or not all(isinstance(k, str) for k in unset):
        raise InvalidInput("unset must be a list of variable names")
    prefix = body.get("unsetValuePrefix")
    if prefix is not None and not isinstance(prefix, str):
        raise InvalidInput("unsetValuePrefix must be a string")
    out = {k: v for k, v in env.items() if k not in set(unset)}
    if prefix:
        out = {k: v for k, v in out.items() if k in to_set or not v.startswith(prefix)}
    return validate({**out, **to_set})
