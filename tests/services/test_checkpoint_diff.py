"""The Changes view's byte-exact diff and hunk revert (services/checkpoint_diff.py): every hunk reverts to the
checkpoint's bytes exactly — CRLF and CR endings, a last line without a newline, insertions at the start and
deletions at the end — one hunk reverted leaves the others in place, a file that moved on is refused, and the
service's own unified lines (diff_between) become the same `DiffFile` shape."""

from __future__ import annotations

import random

import pytest

from services.checkpoint_diff import NO_NEWLINE, byte_hunks, diff_from_lines, make_diff, revert_hunk
from services.checkpoints.changes import Change, unified
from services.errors import Conflict

CASES = [
    (b"a\nb\nc\n", b"a\nB\nc\n"),
    (b"a\r\nb\r\nc\r\n", b"a\r\nb\r\nX\r\nc\r\n"),
    (b"a\rb\rc", b"a\rc"),
    (b"one\ntwo", b"one\ntwo\n"),  # only the last newline: git's "\ No newline" on the old side
    (b"", b"new\nfile\n"),
    (b"gone\nall\n", b""),
    (b"x\n" * 40, b"top\n" + b"x\n" * 20 + b"mid\n" + b"x\n" * 19),
]


def _change(old: bytes, new: bytes) -> Change:
    return Change("f.txt", "modified", "file", "file", len(old), len(new), 0o644, 0o644)


@pytest.mark.parametrize(("old", "new"), CASES)
def test_reverting_every_hunk_gives_the_old_bytes_exactly(old: bytes, new: bytes) -> None:
    shown, raw = byte_hunks(old, new)
    assert len(shown) == len(raw) >= 1
    data = new
    for hunk in reversed(raw):  # from the end, so earlier hunks' positions hold
        data = revert_hunk(data, hunk)
    assert data == old


def test_one_hunk_reverted_leaves_the_others() -> None:
    old = b"".join(b"line %d\n" % i for i in range(60))
    new = old.replace(b"line 3\n", b"three\n").replace(b"line 50\n", b"fifty\n")
    _, raw = byte_hunks(old, new)
    assert len(raw) == 2
    assert revert_hunk(new, raw[1]) == old.replace(b"line 3\n", b"three\n")
    assert revert_hunk(new, raw[0]) == old.replace(b"line 50\n", b"fifty\n")


def test_random_edits_revert_exactly() -> None:
    rng = random.Random(13)
    for _ in range(200):
        old_lines = [rng.choice([b"a", b"b", b"c", b""]) + rng.choice([b"\n", b"\r\n"]) for _ in range(30)]
        new_lines = list(old_lines)
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(new_lines) + 1)
            if rng.random() < 0.5 and new_lines:
                del new_lines[min(i, len(new_lines) - 1)]
            else:
                new_lines.insert(i, b"new\n")
        old, new = b"".join(old_lines), b"".join(new_lines)
        if old == new:
            continue
        data = new
        for hunk in reversed(byte_hunks(old, new)[1]):
            data = revert_hunk(data, hunk)
        assert data == old


def test_a_file_that_moved_on_is_refused() -> None:
    _, raw = byte_hunks(b"a\nb\nc\n", b"a\nB\nc\n")
    with pytest.raises(Conflict):
        revert_hunk(b"a\nBB\nc\n", raw[0])


def test_shown_lines_mark_a_missing_last_newline_and_binary_is_named() -> None:
    shown, _ = byte_hunks(b"one\ntwo", b"one\ntwo\n")
    assert shown[0].lines == (" one", "-two", NO_NEWLINE, "+two")
    fd = make_diff(_change(b"\x00\x01", b"\x00\x02"), b"\x00\x01", b"\x00\x02")
    assert fd.diff.binary and not fd.raw


def test_the_services_unified_lines_parse_into_hunks() -> None:
    old, new = b"a\nb\nc\n", b"a\nB\nc\nd\n"
    ch = _change(old, new)
    parsed = diff_from_lines(ch, unified("f.txt", old, new))
    assert [h.lines for h in parsed.hunks] == [(" a", "-b", "+B", " c", "+d")]
    note = diff_from_lines(ch, ["mode 644 -> 755"])
    assert note.note == "mode 644 -> 755" and not note.hunks
    assert diff_from_lines(ch, ["Binary files a/f.txt and b/f.txt differ"]).binary
