"""Showing sandbox-supplied text (names, labels) on a terminal line: non-printable characters become escapes.

UI-free so the CLI can use it without importing Textual; the app's table uses the same function.
"""

from __future__ import annotations


def safe_text(text: str) -> str:
    """`text` with non-printable characters (ESC, C1 controls such as CSI, newlines, bidi controls) shown as
    Python escapes, never passed to the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def one_line(text: str, limit: int = 500) -> str:
    """`text` as one safe line for a notification: its non-blank lines joined, controls escaped, cut at `limit`."""
    joined = " ".join(line.strip() for line in text.splitlines() if line.strip())
    safe = safe_text(joined)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"
