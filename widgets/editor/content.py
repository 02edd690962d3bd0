"""What a file's bytes become in the editor: editable text, or a read-only view with a reason.

Pure functions (no Textual), run off the UI loop: binary detection, UTF-8 decoding, round-trip checks,
indentation detection, lexer choice. The rule is: a buffer is editable only if saving it unchanged writes back
exactly the bytes that were read; anything else opens read-only with a banner saying why, so the editor never
corrupts a file silently.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from pygments.lexer import Lexer

from widgets.editor.highlight import detect_lexer

BINARY_SNIFF = 8192  # NUL bytes in this many leading bytes mean binary
HEX_HEAD = 1024  # bytes shown in a binary file's hex view
LONG_LINE = 10_000  # characters: a line longer than this opens folded, read-only (TextArea renders whole lines)
FOLD_AT = 1_000  # the folded view's line length
INVALID_RATIO = 0.3  # more undecodable bytes than this (in the sniffed head) → binary; Latin-1 text stays text

Kind = Literal["text", "binary", "head", "invalid", "long", "lossy", "diff"]
_NEWLINES = re.compile(r"\r\n|\r|\n")
# characters str.splitlines() breaks at besides \n and \r (TextArea's Document splits on them, and would write
# them back as newlines)
_ODD_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass(frozen=True)
class LoadedFile:
    path: str
    kind: Kind
    text: str
    mtime: float
    size: int
    lexer: Lexer | None = None
    indent_type: str = "spaces"
    indent_width: int = 4
    notice: str | None = None  # the banner of a read-only view
    final_newline: bool = True  # saving ends a non-empty file with a newline (editorconfig may say not to)
    newline: str = "\n"  # what saving writes between lines: the file's own, else editorconfig's end_of_line
    raw: bytes = b""  # binary: the bytes the hex view shows (it re-lays them out to the pane's width)

    @property
    def read_only(self) -> bool:
        return self.kind != "text"


def hex_dump(data: bytes, limit: int = HEX_HEAD, per_row: int = 16) -> str:
    """Offset, `per_row` bytes in hex, the same bytes as ASCII: one row `hex_row_width(per_row)` wide."""
    rows = []
    for offset in range(0, min(len(data), limit), per_row):
        chunk = data[offset : offset + per_row]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        rows.append(f"{offset:08x}  {hexes:<{3 * per_row - 1}}  {text}")
    return "\n".join(rows)


def hex_row_width(per_row: int) -> int:
    return 8 + 2 + (3 * per_row - 1) + 2 + per_row


def bytes_per_row(width: int) -> int:
    """The most bytes per row (16, 12, 8 or 4) whose whole row, ASCII column included, fits `width` cells."""
    return next((n for n in (16, 12, 8) if hex_row_width(n) <= width), 4)


def is_binary(data: bytes) -> bool:
    head = data[:BINARY_SNIFF]
    if b"\x00" in head:
        return True
    decoded = head.decode("utf-8", "surrogateescape")
    if len(data) > BINARY_SNIFF:
        decoded = decoded[:-3]  # a multi-byte character cut at the sniff boundary is not evidence of anything
    bad = sum(1 for ch in decoded if "\udc80" <= ch <= "\udcff")
    return bool(head) and bad / len(head) > INVALID_RATIO


def roundtrips(text: str) -> bool:
    """True if TextArea's Document would give back exactly `text` (one newline style, no odd line breaks)."""
    if _ODD_BREAKS.search(text):
        return False
    styles = set(_NEWLINES.findall(text))
    return len(styles) <= 1


def newline_of(text: str) -> str | None:
    """The first line break of `text` (a buffer that round-trips has one style), None without any."""
    match = _NEWLINES.search(text)
    return match.group(0) if match else None


def detect_indent(text: str, sample_lines: int = 5000) -> tuple[str, int]:
    """('tabs', 4) or ('spaces', N) from the leading whitespace of the first lines."""
    tabs = spaces = 0
    steps: Counter[int] = Counter()
    previous = 0
    for count, line in enumerate(text.split("\n", sample_lines)):
        if count >= sample_lines:
            break
        if not line.strip():
            continue
        if line.startswith("\t"):
            tabs += 1
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent:
            spaces += 1
        step = abs(indent - previous)
        if step in (2, 3, 4, 8):
            steps[step] += 1
        previous = indent
    if tabs > spaces:
        return "tabs", 4
    if not steps:
        return "spaces", 4
    return "spaces", steps.most_common(1)[0][0]


def fold_long_lines(text: str, width: int = FOLD_AT) -> str:
    out = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
        else:
            out.extend(line[i : i + width] for i in range(0, len(line), width))
    return "\n".join(out)


def classify(
    path: str, data: bytes, *, size: int, mtime: float, truncated: bool = False, limit: int | None = None
) -> LoadedFile:
    """Turn bytes read from a sandbox into what the editor shows. Slow parts (lexer guess) included: call it
    in a thread."""
    if is_binary(data):
        shown = hex_dump(data)
        more = f" (first {min(len(data), HEX_HEAD):,} bytes in hex)" if data else ""
        notice = f"Binary file, {size:,} bytes: read-only{more}"
        return LoadedFile(path, "binary", shown, mtime, size, notice=notice, raw=data[:HEX_HEAD])
    if truncated:
        text = data.decode("utf-8", "replace")
        if text.endswith("\ufffd"):
            text = text.rstrip("\ufffd")  # a character cut in half by the limit
        lim = f"the {limit:,}-byte limit" if limit else "the size limit"
        notice = f"{size:,} bytes is over {lim}: showing the first {len(data):,} bytes, read-only"
        lexer = detect_lexer(path, text[:4096])
        if max(map(len, text.split("\n")), default=0) > LONG_LINE:
            text = fold_long_lines(text)
            lexer = None
        return LoadedFile(path, "head", text, mtime, size, lexer=lexer, notice=notice)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = data.decode("utf-8", "replace")
        notice = (
            f"Not valid UTF-8 (first bad byte at offset {exc.start:,}): shown with \ufffd, read-only so saving "
            "cannot corrupt it"
        )
        return LoadedFile(path, "invalid", shown, mtime, size, lexer=detect_lexer(path, shown[:4096]), notice=notice)
    longest = max(map(len, text.split("\n")), default=0) if len(text) > LONG_LINE else 0
    if longest > LONG_LINE:
        notice = (
            f"A line of {longest:,} characters: shown folded every {FOLD_AT:,} characters, read-only "
            "(the editor cannot edit lines this long responsively)"
        )
        return LoadedFile(path, "long", fold_long_lines(text), mtime, size, notice=notice)
    lexer = detect_lexer(path, text[:4096])
    indent_type, indent_width = detect_indent(text)
    if not roundtrips(text):
        notice = "Mixed line endings or form-feed/separator characters: read-only, because saving would change them"
        return LoadedFile(path, "lossy", text, mtime, size, lexer, indent_type, indent_width, notice)
    return LoadedFile(
        path, "text", text, mtime, size, lexer, indent_type, indent_width, newline=newline_of(text) or "\n"
    )
