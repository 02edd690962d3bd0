"""Bearer tokens for `sandbench serve`: one generated token for the configured identity, plus optional extra ones.

The main token is made on first run (`secrets.token_urlsafe(32)`) and stored mode 600 as `serve-token` in the
config directory (`$SANDBENCH_HOME` when set, so tests stay private). Extra tokens come from `serve-tokens` next to
it, one a line (blank lines and `#` comments ignored):

    NAME TOKEN               # NAME's own token: it owns, and acts as, NAME
    NAME TOKEN owner=OWNER   # an acting token: it acts on OWNER's sandboxes with OWNER's rights, under NAME

A request with an acting token is OWNER's in every check (ownership, limits, what it sees) but the audit log says
`"who": NAME, "for": OWNER` (services/audit.py `acting_as`), so an agent shows in the Timeline as itself.
`add_token` mints one (`sandbench serve --add-token NAME`). A token file that others can read is refused: a token
anyone on the machine can read is no token.

A token is only ever compared (constant-time) and never logged; `TokenTable` maps it to its `Grant`.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from services.config import APP
from services.errors import InvalidInput, PermissionDenied, SandbenchError

TOKEN_FILE = "serve-token"  # noqa: S105 - a file name, not a secret
EXTRA_TOKENS_FILE = "serve-tokens"
log = logging.getLogger(__name__)
MIN_TOKEN = 20
# a name shown in the Timeline and written in the audit log: short, printable, no spaces, no `=` (the syntax's)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
NAME_RULE = "1-64 letters, digits and . _ @ + - (starting with a letter or digit)"


@dataclass(frozen=True)
class Grant:
    """What a token stands for: whose sandboxes and rights (`owner`) and the name it acts under (`actor`)."""

    owner: str
    actor: str

    @property
    def acting(self) -> bool:
        """A token acting for someone else, under its own name."""
        return self.actor != self.owner


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


def check_name(name: str, what: str = "name") -> str:
    """`name` if it is fit to be an identity or an acting name, else `InvalidInput` saying what is allowed."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"{what} {name[:64]!r} is not {NAME_RULE}")
    return name


def _parse_line(parts: list[str]) -> tuple[str, Grant]:
    """(token, grant) of one line's fields; `ValueError` with what is wrong (never the token itself)."""
    if len(parts) not in (2, 3):
        raise ValueError("is not 'NAME TOKEN' or 'NAME TOKEN owner=OWNER'")
    name, token = parts[0], parts[1]
    if len(token) < MIN_TOKEN:
        raise ValueError(f"has a token shorter than {MIN_TOKEN} characters")
    owner = name
    if len(parts) == 3:
        key, sep, value = parts[2].partition("=")
        if key != "owner" or not sep or not value:
            raise ValueError("has a third field that is not owner=OWNER")
        owner = value
    if len(parts) == 3:
        # old two-field lines named owners freely (kept working): only an acting line's names are checked
        # (the value is not echoed: a line written wrong may hold a token in any field)
        for value, what in ((name, "an acting name"), (owner, "an owner")):
            if not _NAME.fullmatch(value):
                raise ValueError(f"has {what} that is not {NAME_RULE}")
    return token, Grant(owner=owner, actor=name)


def load_extra_tokens(path: Path) -> dict[str, Grant]:
    """token → grant from a `serve-tokens` file (missing file: none). A malformed line, or a token given twice, is
    `PermissionDenied` naming the file and the line (never the line's text: it may hold a token)."""
    if not path.exists():
        return {}
    _check_private(path)
    out: dict[str, Grant] = {}
    seen: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            token, grant = _parse_line(line.split())
        except ValueError as exc:
            raise PermissionDenied(f"{path}: line {n} {exc}") from None
        if token in seen:
            # two grants for one token: which one a request gets must never be a guess
            raise PermissionDenied(f"{path}: line {n} repeats the token of line {seen[token]}")
        seen[token] = n
        out[token] = grant
    return out


def check_grants(grants: Mapping[str, Grant], identity: str, path: Path) -> None:
    """Refuse an acting name that is an owner's identity (the configured one, or a token's owner): the Timeline
    would show another person's name on the owner's sandbox. `path` is named in the error."""
    owners = {identity} | {g.owner for g in grants.values()}
    for g in grants.values():
        if g.acting and g.actor in owners:
            raise PermissionDenied(
                f"{path}: acting name {g.actor!r} (for {g.owner!r}) is also an owner's identity; pick another name"
            )


def add_token(path: Path, name: str, owner: str, identity: str) -> str:
    """Mint a token acting for `owner` under `name`, append its line to the `serve-tokens` file at `path` (made
    mode 600 if missing, as the main token's file; refused if others can read it), and return it (shown once).
    `identity` is the configured one: the server would refuse an acting name equal to it, so this does too."""
    check_name(name, "acting name")
    check_name(owner, "owner")
    if name == owner:
        raise InvalidInput(f"an acting token needs its own name: {name!r} is the owner's")
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = load_extra_tokens(path)
    check_grants({**existing, "": Grant(owner=owner, actor=name)}, identity, path)
    if any(g.actor == name for g in existing.values()):
        raise InvalidInput(f"{name!r} already has a token in {path}; delete its line there to mint a new one")
    token = secrets.token_urlsafe(32)
    # O_NOFOLLOW: a symlink planted in the config dir never makes us write a token elsewhere
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:  # a symlink there (ELOOP), a folder, no permission
        raise PermissionDenied(f"cannot add a token to {path}: {exc.strerror}") from None
    try:
        _check_private(path)  # made 600 just now, or checked again (it may have been replaced meanwhile)
        os.write(fd, f"{name} {token} owner={owner}\n".encode("ascii"))
    finally:
        os.close(fd)
    return token


class TokenTable:
    """Resolve a presented bearer token to its identity, comparing against every known token in constant time.

    With `extra_file`, the `serve-tokens` file is read again when it changes (looked at no more than once a
    second, on a request): a token `--add-token` mints works without a restart, and a deleted line stops its token
    working. A file that turns malformed fails closed: every extra token is refused (the main ones still work)
    until it is fixed, and the log names the file and line."""

    RECHECK = 1.0  # seconds between looks at the file

    def __init__(
        self,
        tokens: Mapping[str, str | Grant],
        *,
        extra_file: Path | None = None,
        identity: str = "",
    ) -> None:
        # a plain identity (the main token, tests) owns and acts as itself
        self._fixed = [(t.encode(), g if isinstance(g, Grant) else Grant(owner=g, actor=g)) for t, g in tokens.items()]
        self._tokens = list(self._fixed)
        self._file = extra_file
        self._identity = identity
        self._stamp = self._stamp_now()
        self._checked = time.monotonic()
        self.version = 0  # goes up on each reload: holders of `secrets()` add the new ones (the redactor)

    def _stamp_now(self) -> tuple[int, int, int] | None:
        if self._file is None:
            return None
        try:
            st = os.stat(self._file)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._file is None or now - self._checked < self.RECHECK:
            return
        self._checked = now
        stamp = self._stamp_now()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            extra = load_extra_tokens(self._file)
            check_grants(extra, self._identity, self._file)
        except (SandbenchError, OSError, UnicodeDecodeError) as exc:
            log.error("serve-tokens changed and is not valid; its tokens are refused until it is fixed: %s", exc)
            extra = {}
        fixed = {t for t, _ in self._fixed}
        self._tokens = self._fixed + [(t.encode(), g) for t, g in extra.items() if t.encode() not in fixed]
        self.version += 1
        log.info("serve-tokens read again: %d extra tokens", len(self._tokens) - len(self._fixed))

    def secrets(self) -> list[str]:
        """Every token's value: for the redactor only (an agent's command line or output must never log one)."""
        self._refresh()
        return [t.decode("utf-8", "surrogateescape") for t, _ in self._tokens]

    def identities(self) -> list[str]:
        """Every owner a token acts for, once each, in a stable order."""
        self._refresh()
        return sorted({g.owner for _, g in self._tokens})

    def grant(self, presented: str | None) -> Grant | None:
        """The presented token's grant, or None when it is no token of ours."""
        if not presented:
            return None
        self._refresh()
        given = presented.encode("utf-8", "surrogateescape")
        found = None
        for token, g in self._tokens:
            # no early exit: the time taken does not depend on which token matched
            if hmac.compare_digest(token, given):
                found = g
        return found

    def identity(self, presented: str | None) -> str | None:
        """The owner the presented token acts for (whose sandboxes, rights and limits), or None."""
        g = self.grant(presented)
        return g.owner if g is not None else None

    @staticmethod
    def from_header(value: str | None) -> str | None:
        if not value:
            return None
        scheme, _, rest = value.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return rest.strip() or None
