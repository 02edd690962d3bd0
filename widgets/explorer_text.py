"""Names from a sandbox as styled runs (DESIGN §5.7): the explorer's and the fuzzy finder's rich-text helpers over
`services.text` (which owns what is escaped, and how; `safe_text` is the plain-string form).

A file name is arbitrary bytes chosen by code running in the sandbox. It is never parsed as markup (we build
`Segment`s and `rich.text.Text` from it, which take text literally), and every character that is not printable —
control characters such as ESC, bytes that were not valid UTF-8 (kept by Python as surrogate escapes), bidi and
other format characters that could make a name look like another — is shown as a visible escape (`\\x1b`,
`\\xff`, `\\u202e`) in a distinct style, so `evil\\u202etxt.exe` cannot pose as `evilexe.txt`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from rich.style import Style
from rich.text import Text

from services.text import escape_char


def name_runs(name: str) -> Iterator[tuple[str, bool]]:
    """`name` split into runs of (text, is_escape): printable text as is, everything else escaped."""
    if name.isprintable():
        yield name, False
        return
    run: list[str] = []
    for ch in name:
        if ch.isprintable():
            run.append(ch)
        else:
            if run:
                yield "".join(run), False
                run = []
            yield escape_char(ch), True
    if run:
        yield "".join(run), False


def clipboard_text(path: str) -> str:
    """What to put on the clipboard for a path: the real name where it is valid text (undecodable bytes cannot
    travel through OSC 52 as UTF-8, so they become U+FFFD)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def name_text(
    name: str,
    *,
    positions: Collection[int] = (),
    style: Style | str = "",
    match_style: Style | str = "bold underline",
    escape_style: Style | str = "reverse",
) -> Text:
    """A `Text` of `name` (literal, escapes styled), with the characters at `positions` (offsets into `name`)
    highlighted — the fuzzy finder's result rows."""
    text = Text(style=style, no_wrap=True, end="")
    if name.isprintable():  # the common case: one string, highlights as spans over runs of positions
        text.append(name)
        for start, end in _spans(sorted(positions)):
            text.stylize(match_style, start, end)
        return text
    marks = set(positions)
    for i, ch in enumerate(name):
        if ch.isprintable():
            text.append(ch, match_style if i in marks else None)
        else:
            text.append(escape_char(ch), escape_style)
    return text


def _spans(positions: list[int]) -> Iterator[tuple[int, int]]:
    start = prev = -2
    for p in positions:
        if p != prev + 1:
            if start >= 0:
                yield start, prev + 1
            start = p
        prev = p
    if start >= 0:
        yield start, prev + 1
