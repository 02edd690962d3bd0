""".editorconfig files: parsing, glob matching and the settings that apply to one file (pure, no I/O, no Textual).

Follows the EditorConfig spec (https://spec.editorconfig.org) for what the editor uses: `[*]`, `[*.py]`,
`[*.{js,ts}]`, `[src/**.c]`, `[?]`, `[[ab]]`, `{1..3}` globs; `root = true`; the properties `indent_style`,
`indent_size`, `tab_width`, `insert_final_newline` and `end_of_line`. Files are given root-first (the workspace
root's `.editorconfig`, then each folder's on the way to the file): a closer file overrides a farther one, a later
section overrides an earlier one, and a file saying `root = true` discards everything farther out.

The caller reads the files (through the sandbox service: they are sandbox files) and passes their text here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

CONFIG_NAME = ".editorconfig"
MAX_CONFIG_BYTES = 64 * 1024  # a bigger .editorconfig is ignored (it is a few lines in practice)

_SECTION = re.compile(r"^\s*\[(.*)\]\s*$")
_PAIR = re.compile(r"^\s*([^=:]+?)\s*[=:]\s*(.*?)\s*$")
_RANGE = re.compile(r"^([+-]?\d+)\.\.([+-]?\d+)$")


@dataclass(frozen=True)
class Section:
    glob: str
    properties: dict[str, str]


@dataclass(frozen=True)
class EditorConfigFile:
    """One parsed `.editorconfig`: `folder` is where it lives, relative to the workspace root ("" for the root)."""

    folder: str
    root: bool
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class Settings:
    """What applies to one file; None means "not said" (the editor falls back to the file's content)."""

    indent_style: Literal["tab", "space"] | None = None
    indent_size: int | None = None
    tab_width: int | None = None
    insert_final_newline: bool | None = None
    end_of_line: Literal["lf", "crlf", "cr"] | None = None

    @property
    def indent_width(self) -> int | None:
        """The width of one indent level: `indent_size`, else `tab_width` (spec: indent_size = tab)."""
        return self.indent_size or self.tab_width

    @property
    def newline(self) -> str | None:
        return {"lf": "\n", "crlf": "\r\n", "cr": "\r"}.get(self.end_of_line or "")


def parse(text: str, folder: str = "") -> EditorConfigFile:
    """Parse one `.editorconfig`. Unknown lines are skipped (as editors do), never an error."""
    root = False
    sections: list[Section] = []
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if match := _SECTION.match(line):
            current = {}
            sections.append(Section(match.group(1), current))
            continue
        match = _PAIR.match(line)
        if match is None:
            continue
        key, value = match.group(1).lower(), match.group(2)
        if current is None:
            if key == "root":
                root = value.lower() == "true"
            continue
        current[key] = value
    return EditorConfigFile(folder.strip("/"), root, tuple(sections))


def glob_to_regex(glob: str) -> str:
    """An EditorConfig glob as a regex over a '/'-separated path (anchored by the caller)."""
    out: list[str] = []
    i, n = 0, len(glob)
    depth = 0  # open `{` groups
    while i < n:
        c = glob[i]
        if c == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
            continue
        if c == "*":
            if i + 1 < n and glob[i + 1] == "*":
                out.append(".*")
                i += 2
            else:
                out.append("[^/]*")
                i += 1
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[":
            close = glob.find("]", i + 1)
            if close < 0 or "/" in glob[i + 1 : close]:
                out.append(re.escape(c))
            else:
                body = glob[i + 1 : close]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
                i = close + 1
                continue
        elif c == "{":
            close = _matching_brace(glob, i)
            if close < 0:
                out.append(re.escape(c))
            else:
                body = glob[i + 1 : close]
                if (numbers := _RANGE.match(body)) is not None:
                    low, high = sorted((int(numbers.group(1)), int(numbers.group(2))))
                    out.append("(?:" + "|".join(str(k) for k in range(low, high + 1)) + ")")
                    i = close + 1
                    continue
                if "," not in _top_level(body):
                    out.append(re.escape("{" + body + "}"))  # `{single}` is literal (spec)
                    i = close + 1
                    continue
                out.append("(?:")
                depth += 1
        elif c == "}" and depth:
            out.append(")")
            depth -= 1
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _matching_brace(glob: str, start: int) -> int:
    level = 0
    for j in range(start, len(glob)):
        if glob[j] == "\\":
            continue
        if glob[j] == "{":
            level += 1
        elif glob[j] == "}":
            level -= 1
            if level == 0:
                return j
    return -1


def _top_level(body: str) -> str:
    """`body` with nested `{...}` groups removed (to see whether it has a comma of its own)."""
    out, level = [], 0
    for c in body:
        if c == "{":
            level += 1
        elif c == "}":
            level -= 1
        elif level == 0:
            out.append(c)
    return "".join(out)


def matches(glob: str, folder: str, path: str) -> bool:
    """Does a section glob of the `.editorconfig` in `folder` apply to `path` (both relative to the root)?
    A glob without '/' matches the file name in any folder below; one with '/' is relative to `folder`."""
    prefix = f"{folder}/" if folder else ""
    if not path.startswith(prefix):
        return False
    relative = path[len(prefix) :]
    if "/" in glob:
        pattern = glob_to_regex(glob.lstrip("/"))
    else:
        pattern = "(?:.*/)?" + glob_to_regex(glob)
    try:
        return re.fullmatch(pattern, relative) is not None
    except re.error:
        return False  # a malformed glob applies to nothing


def folders_to(path: str) -> list[str]:
    """The folders whose `.editorconfig` can apply to `path`, root first: "a/b/c.py" → ["", "a", "a/b"]."""
    parts = path.strip("/").split("/")[:-1]
    return [""] + ["/".join(parts[: k + 1]) for k in range(len(parts))]


def resolve(files: Iterable[EditorConfigFile], path: str) -> Settings:
    """The settings for `path` from its `.editorconfig` files, given root-first."""
    chain = list(files)
    for k in range(len(chain) - 1, -1, -1):
        if chain[k].root:
            chain = chain[k:]
            break
    props: dict[str, str] = {}
    for config in chain:
        for section in config.sections:
            if matches(section.glob, config.folder, path):
                props.update(section.properties)
    return _settings({k: v.strip().lower() for k, v in props.items()})


def _positive(value: str | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    number = int(value)
    return number if 1 <= number <= 16 else None


def _settings(props: dict[str, str]) -> Settings:
    style = props.get("indent_style")
    tab_width = _positive(props.get("tab_width"))
    size_value = props.get("indent_size")
    size = tab_width if size_value == "tab" else _positive(size_value)
    final = props.get("insert_final_newline")
    eol = props.get("end_of_line")
    return Settings(
        indent_style="tab" if style == "tab" else "space" if style == "space" else None,
        indent_size=size,
        tab_width=tab_width,
        insert_final_newline=True if final == "true" else False if final == "false" else None,
        end_of_line=eol if eol in ("lf", "crlf", "cr") else None,  # type: ignore[arg-type]
    )
