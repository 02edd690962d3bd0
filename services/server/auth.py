"""Bearer tokens for `sandbench serve`: one generated token for the configured identity, plus optional extra ones.

The main token is made on first run (`secrets.token_urlsafe(32)`) and stored mode 600 as `serve-token` in the
config directory (`$SANDBENCH_HOME` when set, so tests stay private). Extra tokens, one owner each, come from
`serve-tokens` next to it: lines of `identity token` (blank lines and `#` comments ignored). A token file that
others can read is refused: a token anyone on the machine can read is no token.

A token is only ever compared (constant-time) and never logged; `TokenTable` maps it to the owner identity.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

import platformdirs

from services.config import APP
from services.errors import PermissionDenied

TOKEN_FILE = "serve-token"  # noqa: S105 - a file name, not a secret
EXTRA_TOKENS_FILE = "serve-tokens"


def token_dir() -> Path:
    env = os.environ.get("SANDBENCH_HOME")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir(APP))


def _check_private(path: Path) -> None:
    st = path.stat()
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermissionDenied(f"{path} is readable by others; run: chmod 600 {path}")
    if st.st_uid != os.geteuid():
        raise PermissionDenied(f"{path} belongs to another user")


def load_or_create_token(directory: Path | None = None) -> str:
    """The server's main token: read it, or make it on first run (mode 600, created atomically)."""
    d = directory or token_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        _check_private(path)
        token = path.read_text(encoding="ascii").strip()
        if len(token) < 20:
            raise PermissionDenied(f"{path} holds no usable token; delete it to make a new one") from None
        return token
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    return token


def load_extra_tokens(path: Path) -> dict[str, str]:
    """token → identity from a `serve-tokens` file (missing file: none)."""
    if not path.exists():
        return {}
    _check_private(path)
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[1]) < 20:
            # the line number only: the line itself may hold a token
            raise PermissionDenied(f"{path}: line {n} is not 'identity token' (tokens are 20+ characters)")
        out[parts[1]] = parts[0]
    return out


class TokenTable:
    """Resolve a presented bearer token to its identity, comparing against every known token in constant time."""

    def __init__(self, tokens: dict[str, str]):
        self._tokens = [(t.encode(), ident) for t, ident in tokens.items()]

    def secrets(self) -> list[str]:
        """Every token's value: for the redactor only (an agent's command line or output must never log one)."""
        return [t.decode("utf-8", "surrogateescape") for t, _ in self._tokens]

    def identities(self) -> list[str]:
        """Every identity a token maps to, once each, in a stable order."""
        return sorted({ident for _, ident in self._tokens})

    def identity(self, presented: str | None) -> str | None:
        if not presented:
            return None
        given = presented.encode("utf-8", "surrogateescape")
        found = None
        for token, ident in self._tokens:
            # no early exit: the time taken does not depend on which token matched
            if hmac.compare_digest(token, given):
                found = ident
        return found

    @staticmethod
    def from_header(value: str | None) -> str | None:
        if not value:
            return None
        scheme, _, rest = value.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return rest.strip() or None
