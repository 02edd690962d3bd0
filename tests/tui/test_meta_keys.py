"""ESC-prefixed meta through the input parser the app's Linux driver really uses (tui/meta_keys.py): ESC x is alt+x
at once, also when the next key's ESC follows within Textual's 100 ms escape delay; cursor and function keys, a lone
Escape and ESC [ keep their meaning. The bytes are what tmux and xterm send."""

from __future__ import annotations

import time

from textual import events
from textual.drivers import linux_driver

import tui.app  # noqa: F401 - installs the parser, as starting the app does
from tui.meta_keys import MetaParser


def keys(data: str, *, wait: bool = False) -> list[tuple[str, str | None]]:
    parser = linux_driver.XTermParser()
    out = [e for e in parser.feed(data) if isinstance(e, events.Key)]
    if wait:  # past the escape delay: what the parser still held comes out
        time.sleep(0.15)
        out += [e for e in parser.tick() if isinstance(e, events.Key)]
    return [(e.key, e.character) for e in out]


def test_the_linux_driver_uses_the_meta_parser() -> None:
    assert linux_driver.XTermParser is MetaParser


def test_escape_pairs_back_to_back_are_each_alt() -> None:
    # before: ('circumflex_accent', '^'), ('1', '1'), ... — the ESC of alt+1 typed as '^' when alt+2 followed fast
    assert keys("\x1b1\r\x1b2\x1bm\x1bb\x1bf\x1bA") == [
        ("alt+1", "1"),
        ("enter", "\r"),
        ("alt+2", "2"),
        ("alt+m", "m"),
        ("alt+b", "b"),  # Textual's table made these ctrl+left / ctrl+right
        ("alt+f", "f"),
        ("alt+shift+a", "A"),
    ]


def test_sequences_and_a_lone_escape_keep_their_meaning() -> None:
    assert keys("\x1b[A\x1bOP\x1b[17~\x1b[1;5D\x1b[15;2~") == [
        ("up", None),
        ("f1", None),
        ("f6", None),
        ("ctrl+left", None),
        ("shift+f5", None),
    ]
    assert keys("\x1b", wait=True) == [("escape", "\x1b")]
    assert keys("\x1b[", wait=True) == [("left_square_bracket", "[")]
