"""Checking TOML values against a frozen dataclass's own fields, and finding a key's line in the TOML text.

A field's type hint says which values it takes (`bool`, `int`, `float`, `str`, `Path`, `dict[str, str]`, another
dataclass for a `[table]`; `X | None` takes what `X` takes), its metadata what else holds: `limits(low, high)` for
numbers, `choices(...)` for words, `check(fn)` for anything else, `NOT_A_KEY` for a field no file may set. So the
types live once, on the dataclass, and the allowed range of each key sits next to its field.

Errors are `FieldError(key path, problem)`, with no file or line: `services.config.load` adds those, the line from
`key_lines`, a small scan of the text (tomllib keeps no positions), best effort: a key inside an inline table is
reported at the table's line. No message repeats a value: some are secrets.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Key = tuple[str, ...]
Check = Callable[[Any], str | None]  # a problem ("must be ..."), or None when the value is fine

NOT_A_KEY: Mapping[str, Any] = {"key": False}


def limits(low: float, high: float) -> dict[str, Any]:
    """Field metadata: the number must lie in [low, high]."""
    return {"min": low, "max": high}


def choices(*words: str) -> dict[str, Any]:
    """Field metadata: the string must be one of `words`."""
    return {"choices": words}


def check(fn: Check) -> dict[str, Any]:
    """Field metadata: `fn(value)` names what is wrong with a value of the right type, or returns None."""
    return {"check": fn}


class FieldError(Exception):
    """`key` (a path: `("daytona", "api_url")`) is wrong as `problem` says ("has the wrong type (str): ...")."""

    def __init__(self, key: Key, problem: str) -> None:
        super().__init__(f"key {dotted(key)!r} {problem}")
        self.key = key
        self.problem = problem


def dotted(key: Key) -> str:
    """The key as TOML writes it: `daytona.api_url`, `keymap."app.quit"`."""
    return ".".join(part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part) for part in key)


def file_keys(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """The fields of dataclass `cls` that a config file may set."""
    return {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("key", True)}


def convert(cls: type, raw: Mapping[str, Any], prefix: Key = ()) -> dict[str, Any]:
    """Keyword arguments for `cls` from the TOML table `raw`, each value checked and converted (a `[table]` into its
    dataclass); raises FieldError for the first unknown or bad key."""
    known = file_keys(cls)
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for name, value in raw.items():
        f = known.get(name)
        if f is None:
            close = difflib.get_close_matches(name, list(known), n=1)
            raise FieldError(
                (*prefix, name), "is not a known key" + (f" (did you mean {close[0]!r}?)" if close else "")
            )
        out[name] = value_of(hints[name], f.metadata, value, (*prefix, name))
    return out


def value_of(hint: Any, meta: Mapping[str, Any], value: Any, key: Key, *, from_env: bool = False) -> Any:
    """`value` checked against the field's type and metadata, converted (a `Path`, a dataclass); `from_env`: a path
    is taken as written (the shell has expanded `~` already), not expanded as in the file."""
    kind = _unoptional(hint)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(value, dict):
            raise _wrong_type(key, value, "a table")
        return kind(**convert(kind, value, key))
    if kind is bool:
        if not isinstance(value, bool):
            raise _wrong_type(key, value, "true or false")
    elif kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _wrong_type(key, value, "a whole number")
    elif kind is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _wrong_type(key, value, "a number")
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise _wrong_type(key, value, "a string")
    elif kind is Path:
        if not isinstance(value, str):
            raise _wrong_type(key, value, "a path (a string)")
        if not value or "\0" in value:
            raise FieldError(key, "must be a path: not empty, no NUL character")
        value = Path(value if from_env else os.path.expanduser(value))
    elif typing.get_origin(kind) is dict and typing.get_args(kind) == (str, str):
        if not isinstance(value, dict):
            raise _wrong_type(key, value, "a table of strings")
        for sub, item in value.items():
            if not isinstance(item, str):
                raise _wrong_type((*key, sub), item, "a string")
        value = dict(value)
    else:  # a field of a type this module does not know: a programming error, caught by the config tests
        raise TypeError(f"config field {dotted(key)!r}: unsupported type {hint!r}")
    _in_bounds(meta, value, key)
    return value


def _unoptional(hint: Any) -> Any:
    """`X` for `X | None` (TOML has no null: a key left out is the default)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return hint


def _wrong_type(key: Key, value: Any, expected: str) -> FieldError:
    return FieldError(key, f"has the wrong type ({_toml_type(value)}): expected {expected}")


def _toml_type(value: Any) -> str:
    names = {bool: "bool", int: "int", float: "float", str: "str", dict: "table", list: "array"}
    return names.get(type(value), type(value).__name__)


def _in_bounds(meta: Mapping[str, Any], value: Any, key: Key) -> None:
    if "min" in meta and not meta["min"] <= value <= meta["max"]:  # also refuses nan
        raise FieldError(key, f"must be between {_number(meta['min'])} and {_number(meta['max'])}")
    words: tuple[str, ...] = meta.get("choices", ())
    if words and value not in words:
        raise FieldError(key, "must be " + _either(words))
    fn: Check | None = meta.get("check")
    problem = fn(value) if fn is not None else None
    if problem:
        raise FieldError(key, problem)


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _either(words: tuple[str, ...]) -> str:
    quoted = [f'"{w}"' for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


# -- where a key is written ------------------------------------------------------------------------------------
def key_lines(text: str) -> dict[Key, int]:
    """The first line (1-based) where each table header and key of TOML `text` is written, keyed by full path.

    Each candidate key is handed to tomllib itself (`<key> = 0`), so quoted and dotted keys read as TOML reads
    them; lines inside a multi-line string are skipped. Best effort: only for pointing at a line in an error."""
    found: dict[Key, int] = {}
    table: Key = ()
    open_quote: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if open_quote is not None:
            if line.count(open_quote) % 2 == 1:
                open_quote = None
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            header = _path_in(_parse(stripped))
            if header:
                table = header
                found.setdefault(table, number)
            continue
        for at in (i for i, c in enumerate(stripped) if c == "="):
            path = _path_in(_parse(stripped[:at] + "= 0"))
            if path:
                found.setdefault(table + path, number)
                rest = stripped[at + 1 :].lstrip()
                for quote in ('"""', "'''"):
                    if rest.startswith(quote) and rest.count(quote) % 2 == 1:
                        open_quote = quote
                break
    return found


def line_of(lines: Mapping[Key, int], key: Key) -> int | None:
    """The line of `key`, else of the nearest table that holds it (an inline table's key), else None."""
    for n in range(len(key), 0, -1):
        if key[:n] in lines:
            return lines[key[:n]]
    return None


def _parse(snippet: str) -> dict[str, Any] | None:
    try:
        return tomllib.loads(snippet)
    except tomllib.TOMLDecodeError:
        return None


def _path_in(tree: Any) -> Key:
    """The one path of a tree that holds one key at each level (`{"a": {"b": 0}}` → `("a", "b")`)."""
    path: list[str] = []
    while isinstance(tree, list) and tree:  # `[[array.of.tables]]`
        tree = tree[-1]
    while isinstance(tree, dict) and len(tree) == 1:
        name, tree = next(iter(tree.items()))
        path.append(name)
        while isinstance(tree, list) and tree:
            tree = tree[-1]
    return tuple(path)
