"""sandbench's configuration: one TOML file, found nearest-first, checked against the dataclasses below.

Lookup order: an explicit path (`--config`), `$SANDBENCH_CONFIG`, then `<user config dir>/sandbench/config.toml`.
The data directory (state database, workspaces, audit log) is `$SANDBENCH_HOME`, else the platform data dir, or
`/var/lib/sandbench` when running as root (by convention: the launcher makes workspaces reachable by the
sandboxes' unprivileged uids even under a 0700 folder such as root's home).

Each key's type is its field's type hint and its allowed range sits in the field's metadata (`limits`, `choices`,
`check`: services/config_schema.py reads both), so there is no second table of keys to keep in step. Errors name the
file, the line (best effort) and the key, and say what was expected. The environment variables that set keys are the
one table `ENVIRONMENT`, which the README's table is checked against (tests/services/test_config.py).

Secrets (the Daytona API key, git tokens) live here or in the environment; `Config.__repr__` never shows them, and
no error repeats a value.
"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from services.config_schema import (
    NOT_A_KEY,
    FieldError,
    check,
    choices,
    convert,
    file_keys,
    key_lines,
    limits,
    line_of,
    value_of,
)
from services.errors import InvalidInput

APP = "sandbench"
DEFAULT_READ_LIMIT = 10 * 1024 * 1024
KIB, MIB, GIB = 1024, 1024**2, 1024**3


class ConfigError(InvalidInput):
    title = "Configuration error"


PROVIDERS = ("local", "daytona")
BWRAP_SETTINGS = ("auto", "system", "bundled")
_BWRAP_RULE = 'must be "auto", "system", "bundled" or an absolute path to a bwrap binary'


def _bwrap_problem(value: str) -> str | None:
    return None if value in BWRAP_SETTINGS or (value.startswith("/") and "\0" not in value) else _BWRAP_RULE


def check_bwrap_setting(value: str, where: str = "key 'bwrap'") -> str:
    """The `bwrap` setting itself, or a ConfigError naming where it came from."""
    if _bwrap_problem(value):
        raise ConfigError(f"{where} {_BWRAP_RULE}")
    return value


def _api_key_problem(value: str) -> str | None:
    # never echoed: only its shape is checked (what an HTTP header can carry)
    if not 1 <= len(value) <= 4096 or not value.isprintable() or any(c.isspace() for c in value):
        return "must be 1 to 4096 printable characters, no spaces"
    return None


def _api_url_problem(value: str) -> str | None:
    rule = "must be an http:// or https:// URL with a host (at most 2048 characters)"
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname, parts.port  # `.port` raises on a port that is not a number in range
    except ValueError:  # that, or a malformed IPv6 host
        return rule
    shape_ok = len(value) <= 2048 and value.isprintable() and " " not in value
    return None if parts.scheme in ("http", "https") and host and shape_ok else rule


def _target_problem(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
        return "must be a region name: 1 to 64 letters, digits, '.', '_' or '-'"
    return None


def _audit_size_problem(value: int) -> str | None:
    # below 1 MiB the log would rotate every few hundred lines and the Timeline's window would span many files
    return None if value == 0 or value >= MIB else "must be 0 (never rotate) or at least 1048576 (1 MiB)"


def _name_problem(value: str) -> str | None:
    return None if value.strip() and value.isprintable() else "must be a non-empty name of printable characters"


@dataclass(frozen=True)
class DaytonaConfig:
    api_key: str | None = field(default=None, repr=False, metadata=check(_api_key_problem))
    api_url: str | None = field(default=None, metadata=check(_api_url_problem))
    target: str | None = field(default=None, metadata=check(_target_problem))


# A key is a field: its type hint and its metadata (`limits` for every number, `choices`, `check`) are all that
# services/config_schema.py reads, so a new key needs nothing registered elsewhere.
@dataclass(frozen=True)
class Config:
    path: Path | None = field(default=None, metadata=NOT_A_KEY)  # the file these came from (None: defaults only)
    provider: str = field(default="local", metadata=choices(*PROVIDERS))
    identity: str = field(default_factory=lambda: _default_identity(), metadata=check(_name_problem))
    owner_label: str = field(default="sandbench.owner", metadata=check(_name_problem))
    show_others: bool = False  # see other owners' sandboxes (read-only)
    isolation: str = field(default="best", metadata=choices("best", "required"))  # required: refuse below full
    bwrap: str = field(default="auto", metadata=check(_bwrap_problem))  # services/local/bwrap.py
    state_ttl: float = field(default=30.0, metadata=limits(0, 3600))  # seconds a running state is cached
    read_limit: int = field(default=DEFAULT_READ_LIMIT, metadata=limits(1, GIB))  # bytes opened whole
    theme: str = "textual-dark"
    # Textual's animations (a tab's underline sliding, toasts fading): each is 60 frames a second sent to the
    # terminal, ~20 frames of a whole row for one tab's label changing width — over SSH the screen catches up late
    animations: str = field(default="none", metadata=choices("none", "basic", "full"))
    keymap: dict[str, str] = field(default_factory=dict)
    data_dir: Path = field(default_factory=lambda: default_data_dir())
    scrollback: int = field(default=10_000, metadata=limits(0, 1_000_000))  # terminal lines
    git_token: str | None = field(default=None, repr=False)
    # bytes of each exec's output kept for the Timeline (head and tail); 0: none
    exec_output_limit: int = field(default=64 * KIB, metadata=limits(0, 16 * MIB))
    exec_output_total: int = field(default=16 * MIB, metadata=limits(0, GIB))  # per sandbox; the oldest go first
    auto_checkpoint: bool = False  # checkpoint around every exec that may change files (a sandbox label overrides)
    # automatic checkpoints kept per sandbox (at least), newest first, and those younger than the days
    auto_checkpoint_keep: int = field(default=200, metadata=limits(0, 1_000_000))
    auto_checkpoint_days: float = field(default=7.0, metadata=limits(0, 36_500))
    # rotate audit.jsonl to audit.jsonl.1 at this size (0: never); keep that many rotated files (0: no count bound)
    # and none older than the days (0: no age bound): services/audit.py
    audit_max_bytes: int = field(default=64 * MIB, metadata={**limits(0, 1024 * GIB), **check(_audit_size_problem)})
    audit_keep: int = field(default=10, metadata=limits(0, 100_000))
    audit_keep_days: float = field(default=0.0, metadata=limits(0, 36_500))
    daytona: DaytonaConfig = field(default_factory=DaytonaConfig)

    @property
    def isolation_required(self) -> bool:
        return self.isolation == "required"

    @property
    def audit_log(self) -> Path:
        return self.data_dir / "audit.jsonl"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "sandbench.log"


def _default_identity() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry for this uid (containers): fall back to the uid
        return f"uid{os.getuid()}"


def default_data_dir() -> Path:
    env = os.environ.get("SANDBENCH_HOME")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/sandbench")
    return Path(platformdirs.user_data_dir(APP))


def default_config_path() -> Path:
    env = os.environ.get("SANDBENCH_CONFIG")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


# -- the environment -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnvVar:
    """An environment variable sandbench reads. `key`: the config key it sets (dotted), None for none; `wins`: over
    the file's value (False: used only when the file leaves the key out)."""

    name: str
    key: str | None
    wins: bool
    meaning: str


# The one table of environment overrides: `load` applies it, the README's table is checked against it. An empty
# variable counts as unset. Command-line options (`--config`, `--provider`) win over all of these.
ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar("SANDBENCH_CONFIG", None, True, "the config file, when `--config` does not name one"),
    EnvVar("SANDBENCH_HOME", "data_dir", True, "the data directory; also where `sandbench serve` keeps its tokens"),
    EnvVar("SANDBENCH_PROVIDER", "provider", True, "`local` or `daytona`"),
    EnvVar("SANDBENCH_BWRAP", "bwrap", True, "which bubblewrap, values as for the key"),
    EnvVar("SANDBENCH_GIT_TOKEN", "git_token", False, "token for git over HTTPS (never logged)"),
    EnvVar("DAYTONA_API_KEY", "daytona.api_key", True, "the Daytona API key (the SDK's own variable)"),
    EnvVar("DAYTONA_API_URL", "daytona.api_url", True, "the Daytona API's URL"),
    EnvVar("DAYTONA_TARGET", "daytona.target", True, "the Daytona target region"),
)


def environment_table() -> str:
    """ENVIRONMENT as the README's Markdown table."""
    rows = ["| variable | config key | over the file's key | meaning |", "|---|---|---|---|"]
    for var in ENVIRONMENT:
        key = f"`{var.key}`" if var.key else "—"
        wins = ("wins" if var.wins else "only when the file has none") if var.key else "—"
        rows.append(f"| `{var.name}` | {key} | {wins} | {var.meaning} |")
    return "\n".join(rows) + "\n"


def _from_env(var: EnvVar, value: str) -> Any:
    """The variable's value checked as its key's value would be, or a ConfigError naming the variable."""
    assert var.key is not None
    path = tuple(var.key.split("."))
    cls: type = Config
    for name in path[:-1]:
        cls = typing.get_type_hints(cls)[name]
    meta = file_keys(cls)[path[-1]].metadata
    try:
        return value_of(typing.get_type_hints(cls)[path[-1]], meta, value, path, from_env=True)
    except FieldError as exc:
        raise ConfigError(f"${var.name} (values as for the key {var.key!r}) {exc.problem}") from None


def bwrap_setting_from_env(default: str = "auto") -> str:
    """`$SANDBENCH_BWRAP` (checked) when set, else `default`: the environment wins over the config file."""
    value = os.environ.get("SANDBENCH_BWRAP")
    if not value:
        return default
    return check_bwrap_setting(value, "$SANDBENCH_BWRAP (values as for the key 'bwrap')")


# -- loading ---------------------------------------------------------------------------------------------------
def load(path: Path | None = None, **overrides: Any) -> Config:
    """Read the config file (missing file = defaults), apply the environment (ENVIRONMENT), then explicit
    overrides (the command line's; None = not given)."""
    cfg_path = path or default_config_path()
    text = ""
    raw: dict[str, Any] = {}
    if cfg_path.exists():
        try:
            text = cfg_path.read_text(encoding="utf-8")
            raw = tomllib.loads(text)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{cfg_path}: cannot read: {exc.__class__.__name__}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{cfg_path}: not valid TOML: {exc}") from exc
    try:
        values = convert(Config, raw)
    except FieldError as exc:
        line = line_of(key_lines(text), exc.key)
        raise ConfigError(f"{cfg_path}:{line}: {exc}" if line else f"{cfg_path}: {exc}") from None
    values["path"] = cfg_path if cfg_path.exists() else None
    daytona = values.pop("daytona", DaytonaConfig())
    nested: dict[str, Any] = {"daytona": {k: getattr(daytona, k) for k in DaytonaConfig.__dataclass_fields__}}
    for var in ENVIRONMENT:
        env = os.environ.get(var.name)
        if not env or var.key is None:
            continue
        *table, name = var.key.split(".")
        into = nested[table[0]] if table else values
        if var.wins or into.get(name) is None:
            into[name] = _from_env(var, env)
    values["daytona"] = DaytonaConfig(**nested["daytona"])
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("provider", "local") not in PROVIDERS:  # `--provider` comes past the field's check
        raise ConfigError(f"unknown provider {values['provider']!r} (choose local or daytona)")
    return Config(**values)
