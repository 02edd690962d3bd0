"""Conflict markers in a merged file: parse them into hunks, and write the file back with a choice per hunk.

Pure functions over text, no I/O and no Textual (the conflict screen reads and writes the file through the
service and stages it with `services.git`). Both of git's marker styles are understood: `merge`
(`<<<<<<<`, `=======`, `>>>>>>>`) and `diff3`/`zdiff3` (with a `|||||||` base section). Lines keep their own
endings, so a CRLF file stays CRLF; a hunk left unresolved is written back with its markers exactly as they were,
so saving part of the work loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Choice = Literal["ours", "theirs", "both"]
MARKER = 7  # git's default conflict-marker-size


@dataclass(frozen=True)
class ConflictHunk:
    ours: tuple[str, ...]
    theirs: tuple[str, ...]
    base: tuple[str, ...] | None  # diff3 style only
    raw: tuple[str, ...]  # every line of the hunk, markers included, as it was in the file
    ours_label: str = ""
    theirs_label: str = ""
    line: int = 0  # 1-based line of the `<<<<<<<` marker

    def take(self, choice: Choice | None) -> tuple[str, ...]:
        if choice == "ours":
            return self.ours
        if choice == "theirs":
            return self.theirs
        if choice == "both":
            ours = self.ours
            if ours and theirs_needs_newline(ours[-1]):
                # the last line of ours had no newline (end of file): both sides must not run together
                ours = (*ours[:-1], ours[-1] + "\n")
            return ours + self.theirs
        return self.raw


def theirs_needs_newline(line: str) -> bool:
    return not line.endswith(("\n", "\r"))


Chunk = str | ConflictHunk  # text outside any conflict (one line), or a conflict


def _marker(line: str, ch: str) -> str | None:
    """The label after a conflict marker of `ch` (e.g. 'HEAD'), '' for a bare marker, None if not one."""
    body = line.rstrip("\r\n")
    if not body.startswith(ch * MARKER) or body[MARKER : MARKER + 1] == ch:
        return None
    rest = body[MARKER:]
    if rest and not rest.startswith(" "):
        return None
    return rest.strip()


def parse_conflicts(text: str) -> list[Chunk]:
    """The file as lines and conflict hunks. A `<<<<<<<` that is never closed is plain text."""
    lines = text.splitlines(keepends=True)
    out: list[Chunk] = []
    i = 0
    while i < len(lines):
        ours_label = _marker(lines[i], "<")
        if ours_label is None:
            out.append(lines[i])
            i += 1
            continue
        hunk = _read_hunk(lines, i, ours_label)
        if hunk is None:
            out.append(lines[i])
            i += 1
            continue
        out.append(hunk)
        i += len(hunk.raw)
    return out


def _read_hunk(lines: Sequence[str], start: int, ours_label: str) -> ConflictHunk | None:
    ours: list[str] = []
    base: list[str] | None = None
    theirs: list[str] = []
    section = "ours"
    for j in range(start + 1, len(lines)):
        line = lines[j]
        if _marker(line, "<") is not None:
            return None  # a second opening before this one closed: not git's output
        if section == "ours" and _marker(line, "|") is not None:
            section, base = "base", []
            continue
        if section in ("ours", "base") and _marker(line, "=") is not None:
            section = "theirs"
            continue
        label = _marker(line, ">") if section == "theirs" else None
        if label is not None:
            raw = tuple(lines[start : j + 1])
            return ConflictHunk(
                tuple(ours), tuple(theirs), tuple(base) if base is not None else None, raw, ours_label, label, start + 1
            )
        if section == "ours":
            ours.append(line)
        elif section == "base":
            assert base is not None
            base.append(line)
        else:
            theirs.append(line)
    return None


def hunks(chunks: Sequence[Chunk]) -> list[ConflictHunk]:
    return [c for c in chunks if isinstance(c, ConflictHunk)]


def resolve(chunks: Sequence[Chunk], choices: Mapping[int, Choice]) -> str:
    """The file with hunk `k` (counted among the hunks, from 0) replaced by `choices[k]`; hunks without a choice
    keep their markers."""
    out: list[str] = []
    k = 0
    for c in chunks:
        if isinstance(c, ConflictHunk):
            out.extend(c.take(choices.get(k)))
            k += 1
        else:
            out.append(c)
    return "".join(out)
