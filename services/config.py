"""sandbench's configuration: one TOML file, found nearest-first, validated with errors that name file and key.

Lookup order: an explicit path (`--config`), `$SANDBENCH_CONFIG`, then `<user config dir>/sandbench/config.toml`.
The data directory (state database, workspaces, audit log) is `$SANDBENCH_HOME`, else the platform data dir, or
`/var/lib/sandbench` when running as root (by convention: the launcher makes workspaces reachable by the
sandboxes' unprivileged uids even under a 0700 folder such as root's home).

Secrets (the Daytona API key, git tokens) live here or in the environment; `Config.__repr__` never shows them.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from services.errors import InvalidInput

APP = "sandbench"
DEFAULT_READ_LIMIT = 10 * 1024 * 1024


class ConfigError(InvalidInput):
    title = "Configuration error"


@dataclass(frozen=True)
class DaytonaConfig:
    api_key: str | None = field(default=None, repr=False)
    api_url: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    provider: str = "local"
    identity: str = field(default_factory=lambda: _default_identity())
    owner_label: str = "sandbench.owner"
    show_others: bool = False  # see other owners' sandboxes (read-only)
    isolation: str = "best"  # "best" or "required" (refuse anything below full)
    bwrap: str = "auto"  # which bubblewrap: "auto", "system", "bundled" or an absolute path (services/local/bwrap.py)
    state_ttl: float = 30.0
    read_limit: int = DEFAULT_READ_LIMIT
    theme: str = "textual-dark"
    keymap: dict[str, str] = field(default_factory=dict)
    data_dir: Path = field(default_factory=lambda: default_data_dir())
    scrollback: int = 10_000
    git_token: str | None = field(default=None, repr=False)
    exec_output_limit: int = 64 * 1024  # bytes of each exec's output kept for the Timeline (head and tail); 0: none
    exec_output_total: int = 16 * 1024 * 1024  # bytes of kept exec output per sandbox; the oldest go first
    auto_checkpoint: bool = False  # checkpoint around every exec that may change files (a sandbox label overrides)
    auto_checkpoint_keep: int = 200  # automatic checkpoints kept per sandbox (at least), newest first
    auto_checkpoint_days: float = 7.0  # and those younger than this; older and beyond the count go
    audit_max_bytes: int = 64 * 1024 * 1024  # rotate audit.jsonl to audit.jsonl.1 at this size; 0: never
    audit_keep: int = 10  # rotated audit files kept (the oldest go first); 0: no count bound
    audit_keep_days: float = 0.0  # and rotated audit files older than this go; 0: no age bound
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


_KEYS: dict[str, type | tuple[type, ...]] = {
    "provider": str,
    "identity": str,
    "owner_label": str,
    "show_others": bool,
    "isolation": str,
    "bwrap": str,
    "state_ttl": (int, float),
    "read_limit": int,
    "theme": str,
    "keymap": dict,
    "data_dir": str,
    "scrollback": int,
    "git_token": str,
    "exec_output_limit": int,
    "exec_output_total": int,
    "auto_checkpoint": bool,
    "auto_checkpoint_keep": int,
    "auto_checkpoint_days": (int, float),
    "audit_max_bytes": int,
    "audit_keep": int,
    "audit_keep_days": (int, float),
    "daytona": dict,
}


_BOUNDS: tuple[tuple[str, float, float], ...] = (
    ("exec_output_limit", 0, 16 * 1024 * 1024),
    ("exec_output_total", 0, 1024**3),
    ("auto_checkpoint_keep", 0, 1_000_000),
    ("auto_checkpoint_days", 0, 36_500),
    ("audit_max_bytes", 0, 1024**4),
    ("audit_keep", 0, 100_000),
    ("audit_keep_days", 0, 36_500),
)

BWRAP_SETTINGS = ("auto", "system", "bundled")


def check_bwrap_setting(value: str, where: str = "key 'bwrap'") -> str:
    """The `bwrap` setting itself, or a ConfigError naming where it came from."""
    if value in BWRAP_SETTINGS or (value.startswith("/") and "\0" not in value):
        return value
    raise ConfigError(f'{where} must be "auto", "system", "bundled" or an absolute path to a bwrap binary')


def bwrap_setting_from_env(default: str = "auto") -> str:
    """`$SANDBENCH_BWRAP` (checked) when set, else `default`: the environment wins over the config file."""
    value = os.environ.get("SANDBENCH_BWRAP")
    if not value:
        return default
    return check_bwrap_setting(value, "SANDBENCH_BWRAP (values as for the key 'bwrap')")


def load(path: Path | None = None, **overrides: Any) -> Config:
    """Read the config file (missing file = defaults), apply environment, then explicit overrides."""
    cfg_path = path or default_config_path()
    raw: dict[str, Any] = {}
    if cfg_path.exists():
        try:
            raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{cfg_path}: cannot read: {exc.__class__.__name__}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{cfg_path}: not valid TOML: {exc}") from exc
    values: dict[str, Any] = {"path": cfg_path if cfg_path.exists() else None}
    for key, value in raw.items():
        expected = _KEYS.get(key)
        if expected is None:
            raise ConfigError(f"{cfg_path}: unknown key {key!r}")
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise ConfigError(f"{cfg_path}: key {key!r} has the wrong type ({type(value).__name__})")
        values[key] = value
    if "isolation" in values and values["isolation"] not in ("best", "required"):
        raise ConfigError(f'{cfg_path}: key \'isolation\' must be "best" or "required"')
    for key, low, high in _BOUNDS:
        if key in values and not low <= values[key] <= high:
            raise ConfigError(f"{cfg_path}: key {key!r} must be between {low:g} and {high:g}")
    if 0 < values.get("audit_max_bytes", 1 << 20) < 1 << 20:
        raise ConfigError(f"{cfg_path}: key 'audit_max_bytes' must be 0 (never rotate) or at least 1048576 (1 MiB)")
    if "bwrap" in values:
        check_bwrap_setting(values["bwrap"], f"{cfg_path}: key 'bwrap'")
    if os.environ.get("SANDBENCH_BWRAP"):
        values["bwrap"] = bwrap_setting_from_env()
    if "keymap" in values:
        bad = [k for k, v in values["keymap"].items() if not isinstance(v, str)]
        if bad:
            raise ConfigError(f"{cfg_path}: keymap entry {bad[0]!r} must be a string of keys")
    if "data_dir" in values:
        values["data_dir"] = Path(os.path.expanduser(values["data_dir"]))
    if os.environ.get("SANDBENCH_HOME"):
        values["data_dir"] = Path(os.environ["SANDBENCH_HOME"])
    daytona_raw = values.pop("daytona", {})
    unknown = set(daytona_raw) - {"api_key", "api_url", "target"}
    if unknown:
        raise ConfigError(f"{cfg_path}: unknown key 'daytona.{sorted(unknown)[0]}'")
    values["daytona"] = DaytonaConfig(
        api_key=os.environ.get("DAYTONA_API_KEY") or daytona_raw.get("api_key"),
        api_url=os.environ.get("DAYTONA_API_URL") or daytona_raw.get("api_url"),
        target=os.environ.get("DAYTONA_TARGET") or daytona_raw.get("target"),
    )
    if os.environ.get("SANDBENCH_PROVIDER"):
        values["provider"] = os.environ["SANDBENCH_PROVIDER"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("provider", "local") not in ("local", "daytona"):
        raise ConfigError(f"unknown provider {values['provider']!r} (choose local or daytona)")
    return Config(**values)
