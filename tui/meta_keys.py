"""ESC-prefixed meta: ESC followed by a character is alt+that character, decided at once.

xterm (metaSendsEscape), tmux, screen and SSH send alt+x as ESC x. Textual's input parser gets two things wrong
with that, and this module owns both fixes:

- Its sequence table maps some ESC+character pairs to something else: ESC 1..ESC 0 to the characters a macOS
  Option key types (¡ ™ £ ...), ESC b / ESC f to ctrl+left / ctrl+right (iTerm's "natural editing"). So alt+3
  typed a '£' into the editor, and alt+b reached a terminal's program as ctrl+left (`^[[1;5D`), not `^[b`. A Mac
  that types those characters sends them as UTF-8, not as ESC+character, so nothing is lost by dropping them.
- It does not know ESC x is complete: it waits `ESCDELAY` (100 ms) for more, and when the next key's own ESC
  arrives first, it gives up on the pair and reports the ESC as a typed `^`. Keys less than 100 ms apart — a held
  alt+b repeating in bash, alt+1 then an arrow, tmux's `send-keys` — came out as `^b^b^b`, `^1`.

`MetaParser` answers ESC + a printable character at once as alt+character (the event Textual itself makes when its
wait runs out), except for the characters that open longer sequences: `[` and `O` (CSI, SS3: every cursor and
function key) and `P ] _ ^` (DCS, OSC, APC, PM: terminal replies). `install()` makes the Linux drivers use it; the
tables and drivers are Textual-internal, so if they move the app falls back to Textual's behaviour and the tmux
end-to-end key test (tests/tui/test_e2e_tmux_keys.py) says so.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events
from textual._xterm_parser import XTermParser

ESC = "\x1b"
# ESC + one of these starts a longer sequence (a key's CSI/SS3 encoding, a terminal's reply): wait for the rest
SEQUENCE_STARTS = frozenset("[OP]_^")


class MetaParser(XTermParser):
    """Textual's xterm input parser, with ESC + printable character decoded as alt+character without waiting."""

    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterable[events.Key]:
        if len(sequence) == 2 and sequence[0] == ESC:
            char = sequence[1]
            if " " <= char <= "~" and char not in SEQUENCE_STARTS:
                return super()._sequence_to_key_events(char, alt=True)
        return super()._sequence_to_key_events(sequence, alt)


def _drop_remapped_pairs() -> None:
    """ESC+character means alt+character for every driver, the parser's table included (see the docstring)."""
    try:
        from textual import _ansi_sequences
    except ImportError:  # pragma: no cover - a Textual without the table
        return
    table = _ansi_sequences.ANSI_SEQUENCES_KEYS
    for sequence in [s for s in table if len(s) == 2 and s[0] == ESC and " " <= s[1] <= "~"]:
        if sequence[1] not in SEQUENCE_STARTS:
            table.pop(sequence, None)  # type: ignore[attr-defined]


def install() -> None:
    """Decode ESC-prefixed meta as alt for the app's terminal drivers (the Linux ones: the app runs on Linux)."""
    _drop_remapped_pairs()
    try:
        from textual.drivers import linux_driver, linux_inline_driver
    except ImportError:  # pragma: no cover - a Textual without these drivers
        return
    for module in (linux_driver, linux_inline_driver):
        if getattr(module, "XTermParser", None) is XTermParser:
            module.XTermParser = MetaParser  # type: ignore[attr-defined]
