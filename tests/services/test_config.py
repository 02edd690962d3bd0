"""The config file checked against the dataclasses' own fields (services/config.py, services/config_schema.py): each
bad value names the file, the line and the key and says what was expected; the environment table wins as the
README says, and the README's table is the code's."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from services import config as config_mod
from services.config import ENVIRONMENT, Config, ConfigError, DaytonaConfig
from services.config_schema import FieldError, file_keys, key_lines, value_of
from services.git_remote import TOKEN_ENV

ROOT = Path(__file__).resolve().parents[2]
PREAMBLE = '# my settings\nidentity = "ann"\n\n'  # so the bad key never sits on line 1

ENV_NAMES = [var.name for var in ENVIRONMENT]


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def _error(tmp_path: Path, body: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(PREAMBLE + body)
    with pytest.raises(ConfigError) as err:
        config_mod.load(path)
    return err.value.message


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        # bool
        ('show_others = "yes"\n', 4, "key 'show_others' has the wrong type (str): expected true or false"),
        # int: type and range
        ("scrollback = 1.5\n", 4, "key 'scrollback' has the wrong type (float): expected a whole number"),
        ("theme = 'x'\nread_limit = 0\n", 5, "key 'read_limit' must be between 1 and 1073741824"),
        ("exec_output_total = true\n", 4, "key 'exec_output_total' has the wrong type (bool): expected a whole number"),
        # float: type and range (an int is a fine float)
        ('state_ttl = "30"\n', 4, "key 'state_ttl' has the wrong type (str): expected a number"),
        ("state_ttl = 7200\n", 4, "key 'state_ttl' must be between 0 and 3600"),
        ("auto_checkpoint_days = nan\n", 4, "key 'auto_checkpoint_days' must be between 0 and 36500"),
        # str: type and choices
        ("provider = 1\n", 4, "key 'provider' has the wrong type (int): expected a string"),
        ('isolation = "sometimes"\n', 4, 'key \'isolation\' must be "best" or "required"'),
        ('owner_label = ""\n', 4, "key 'owner_label' must be a non-empty name"),
        # path
        ("data_dir = 3\n", 4, "key 'data_dir' has the wrong type (int): expected a path (a string)"),
        ('data_dir = ""\n', 4, "key 'data_dir' must be a path"),
        # dict of str: the entry's own line
        ('[keymap]\n"app.quit" = "ctrl+q"\n"app.help" = 5\n', 6, "key 'keymap.\"app.help\"' has the wrong type (int)"),
        ('keymap = ["ctrl+q"]\n', 4, "key 'keymap' has the wrong type (array): expected a table of strings"),
        # nested [daytona]: type, shape, unknown key
        ('[daytona]\ntarget = "us"\napi_url = 8080\n', 6, "key 'daytona.api_url' has the wrong type (int)"),
        ('[daytona]\n\napi_url = "ftp://example.com"\n', 6, "key 'daytona.api_url' must be an http:// or https://"),
        ('[daytona]\napi_url = "https://example.com:99999"\n', 5, "key 'daytona.api_url' must be an http:// or"),
        ('[daytona]\ntarget = "us east"\n', 5, "key 'daytona.target' must be a region name"),
        ('[daytona]\napi_kye = "k"\n', 5, "key 'daytona.api_kye' is not a known key (did you mean 'api_key'?)"),
        ('daytona = "https://example.com"\n', 4, "key 'daytona' has the wrong type (str): expected a table"),
        ('daytona.target = ""\n', 4, "key 'daytona.target' must be a region name"),
        ('daytona = { target = "" }\n', 4, "key 'daytona.target' must be a region name"),  # the inline table's line
        # unknown keys stay errors
        ('\nprovder = "local"\n', 5, "key 'provder' is not a known key (did you mean 'provider'?)"),
        ("[extra]\nx = 1\n", 4, "key 'extra' is not a known key"),
    ],
)
def test_a_bad_value_names_file_line_and_key_and_what_was_expected(
    tmp_path: Path, body: str, line: int, says: str
) -> None:
    message = _error(tmp_path, body)
    assert message.startswith(f"{tmp_path / 'config.toml'}:{line}: "), message
    assert says in message, message


def test_a_bad_secret_is_never_repeated(tmp_path: Path) -> None:
    message = _error(tmp_path, '[daytona]\napi_key = "sk-TOPSECRET with a space"\n')
    assert "daytona.api_key" in message and ":5:" in message and "TOPSECRET" not in message


def test_a_key_in_a_multi_line_string_is_not_taken_for_a_key() -> None:
    text = 'theme = """\nscrollback = 1\n"""\nscrollback = 2\n[a."b.c"]\nd.e = 1\n'
    lines = key_lines(text)
    assert lines[("scrollback",)] == 4 and lines[("a", "b.c")] == 5 and lines[("a", "b.c", "d", "e")] == 6


def test_good_values_load_as_their_types(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        'provider = "daytona"\nstate_ttl = 5\ndata_dir = "~/sb"\nread_limit = 2048\n'
        '[keymap]\n"app.quit" = "ctrl+q"\n'
        '[daytona]\napi_key = "k-1"\napi_url = "https://daytona.example/api"\ntarget = "eu"\n'
    )
    cfg = config_mod.load(path)
    assert cfg.path == path and cfg.provider == "daytona" and cfg.read_limit == 2048
    assert cfg.state_ttl == 5.0 and isinstance(cfg.state_ttl, float)
    assert cfg.data_dir == Path.home() / "sb" and cfg.keymap == {"app.quit": "ctrl+q"}
    assert cfg.daytona == DaytonaConfig(api_key="k-1", api_url="https://daytona.example/api", target="eu")
    assert "k-1" not in repr(cfg)


def test_the_environment_wins_as_the_table_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        'provider = "local"\nbwrap = "system"\ndata_dir = "/srv/file"\ngit_token = "from-file"\n'
        '[daytona]\napi_key = "file-key"\napi_url = "https://file.example"\ntarget = "us"\n'
    )
    env = {
        "SANDBENCH_HOME": str(tmp_path / "home"),
        "SANDBENCH_PROVIDER": "daytona",
        "SANDBENCH_BWRAP": "bundled",
        TOKEN_ENV: "from-env",
        "DAYTONA_API_KEY": "env-key",
        "DAYTONA_API_URL": "http://127.0.0.1:3000/api",
        "DAYTONA_TARGET": "local",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = config_mod.load(path)
    assert (cfg.data_dir, cfg.provider, cfg.bwrap) == (tmp_path / "home", "daytona", "bundled")
    assert cfg.daytona == DaytonaConfig("env-key", "http://127.0.0.1:3000/api", "local")
    assert cfg.git_token == "from-file"  # the one variable that only fills in: the file's token wins
    assert config_mod.load(path, provider="local").provider == "local"  # and the command line over all

    path.write_text("")
    assert config_mod.load(path).git_token == "from-env"
    monkeypatch.setenv("SANDBENCH_PROVIDER", "")  # empty: unset
    assert config_mod.load(path).provider == "local"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SANDBENCH_PROVIDER", "cloud", "$SANDBENCH_PROVIDER (values as for the key 'provider') must be \"local\""),
        ("DAYTONA_API_URL", "localhost:3000", "$DAYTONA_API_URL (values as for the key 'daytona.api_url') must be"),
        ("DAYTONA_API_KEY", "two words", "$DAYTONA_API_KEY (values as for the key 'daytona.api_key') must be"),
        ("SANDBENCH_BWRAP", "bin/bwrap", "$SANDBENCH_BWRAP (values as for the key 'bwrap') must be"),
    ],
)
def test_a_bad_environment_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        config_mod.load(tmp_path / "missing.toml")
    assert says in err.value.message and value not in err.value.message


def test_the_readme_table_is_the_codes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert config_mod.environment_table() in readme, (
        "README.md's environment table differs from services/config.py ENVIRONMENT; it should read:\n"
        + config_mod.environment_table()
    )


def test_every_config_key_is_in_the_readme() -> None:
    """Each key a config file may set has a row in README.md's key table (a new field without one fails here)."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| key | default | meaning |") : readme.index("### Environment")]
    rows = set(re.findall(r"^\| `\[?([a-z_]+)\]?` \|", table, re.M))
    keys = {
        f.name
        for f in dataclasses.fields(Config)
        if f.metadata.get("key", True)  # NOT_A_KEY fields (the file's own path) are no setting
    }
    assert keys - rows == set(), "add these keys to README.md's Configuration table"
    assert rows - keys == set(), "README.md's Configuration table names keys the code does not have"


# Variables the code reads that are no user's setting: the sandbox drivers' hand-over, fault injection for tests,
# and what is passed through to a sandbox's tools.
INTERNAL = {
    "SANDBENCH_FAULT",
    "SANDBENCH_INTERP",
    "SANDBENCH_INTERP_CWD",
    "SANDBENCH_INTERP_READY",
    "SANDBENCH_LSP",
    "SANDBENCH_LSP_CWD",
    "SANDBENCH_LSP_MISSING",
    "SANDBENCH_LSP_READY",
    "HISTFILE",
    "MPLBACKEND",
}


def test_every_variable_the_code_reads_is_in_the_table() -> None:
    read: set[str] = set()
    pattern = re.compile(r"""environ(?:\.get|\.pop)?[\[(]\s*["']([A-Z][A-Z0-9_]*)["']""")
    for top in ("services", "tui", "widgets"):
        for source in (ROOT / top).rglob("*.py"):
            read.update(pattern.findall(source.read_text()))
    assert read, "the scan found no environment reads: the pattern is out of date"
    assert read - INTERNAL <= set(ENV_NAMES), "document these in services/config.py ENVIRONMENT"
    assert TOKEN_ENV in ENV_NAMES


def test_every_table_key_and_every_field_type_is_known() -> None:
    """A key the table names is a field; every field's type is one the checker reads (a field of a new type fails
    here, not on the first user who sets it)."""
    for var in ENVIRONMENT:
        if var.key is not None:
            *tables, name = var.key.split(".")
            cls: type = Config
            for table in tables:
                cls = typing.get_type_hints(cls)[table]
            assert name in file_keys(cls), var
    for cls in (Config, DaytonaConfig):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            with pytest.raises(FieldError):
                value_of(hints[f.name], f.metadata, object(), (f.name,))
