"""Auto-indent rules for the editor (pure: no Textual): what Enter inserts and where a closing bracket goes.

- Enter keeps the current line's indent, and adds one level after a line ending in an opener of the file's
  language: `{`, `(`, `[` in every programming language, `:` in the indentation languages (Python, YAML, ...).
  Between an opener and its closer (`f(|)`) the closer moves to a line of its own at the outer level.
- A closing bracket typed as the first non-blank of a line goes to the indent of the line that opened it.
Plain text (no lexer) only keeps the indent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pygments.lexer import Lexer

OPEN_TO_CLOSE = {"(": ")", "[": "]", "{": "}"}
CLOSE_TO_OPEN = {v: k for k, v in OPEN_TO_CLOSE.items()}
MAX_OPENER_SCAN = 20_000  # characters searched backwards for the bracket a closer closes

# Pygments aliases of the languages where a trailing ':' opens a block
_COLON_LANGUAGES = frozenset(
    {"python", "python3", "py", "cython", "pyx", "nim", "yaml", "coffeescript", "coffee", "gdscript", "boo"}
)


def openers_for(lexer: Lexer | None) -> str:
    """The characters that, ending a line, indent the next one."""
    if lexer is None:
        return ""
    if _COLON_LANGUAGES.intersection(getattr(lexer, "aliases", ())):
        return "([{:"
    return "([{"


def leading_whitespace(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


@dataclass(frozen=True)
class NewlineEdit:
    """Replace columns `start`..`end` of the cursor's line with `text`, then put the cursor `cursor_row_offset`
    rows below that line at `cursor_column` (not always the end of the text: a closer may follow on its own line)."""

    start: int
    end: int
    text: str
    cursor_row_offset: int  # rows below the edited line
    cursor_column: int


def newline(line: str, start: int, end: int, *, unit: str, openers: str, newline: str = "\n") -> NewlineEdit:
    """What Enter does with the selection `start`..`end` (columns of `line`, the cursor's line).

    Trailing blanks before the cursor and leading blanks after it are dropped (the new line gets the indent)."""
    before = line[:start]
    after = line[end:]
    indent = leading_whitespace(line)  # also when Enter is pressed inside it: the line moves down, indented
    code = before.rstrip(" \t")
    rest = after.lstrip(" \t")
    cut_start = len(code)
    cut_end = end + (len(after) - len(rest))
    last = code[-1:] if code else ""
    if last and last in openers:
        inner = indent + unit
        closer = OPEN_TO_CLOSE.get(last)
        if closer is not None and rest.startswith(closer):
            # f(|) → f(\n    |\n)
            return NewlineEdit(cut_start, cut_end, newline + inner + newline + indent, 1, len(inner))
        return NewlineEdit(cut_start, cut_end, newline + inner, 1, len(inner))
    return NewlineEdit(cut_start, cut_end, newline + indent, 1, len(indent))


def opener_indent(lines: Sequence[str], row: int, column: int, closer: str) -> str | None:
    """The indent of the line holding the bracket that `closer`, typed at (row, column), would close; None when
    there is none within MAX_OPENER_SCAN characters. Brackets in strings and comments are counted too (as the
    stock bracket matching does)."""
    opener = CLOSE_TO_OPEN[closer]
    depth = 0
    budget = MAX_OPENER_SCAN
    for r in range(row, -1, -1):
        text = lines[r][:column] if r == row else lines[r]
        for ch in reversed(text):
            budget -= 1
            if budget < 0:
                return None
            if ch in CLOSE_TO_OPEN:
                depth += 1
            elif ch in OPEN_TO_CLOSE:
                if depth == 0:
                    return leading_whitespace(lines[r]) if ch == opener else None
                depth -= 1
    return None
