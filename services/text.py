"""Showing sandbox-supplied text on a terminal: the one module every screen, widget, CLI line and error message uses.

A name, a label, a file's content, a command's output is arbitrary text chosen by code in the sandbox. It is never
parsed as markup (callers build `rich.text.Text`/segments from these strings, which take text literally), and
nothing in it may reach the terminal as a control: ESC and C1 controls (CSI is U+009B) would start escape
sequences, NUL and BEL misbehave, newlines break a line in two, bidi overrides (U+202E, ...) make `evil\u202etxt.exe`
pose as `evilexe.txt`, and bytes that were not UTF-8 (kept as surrogate escapes) cannot be printed at all.

The presentations, by purpose:

- `safe_text(text)` — inline text (a name, a label, a path, a branch, a commit subject, a message): every
  non-printable character as a visible escape (`escape_char`: `\\x1b`, `\\xff` for an undecodable byte, `\\u202e`).
- `one_line(text, limit)` — a message that may span lines (a notification, an error): its non-blank lines joined,
  made safe, cut at `limit` with `…`. `first_line(text, limit)` — only its first non-blank line (a command's
  failure, where the rest is noise).
- `content(line, tabs=None)` — one line of file content or a diff: C0 controls as Unicode control pictures
  (`␛`, `␀`: one cell, so text stays aligned), everything else unsafe as an escape; tabs expanded when asked.
- `same_columns(line)` — a line in the editor, where each character must stay one character (the cursor's column
  is an index into the document): C0/C1 controls as one symbol each, nothing else changed.

UI-free (DESIGN §1), so the CLI uses it without importing Textual.
"""

from __future__ import annotations

import re

# What `content` must change beyond C0/DEL: C1 controls, bidi marks/embeddings/overrides/isolates, the line and
# paragraph separators, the Arabic letter mark, and surrogates (undecodable bytes, or lone ones).
_CONTENT_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_COLUMN_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


_READABLE = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}  # as a programmer reads them, not `\x0a`


def escape_char(ch: str) -> str:
    """The visible escape for one non-printable character: `\\n`, `\\t`, `\\r`, `\\xNN` (an undecodable byte
    shows as the byte it was), `\\uNNNN` or `\\UNNNNNNNN`."""
    code = ord(ch)
    if ch in _READABLE:
        return _READABLE[ch]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: an undecodable byte 0x80-0xff
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe_text(text: str) -> str:
    """`text` for inline display: every non-printable character (controls, newlines, tabs, bidi and other format
    characters, undecodable bytes) as a visible escape, never passed to the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else escape_char(c) for c in text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def one_line(text: str, limit: int = 500) -> str:
    """`text` as one safe line: its non-blank lines joined by spaces, made safe, cut at `limit` (with `…`)."""
    joined = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return _cut(safe_text(joined), limit)


def first_line(text: str, limit: int = 300, *, empty: str = "") -> str:
    """The first non-blank line of `text`, made safe and cut at `limit` (with `…`); `empty` when there is none."""
    for line in text.splitlines():
        if line.strip():
            return _cut(safe_text(line.strip()), limit)
    return empty


def _content_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # U+2400.. control pictures: ␀ ␉ ␊ ␛ ...
    if code == 0x7F:
        return "\u2421"  # ␡
    return escape_char(ch)


def content(line: str, *, tabs: int | None = None) -> str:
    """One line of file content, a diff or command output, made safe: C0 controls as control pictures (one cell
    each), C1 controls, bidi controls, separators and undecodable bytes as escapes. With `tabs`, tabs are expanded
    to that width instead of shown as `␉`."""
    if tabs is not None and "\t" in line:
        line = line.expandtabs(tabs)
    if not _CONTENT_UNSAFE.search(line):
        return line
    return _CONTENT_UNSAFE.sub(lambda m: _content_char(m.group()), line)


def _column_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"


def same_columns(line: str) -> str:
    """A document line as the editor shows it: C0/C1 control characters as one symbol each (tab kept: the editor
    expands it), so every character stays one character and columns match the document."""
    if not _COLUMN_UNSAFE.search(line):
        return line
    return _COLUMN_UNSAFE.sub(_column_char, line)


_WRAP_PIECES = re.compile(r" +|[^ /]*/+|[^ /]+")  # runs of spaces, path components with their `/`, words


def _elide(piece: str, width: int) -> str:
    """A piece too long for a whole line: its start and end kept, the middle as `…` (a path's file name stays)."""
    if width <= 1:
        return "…"[:width]
    head = (width - 1) // 2
    return piece[:head] + "…" + piece[len(piece) - (width - 1 - head) :]


def wrap(text: str, width: int, hang: int = 2) -> list[str]:
    """`text` as lines of at most `width` characters, broken at spaces or after a path's `/`, never inside a word
    (a terminal's own wrap cuts a path mid-name); continuation lines are indented by `hang` spaces. A piece that
    would not fit on a line of its own has its middle elided with `…`. Characters count one column each (callers
    pass `safe_text` output)."""
    if width <= 0 or len(text) <= width:
        return [text]
    hang = max(0, min(hang, width // 2))
    lines: list[str] = []
    line = ""
    for piece in _WRAP_PIECES.findall(text):
        if len(line) + len(piece) <= width:
            line += piece
            continue
        if piece.startswith(" "):  # a break at spaces: they go
            lines.append(line.rstrip(" "))
            line = " " * hang
            continue
        if line.strip():
            lines.append(line.rstrip(" "))
            line = " " * hang
        room = width - len(line)
        line += piece if len(piece) <= room else _elide(piece, room)
    if line.strip():
        lines.append(line.rstrip(" "))
    return lines
