"""services/text.py, the one module that shows sandbox text: hostile input never reaches the terminal as a control,
never changes what else is on the line, and never passes for other text.

Each presentation is fed the same hostile strings: escape sequences (CSI, OSC title sets, DCS), C1 controls (CSI as
one byte, U+009B), bidi overrides and isolates, NUL, BEL, newlines, undecodable bytes, markup brackets, and very long
text. The invariant checked for every one: no character a terminal could act on survives.
"""

from __future__ import annotations

import unicodedata

import pytest
from rich.text import Text

from services.text import content, escape_char, first_line, one_line, safe_text, same_columns

HOSTILE = [
    "\x1b[31mred\x1b[0m",  # SGR
    "\x1b]0;pwned\x07",  # OSC: set the window title
    "\x1b]52;c;ZXZpbA==\x07",  # OSC 52: write the clipboard
    "\x1bP+q544e\x1b\\",  # DCS
    "\x9b31mC1 CSI",  # CSI as one C1 character
    "\x9d0;title\x9c",  # OSC/ST as C1
    "evil\u202etxt.exe",  # right-to-left override
    "a\u2066b\u2069c\u200fd\u061ce",  # isolates, RLM, Arabic letter mark
    "nul\x00byte",
    "bell\x07",
    "two\nlines\r\nand\x0bmore\x0c",
    "line\u2028separator\u2029para",
    "bad\udcff\udcfebytes",  # undecodable bytes kept by surrogateescape
    "lone\ud800surrogate",
    "del\x7f",
]

# what a terminal could act on, or what reorders or breaks a line
_DANGEROUS = {*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0)), "\u061c", "\u200e", "\u200f"}
_DANGEROUS |= {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029)}


def _dangerous(s: str, *, allow: str = "") -> list[str]:
    return [c for c in s if (c in _DANGEROUS or 0xD800 <= ord(c) <= 0xDFFF) and c not in allow]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_presentation_lets_a_control_through(text: str) -> None:
    for shown in (safe_text(text), one_line(text), first_line(text), content(text), content(text, tabs=4)):
        assert not _dangerous(shown), (text, shown)
        assert shown.isprintable(), (text, shown)
        shown.encode("utf-8")  # printable means encodable: no lone surrogate left
    # the editor keeps one character per character (its cursor indexes the document); tabs are its own to expand
    kept = same_columns(text)
    assert len(kept) == len(text)
    assert not [c for c in _dangerous(kept, allow="\t") if unicodedata.category(c) == "Cc"], (text, kept)


def test_inline_escapes_say_what_was_there() -> None:
    assert safe_text("\x1b[31mred") == "\\x1b[31mred"
    assert safe_text("\x9b31m") == "\\x9b31m"
    assert safe_text("evil\u202etxt.exe") == "evil\\u202etxt.exe"  # cannot pose as evilexe.txt
    assert safe_text("nul\x00") == "nul\\x00"
    assert safe_text("a\nb\tc") == "a\\nb\\tc"
    assert safe_text("bad\udcff") == "bad\\xff"  # the byte it was, not a surrogate code
    assert safe_text("\U000e0001tag") == "\\U000e0001tag"
    assert escape_char("\udcfe") == "\\xfe"


def test_ordinary_text_is_untouched() -> None:
    for text in ("plain.txt", "naïve café", "日本語のファイル", "tab-free [x] (y) {z}"):
        assert safe_text(text) == text
        assert content(text) == text
        assert same_columns(text) == text
    # a zero-width joiner is a format character: in a name it is shown (it could hide in a look-alike), in file
    # content it is left to join its emoji
    assert safe_text("👩\u200d💻") == "👩\\u200d💻"
    assert content("👩\u200d💻") == same_columns("👩\u200d💻") == "👩\u200d💻"
    assert content("a\tb") == "a\u2409b" and content("a\tb", tabs=4) == "a   b"
    assert same_columns("a\tb") == "a\tb"


def test_markup_brackets_stay_text() -> None:
    hostile = "[bold red]x[/] [link=https://evil]y[/link] [@click=app.quit]z[/]"
    for shown in (safe_text(hostile), one_line(hostile), first_line(hostile), content(hostile)):
        assert shown == hostile  # brackets are not escaped here: callers build Text, which takes them literally
        text = Text(shown)
        assert text.plain == hostile and not text.spans


def test_content_lines_keep_their_width() -> None:
    # C0 controls become one-cell pictures, so a diff or conflict body stays aligned
    assert content("a\x1b[31mb\x07") == "a\u241b[31mb\u2407"
    assert content("line\nbreak") == "line\u240abreak"
    assert content("del\x7f") == "del\u2421"
    # what has no picture is escaped
    assert content("x\x9by") == "x\\x9by"
    assert content("\u202eevil") == "\\u202eevil"
    assert content("bad\udcffbyte") == "bad\\xffbyte"


def test_the_editor_keeps_columns() -> None:
    assert same_columns("a\x1b[31mb") == "a\u241b[31mb"
    assert same_columns("\x00\x07\x7f\x9b") == "\u2400\u2407\u2421\ufffd"


def test_messages_are_one_line_and_bounded() -> None:
    assert one_line("first\n\n  second  \r\nthird") == "first second third"
    assert first_line("\n\n  fatal: no\nhint: more") == "fatal: no"
    assert first_line("", empty="no output") == "no output"
    assert first_line(" \n \n") == ""
    huge = "x" * 100_000 + "\x1b[2J"
    for shown in (one_line(huge, 80), first_line(huge, 80)):
        assert len(shown) == 80 and shown.endswith("…")
    # escapes count toward the limit: a line of controls cannot grow past it
    assert len(one_line("\x1b" * 10_000, 50)) == 50
    assert len(first_line("\u202e" * 10_000, 50)) == 50
