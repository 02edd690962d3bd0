"""The Pygments highlighter on its own: incremental results equal a whole-file run; lexer detection; content rules."""

from __future__ import annotations

import bisect
import random
from pathlib import Path

import textual.widgets._text_area as text_area_module
from pygments.lexer import Lexer

from widgets.editor.content import classify, detect_indent, roundtrips
from widgets.editor.document import FastDocument, FastWrappedDocument
from widgets.editor.highlight import (
    Highlight,
    Highlighter,
    _byte_offsets,
    detect_lexer,
    highlight_name,
    lexer_by_name,
)

PY_SOURCE = Path(text_area_module.__file__).read_text(encoding="utf-8")


def reference(lines: list[str], lexer: Lexer) -> list[list[Highlight]]:
    """What a single Pygments run over the whole text gives, split per line (byte offsets)."""
    text = "\n".join(lines) + "\n"
    out: list[list[Highlight]] = [[] for _ in lines]
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    for index, ttype, value in lexer.get_tokens_unprocessed(text):
        name = highlight_name(ttype, value)
        if not name or not value:
            continue
        cur, rest = index, value
        while rest:
            k = bisect.bisect_right(starts, cur) - 1
            if k >= len(lines):
                break
            line_end = starts[k + 1] - 1
            take = min(len(rest), line_end - cur + 1)
            ps = cur - starts[k]
            pe = min(ps + take, len(lines[k]))
            offsets = _byte_offsets(lines[k])
            if pe > ps:
                out[k].append((ps if offsets is None else offsets[ps], pe if offsets is None else offsets[pe], name))
            rest = rest[take:]
            cur += take
    return out


def current(hl: Highlighter) -> list[list[Highlight]]:
    return [hl.line_highlights(i) for i in range(len(hl.lines))]


def random_edits(lines: list[str], hl: Highlighter, count: int, seed: int, inserts: list[str]) -> None:
    rng = random.Random(seed)
    for _ in range(count):
        r = rng.randrange(len(lines))
        c = rng.randrange(len(lines[r]) + 1)
        r2 = min(len(lines) - 1, r + rng.choice([0, 0, 0, 1, 3]))
        c2 = rng.randrange(len(lines[r2]) + 1) if r2 != r else c
        if (r2, c2) < (r, c):
            r2, c2 = r, c
        new = (lines[r][:c] + rng.choice(inserts) + lines[r2][c2:]).split("\n")
        lines[r : r2 + 1] = new
        hl.splice(r, r2, r + len(new) - 1)
        if rng.random() < 0.5:
            hl.run(until_line=r + 5, max_lines=20)  # partial, like a keystroke
        else:
            hl.run()


def test_full_run_equals_pygments() -> None:
    lines = PY_SOURCE.split("\n")
    lexer = lexer_by_name("python")
    assert lexer is not None
    hl = Highlighter(lines, lexer)
    hl.run()
    assert current(hl) == reference(lines, lexer)


def test_incremental_edits_equal_a_full_run() -> None:
    lines = PY_SOURCE.split("\n")
    lexer = lexer_by_name("python")
    assert lexer is not None
    hl = Highlighter(lines, lexer)
    hl.run()
    inserts = ['"""', "x", "\n", "#", "'", "def f():\n    pass\n", "", "(", '"', "'''\n"]
    random_edits(lines, hl, 300, seed=1, inserts=inserts)
    hl.run()
    assert not hl.pending
    assert current(hl) == reference(lines, lexer)


def test_an_edit_relexes_little() -> None:
    lines = (PY_SOURCE * 4).split("\n")
    lexer = lexer_by_name("python")
    hl = Highlighter(lines, lexer)
    hl.run()
    before = hl.lexed_lines
    row = len(lines) // 2
    lines[row] = lines[row] + "  # x"
    hl.splice(row, row, row)
    hl.run()
    assert hl.lexed_lines - before <= 3  # converged right after the edited line


def test_opening_a_string_relexes_to_the_end_and_back() -> None:
    lines = ["a = 1", "b = 2", "c = 3", "d = 4"]
    lexer = lexer_by_name("python")
    hl = Highlighter(lines, lexer)
    hl.run()
    lines[1] = 'b = """2'
    hl.splice(1, 1, 1)
    hl.run()
    assert {n for _, _, n in hl.line_highlights(3)} == {"string"}
    lines[1] = "b = 2"
    hl.splice(1, 1, 1)
    hl.run()
    assert ("number" in {n for _, _, n in hl.line_highlights(3)}) and current(hl) == reference(lines, lexer)


def test_bounded_runs_make_progress() -> None:
    lines = (PY_SOURCE * 3).split("\n")
    hl = Highlighter(lines, lexer_by_name("python"))
    hl.run(until_line=50, max_lines=0)
    assert hl.pending and all(hl.spans[i] is not None for i in range(51))
    while hl.pending:
        assert hl.run(max_lines=500) > 0


def test_window_mode_lexer_converges() -> None:
    source = "\n".join(f"int f{i}(int x) {{ /* c{i} */ return x + {i}; }}" for i in range(400))
    lines = source.split("\n")
    lexer = lexer_by_name("c")
    assert lexer is not None
    hl = Highlighter(lines, lexer)
    assert not hl.exact  # CLexer post-processes tokens: no recorded state
    hl.run()
    assert current(hl) == reference(lines, lexer)
    # After edits, window mode restarts at the root state a window above each edit: exact for code at top level,
    # approximate where the lexer's state at that line was not the root (the documented trade-off). What must
    # hold: it finishes, and every line is highlighted again.
    rng = random.Random(3)
    for _ in range(50):
        row = rng.randrange(len(lines))
        col = rng.randrange(len(lines[row]) + 1)
        new = (lines[row][:col] + rng.choice(["x", " ", "\nint y;\n"]) + lines[row][col:]).split("\n")
        lines[row : row + 1] = new
        hl.splice(row, row, row + len(new) - 1)
        hl.run(until_line=row + 3, max_lines=10)
    hl.run()
    assert not hl.pending
    assert all(spans is not None for spans in hl.spans)
    assert len(hl.spans) == len(lines)


def test_non_ascii_offsets_are_bytes() -> None:
    lines = ["s = 'héllo'  # ünïcode"]
    hl = Highlighter(lines, lexer_by_name("python"))
    hl.run()
    comment = next(h for h in hl.line_highlights(0) if h[2] == "comment")
    start_byte = len("s = 'héllo'  ".encode())
    assert comment == (start_byte, len(lines[0].encode()), "comment")


def test_token_names_come_from_textarea_themes() -> None:
    from pygments.token import Comment, Keyword, Name, Number, String

    assert highlight_name(Keyword) == "keyword"
    assert highlight_name(Name.Function.Magic) == "function"
    assert highlight_name(String.Double) == "string"
    assert highlight_name(Comment.Single) == "comment"
    assert highlight_name(Number.Integer) == "number"
    assert highlight_name(Name) is None


def test_detect_lexer() -> None:
    assert detect_lexer("a.py", "") is not None
    assert detect_lexer("Makefile", "all:\n\techo\n") is not None
    assert detect_lexer("notes.zzqx", "def f(): pass") is None
    py = detect_lexer("tool", "#!/usr/bin/env python3\nimport os\n")
    assert py is not None and "python" in py.aliases
    sh = detect_lexer("run", "#!/bin/sh\necho hi\n")
    assert sh is not None and "bash" in sh.aliases
    assert detect_lexer("README", "just some words here\n") is None


def test_content_rules() -> None:
    assert classify("x.bin", b"ab\x00cd", size=5, mtime=0).kind == "binary"
    assert classify("x.txt", b"caf\xe9\n", size=5, mtime=0).kind == "invalid"
    assert classify("x.txt", b"a\r\nb\n", size=5, mtime=0).kind == "lossy"
    assert classify("x.txt", b"a\r\nb\r\n", size=6, mtime=0).kind == "text"
    assert classify("x.txt", b"x" * 20_000, size=20_000, mtime=0).kind == "long"
    head = classify("x.txt", "é".encode() * 10 + b"\xc3", size=99, mtime=0, truncated=True, limit=21)
    assert head.kind == "head" and head.text == "é" * 10
    assert roundtrips("a\nb\n") and not roundtrips("a\x0cb")
    assert detect_indent("a:\n  b\n    c\n") == ("spaces", 2)
    assert detect_indent("a:\n\tb\n\t\tc\n") == ("tabs", 4)


def test_fast_document_sizes_track_edits() -> None:
    doc = FastDocument("short\n" + "x" * 50 + "\nmid line\n")
    assert doc.get_size(4).width == 50
    doc.replace_range((1, 0), (1, 50), "y")
    assert doc.get_size(4).width == len("mid line")
    doc.replace_range((0, 0), (0, 0), "z" * 70)
    assert doc.get_size(4) == doc.get_size(8).__class__(75, 4)
    wrapped = FastWrappedDocument(doc, 10, 4)
    assert wrapped.height == sum(len(o) + 1 for o in wrapped._wrap_offsets)
