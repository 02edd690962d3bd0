"""xterm key encoding: a Textual key event → the bytes a program in the terminal expects.

Textual names keys like `ctrl+up`, `alt+x`, `shift+tab`, `f5`; this maps them to what xterm sends with its
default settings (`TERM=xterm-256color`): CSI/SS3 cursor keys depending on application cursor mode (DECCKM),
`CSI n ~` editing keys, SS3 P-S for F1-F4, `CSI 1;m X` for modified keys, ESC prefix for alt (xterm's
`metaSendsEscape`), DEL for backspace, CR for enter. Paste is wrapped in bracketed-paste markers when the program
asked for them (mode 2004).
"""

from __future__ import annotations

_CURSOR = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
_TILDE = {"insert": 2, "delete": 3, "pageup": 5, "pagedown": 6}
_FKEYS_SS3 = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_FKEYS_TILDE = {"f5": 15, "f6": 17, "f7": 18, "f8": 19, "f9": 20, "f10": 21, "f11": 23, "f12": 24}
# Textual reports shift+F1..F12 as f13..f24 on terminals that send them that way
_SHIFTED_F = {f"f{n + 12}": f"f{n}" for n in range(1, 13)}
_CTRL_PUNCT = {
    "space": "\x00",
    "at": "\x00",
    "commercial_at": "\x00",
    "left_square_bracket": "\x1b",
    "backslash": "\x1c",
    "right_square_bracket": "\x1d",
    "circumflex_accent": "\x1e",
    "caret": "\x1e",
    "underscore": "\x1f",
    "low_line": "\x1f",
    "question_mark": "\x7f",
    "2": "\x00",
    "3": "\x1b",
    "4": "\x1c",
    "5": "\x1d",
    "6": "\x1e",
    "7": "\x1f",
    "8": "\x7f",
}
_PLAIN = {"enter": "\r", "tab": "\t", "escape": "\x1b", "backspace": "\x7f", "space": " "}

PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"


def encode_key(key: str, character: str | None = None, *, app_cursor: bool = False) -> bytes | None:
    """The bytes for one key press, or None when the key has no encoding (a lone modifier, say)."""
    text = _encode(key, character, app_cursor)
    return text.encode("utf-8", "surrogateescape") if text is not None else None


def _encode(key: str, character: str | None, app_cursor: bool) -> str | None:
    parts = key.split("+")
    base = parts[-1]
    mods = set(parts[:-1])
    if base in _SHIFTED_F:
        base = _SHIFTED_F[base]
        mods.add("shift")
    shift, alt, ctrl = "shift" in mods, "alt" in mods or "meta" in mods, "ctrl" in mods
    m = 1 + shift + 2 * alt + 4 * ctrl  # xterm's modifier parameter

    if base in _CURSOR:
        c = _CURSOR[base]
        if m > 1:
            return f"\x1b[1;{m}{c}"
        return f"\x1bO{c}" if app_cursor else f"\x1b[{c}"
    if base in _TILDE:
        n = _TILDE[base]
        return f"\x1b[{n};{m}~" if m > 1 else f"\x1b[{n}~"
    if base in _FKEYS_SS3:
        c = _FKEYS_SS3[base]
        return f"\x1b[1;{m}{c}" if m > 1 else f"\x1bO{c}"
    if base in _FKEYS_TILDE:
        n = _FKEYS_TILDE[base]
        return f"\x1b[{n};{m}~" if m > 1 else f"\x1b[{n}~"
    if base == "tab" and shift:
        return "\x1b\x1b[Z" if alt else "\x1b[Z"
    prefix = "\x1b" if alt else ""
    if base in _PLAIN and not ctrl:
        return prefix + _PLAIN[base]
    if ctrl:
        if len(base) == 1 and "a" <= base.lower() <= "z":
            return prefix + chr(ord(base.lower()) - 96)
        if base in _CTRL_PUNCT:
            return prefix + _CTRL_PUNCT[base]
        if base == "backspace":
            return prefix + "\x08"
        if base == "enter":
            return prefix + "\r"
        return None
    if character and character.isprintable():
        return prefix + character
    if alt and len(base) == 1:
        return prefix + (base.upper() if shift else base)
    return None


def encode_paste(text: str, *, bracketed: bool) -> bytes:
    """Pasted text as a terminal sends it: newlines as CR (what xterm does), wrapped in 200~/201~ when the
    program enabled bracketed paste. An end marker inside the text is removed, so pasted text cannot end the
    bracket early and have the rest run as typed commands."""
    body = text.replace("\r\n", "\r").replace("\n", "\r").encode("utf-8", "replace")
    if not bracketed:
        return body
    body = body.replace(PASTE_END, b"").replace(PASTE_START, b"")
    return PASTE_START + body + PASTE_END
