"""Pygments highlighting for the editor: lexer choice, token → theme-name mapping, and incremental lexing.

This module owns *what* a line looks like, not how it is drawn: it turns Pygments tokens into the per-line
highlight tuples `(start_byte, end_byte | None, name)` that Textual's `TextArea` already knows how to paint
(`TextArea._highlights`), where `name` is one of the TextArea theme's highlight names ("keyword", "string",
"comment", ...), so Textual's TextArea themes colour Pygments output without any Pygments style.

Pygments lexers are not incremental, so `Highlighter` makes them resumable:

- For lexers that are plain `RegexLexer`s (Python, JS/TS, Rust, Go, Java, Bash, HTML, CSS, Markdown, TOML, ...)
  it runs its own copy of `RegexLexer.get_tokens_unprocessed` that records the state stack at every line start
  that falls on a match boundary ("checkpoints"). Lexing can restart at any checkpoint with exactly the result a
  full run would give, and stops as soon as, at a checkpoint past every edited line, the new stack equals the
  old one: from there on the token stream is the same as before.
- For every other lexer (ones that post-process tokens, `ExtendedRegexLexer`s, ...) there is no stack to record,
  so it restarts a fixed window of lines above the edit at the lexer's root state, and stops when a few
  consecutive unchanged lines produce the same highlights as before. Approximate inside very long constructs,
  but it converges, and it is never slower than lexing the window.

Work is done in bounded slices (`run(deadline=...)`): the editor lexes the visible window synchronously and
the rest in small slices between frames, so typing never waits for a whole-document lex.

No Textual import here: the widget layer wires this to a `TextArea`.
"""

from __future__ import annotations

import os
import re
import time
from bisect import insort
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pygments.lexer import Lexer, RegexLexer
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename, guess_lexer
from pygments.lexers.special import TextLexer
from pygments.token import (
    Comment,
    Error,
    Generic,
    Keyword,
    Literal,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Token,
    _TokenType,
)
from pygments.util import ClassNotFound

from services.text import same_columns

Highlight = tuple[int, int | None, str]
"""One highlight within a line: start byte, end byte (None = to the end of the line), theme highlight name."""

# Lexer state at a line start. A tuple of state names (the RegexLexer stack) in exact mode; `ROOT` marks "a token
# started here" in window mode; None means "unknown" (the line starts inside a multi-line token).
State = tuple[str, ...]
ROOT: State = ("root",)

GUESS_BYTES = 4096  # content sniffing looks at this much of the file
GUESS_MIN_SCORE = 0.5  # `analyse_text` scores below this are guesses, not knowledge: stay plain
WINDOW_BACK = 50  # window mode: restart this many lines above the edit
WINDOW_AGREE = 3  # window mode: this many unchanged lines in a row agreeing with the old result = converged
# Lines handed to the lexer per pass. Regexes may look past a line end (a docstring rule matches up to its closing
# quotes), so a pass only trusts its results up to MARGIN lines before the end of its text: a construct would
# have to be longer than MARGIN lines to be lexed differently than in a whole-file run. The text is joined per
# pass (a memcpy of ~150 KB), which keeps a keystroke's cost independent of the document's length.
CHUNK_LINES = 4096
MARGIN = 1024

# Pygments token types → TextArea theme highlight names. Looked up from the most specific type up to its
# parents, so `Name.Function.Magic` finds `Name.Function`. Names are those Textual's built-in themes define.
_TOKEN_NAMES: dict[_TokenType, str] = {
    Keyword: "keyword",
    Keyword.Constant: "constant.builtin",
    Keyword.Namespace: "include",
    Keyword.Type: "type.builtin",
    Keyword.Declaration: "keyword",
    Keyword.Reserved: "keyword",
    Name.Builtin: "type.builtin",
    Name.Builtin.Pseudo: "variable.builtin",
    Name.Function: "function",
    Name.Function.Magic: "function",
    Name.Decorator: "function",
    Name.Class: "type.class",
    Name.Exception: "type",
    Name.Namespace: "type",
    Name.Tag: "tag",
    Name.Attribute: "css.property",
    Name.Property: "css.property",
    Name.Constant: "constant.builtin",
    Name.Label: "json.label",
    Name.Entity: "constant.builtin",
    Name.Variable.Magic: "variable.builtin",
    String: "string",
    String.Doc: "string.documentation",
    String.Regex: "string",
    String.Escape: "regex.operator",
    String.Interpol: "punctuation.special",
    Number: "number",
    Number.Float: "float",
    Literal.Date: "toml.datetime",
    Comment: "comment",
    Comment.Preproc: "include",
    Comment.PreprocFile: "string",
    Operator: "operator",
    Operator.Word: "keyword.operator",
    Punctuation: "punctuation.delimiter",
    Generic.Heading: "heading",
    Generic.Subheading: "heading",
    Generic.Strong: "bold",
    Generic.Emph: "italic",
    Generic.Inserted: "string",
    Generic.Deleted: "keyword",
    Generic.Prompt: "comment",
    Error: "html.end_tag_error",
}
_BRACKETS = frozenset("()[]{}")
_name_cache: dict[_TokenType, str | None] = {}


def highlight_name(ttype: _TokenType, value: str = "") -> str | None:
    """The TextArea theme name for a Pygments token type (None: not highlighted)."""
    if ttype is Punctuation and value and value in _BRACKETS:
        return "punctuation.bracket"
    try:
        return _name_cache[ttype]
    except KeyError:
        pass
    t: _TokenType | None = ttype
    name = None
    while t is not None and t is not Token:
        name = _TOKEN_NAMES.get(t)
        if name is not None:
            break
        t = t.parent
    _name_cache[ttype] = name
    return name


# -- choosing a lexer -----------------------------------------------------------------------------------------

_SHEBANG = re.compile(r"^#!\s*(\S+)(?:\s+(-\S+\s+)*(\S+))?")


def _shebang_lexer(first_line: str) -> Lexer | None:
    m = _SHEBANG.match(first_line)
    if not m:
        return None
    prog = os.path.basename(m.group(1))
    if prog == "env" and m.group(3):
        prog = os.path.basename(m.group(3))
    prog = re.sub(r"[\d.]+$", "", prog)  # python3.11 → python
    aliases = {"sh": "bash", "zsh": "bash", "ksh": "bash", "dash": "bash", "node": "javascript", "nodejs": "javascript"}
    try:
        return get_lexer_by_name(aliases.get(prog, prog), stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def detect_lexer(path: str, head: str) -> Lexer | None:
    """The lexer for a file: by its name, then its content (shebang, then a confident guess); None = plain text.

    May take ~0.2 s the first time content sniffing runs (Pygments imports its lexers): call it off the UI loop.
    """
    name = os.path.basename(path)
    lexer: Lexer | None = None
    try:
        lexer = get_lexer_for_filename(name, head[:GUESS_BYTES], stripnl=False, ensurenl=False)
    except ClassNotFound:
        lexer = None
    if lexer is None:
        first_line = head.split("\n", 1)[0]
        lexer = _shebang_lexer(first_line)
    if lexer is None and head.strip():
        sample = head[:GUESS_BYTES]
        try:
            guessed = guess_lexer(sample, stripnl=False, ensurenl=False)
        except ClassNotFound:
            guessed = None
        if guessed is not None and not isinstance(guessed, TextLexer):
            if type(guessed).analyse_text(sample) >= GUESS_MIN_SCORE:
                lexer = guessed
    if lexer is None or isinstance(lexer, TextLexer):
        return None
    return lexer


def lexer_by_name(name: str) -> Lexer | None:
    try:
        return get_lexer_by_name(name, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def is_exact(lexer: Lexer) -> bool:
    """True if we can record and resume this lexer's state per line (a RegexLexer that does not override it)."""
    return isinstance(lexer, RegexLexer) and type(lexer).get_tokens_unprocessed is RegexLexer.get_tokens_unprocessed


# -- the resumable RegexLexer loop ----------------------------------------------------------------------------

Match = tuple[list[tuple[int, Any, str]], int, State]


def _scan(lexer: RegexLexer, text: str, stack: State) -> Iterator[Match]:
    """`RegexLexer.get_tokens_unprocessed`, step for step, yielding per match: its tokens, where it ended, and the
    state stack after it. Kept identical to Pygments' loop (2.x) so results match a full `get_tokens` run."""
    tokendefs = lexer._tokens
    statestack = list(stack)
    statetokens = tokendefs[statestack[-1]]
    pos = 0
    while True:
        for rexmatch, action, new_state in statetokens:
            m = rexmatch(text, pos)
            if m:
                toks: list[tuple[int, Any, str]]
                if action is None:
                    toks = []
                elif type(action) is _TokenType:
                    toks = [(pos, action, m.group())]
                else:
                    toks = list(action(lexer, m))
                pos = m.end()
                if new_state is not None:
                    if isinstance(new_state, tuple):
                        for state in new_state:
                            if state == "#pop":
                                if len(statestack) > 1:
                                    statestack.pop()
                            elif state == "#push":
                                statestack.append(statestack[-1])
                            else:
                                statestack.append(state)
                    elif isinstance(new_state, int):
                        if abs(new_state) >= len(statestack):
                            del statestack[1:]
                        else:
                            del statestack[new_state:]
                    elif new_state == "#push":
                        statestack.append(statestack[-1])
                    statetokens = tokendefs[statestack[-1]]
                yield toks, pos, tuple(statestack)
                break
        else:
            if pos >= len(text):
                return
            if text[pos] == "\n":
                statestack = ["root"]
                statetokens = tokendefs["root"]
                yield [(pos, Token.Text.Whitespace, "\n")], pos + 1, ROOT
                pos += 1
                continue
            yield [(pos, Error, text[pos])], pos + 1, tuple(statestack)
            pos += 1


def _generic_scan(lexer: Lexer, text: str) -> Iterator[Match]:
    """Any lexer: tokens one at a time; the 'state' after each is ROOT (unknown, but a token boundary)."""
    for index, ttype, value in lexer.get_tokens_unprocessed(text):
        yield [(index, ttype, value)], index + len(value), ROOT


# -- the per-document highlighter -----------------------------------------------------------------------------


def _byte_offsets(line: str) -> list[int] | None:
    """Character index → UTF-8 byte offset of the *displayed* line (None when they are equal: ASCII)."""
    shown = same_columns(line)
    if shown.isascii():
        return None
    offsets = [0]
    total = 0
    for ch in shown:
        total += 1 if ch < "\x80" else len(ch.encode("utf-8", "surrogatepass"))
        offsets.append(total)
    return offsets


class Highlighter:
    """Per-line highlights for one document, kept up to date incrementally.

    `lines` is the document's live list of lines (shared, never copied). Call `splice` from the document after
    every replacement, then `run(...)` until `pending` is False. `spans[i]` is line i's highlight list, or None
    when line i must be (re-)lexed.
    """

    def __init__(self, lines: list[str], lexer: Lexer | None) -> None:
        self.lines = lines
        self.lexer = lexer
        self.exact = lexer is not None and is_exact(lexer)
        n = len(lines)
        self.states: list[State | None] = [None] * n
        self.spans: list[tuple[Highlight, ...] | None] = [None] * n
        self.resume: int | None = 0 if lexer is not None and n else None
        self._todo: list[int] = [0] if self.resume is not None else []
        if n:
            self.states[0] = ROOT
        self.lexed_lines = 0  # statistics, for tests and the benchmark
        self._hard_deadline: float | None = None
        self.on_lines_changed: Callable[[int, int], None] | None = None

    @property
    def active(self) -> bool:
        return self.lexer is not None

    @property
    def pending(self) -> bool:
        return self.resume is not None

    def line_highlights(self, index: int) -> list[Highlight]:
        spans = self.spans
        if 0 <= index < len(spans):
            found = spans[index]
            return list(found) if found else []
        return []

    # -- edits ----------------------------------------------------------------------------------------------
    def splice(self, top: int, old_bottom: int, new_bottom: int) -> None:
        """Lines top..old_bottom were replaced by top..new_bottom (inclusive, already in `lines`)."""
        if self.lexer is None:
            return
        added = new_bottom - top + 1
        # The state at the start of `top` does not depend on `top` itself: keep it. Everything inside is unknown.
        keep = self.states[top] if top < len(self.states) else None
        self.states[top : old_bottom + 1] = [keep] + [None] * (added - 1)
        self.spans[top : old_bottom + 1] = [None] * added
        # Lexing resumes at the edit, or earlier if it had not got that far yet.
        self.resume = top if self.resume is None else min(self.resume, top)
        # the to-do list: lines where unlexed runs begin (edits, paused passes), shifted like the lines
        shift = new_bottom - old_bottom
        todo = [t if t < top else t + shift for t in self._todo if not top <= t <= old_bottom]
        insort(todo, top)
        self._todo = todo
        if not self.exact:
            # No recorded state to trust: restart a window above the edit, at a line where a token began.
            start = min(self.resume, max(0, top - WINDOW_BACK))
            while start > 0 and self.states[start] is None:
                start -= 1
            self.resume = start
            self.states[start] = ROOT

    # -- lexing ---------------------------------------------------------------------------------------------
    def run(
        self,
        *,
        until_line: int = -1,
        deadline: float | None = None,
        max_lines: int | None = None,
        hard_deadline: float | None = None,
    ) -> int:
        """Lex from `resume` until converged and done, or past `until_line` and out of time (`deadline`, a
        `time.perf_counter()` value) or out of `max_lines`, or past `hard_deadline` wherever it is.
        Returns the number of lines (re)lexed."""
        done = 0
        self._hard_deadline = hard_deadline
        while self.resume is not None:
            if self._should_stop(self.resume, until_line, deadline, max_lines, done):
                break
            done += self._run_chunk(until_line, deadline, max_lines, done)
        self.lexed_lines += done
        return done

    def _should_stop(
        self, line_no: int, until_line: int, deadline: float | None, max_lines: int | None, done: int
    ) -> bool:
        hard = self._hard_deadline
        if deadline is None and max_lines is None and hard is None:
            return False
        now = time.perf_counter()
        if hard is not None and now >= hard:
            return True
        if line_no <= until_line:
            return False
        return (deadline is not None and now >= deadline) or (max_lines is not None and done >= max_lines)

    def _find_start(self, line: int) -> int:
        states = self.states
        while line > 0 and states[line] is None:
            line -= 1
        if states[line] is None:
            states[line] = ROOT
        return line

    def _run_chunk(self, until_line: int, deadline: float | None, max_lines: int | None, done_before: int) -> int:
        assert self.resume is not None and self.lexer is not None
        lines = self.lines
        n = len(lines)
        start = self._find_start(min(self.resume, n - 1))
        size = CHUNK_LINES
        while True:
            end = min(n, start + size)
            committed = self._lex_chunk(start, end, until_line, deadline, max_lines, done_before)
            if committed > 0 or end >= n:
                return max(committed, 1 if end >= n else 0)
            size *= 2  # one token spans all the trusted part (a huge string or comment): look further

    def _lex_chunk(
        self, start: int, end: int, until_line: int, deadline: float | None, max_lines: int | None, done_before: int
    ) -> int:
        """Lex lines [start, end). Commits whole lines up to the last checkpoint (all of them if `end` is the
        document's end). Returns the number of lines committed; sets `resume` (None when converged or done)."""
        lexer = self.lexer
        assert lexer is not None
        lines = self.lines
        final = end >= len(lines)
        chunk = lines[start:end]
        nchunk = len(chunk)
        text = "\n".join(chunk) + "\n"
        # starts[k] = offset of line start+k in `text`, extended lazily as the lexer gets there: a pass that
        # converges after one line costs one line, not the chunk.
        starts = [0]

        def extend_to(offset: int) -> None:
            while len(starts) <= nchunk and starts[-1] <= offset:
                starts.append(starts[-1] + len(chunk[len(starts) - 1]) + 1)

        state0 = self.states[start] or ROOT
        scanner = (
            _scan(lexer, text, state0) if self.exact and isinstance(lexer, RegexLexer) else _generic_scan(lexer, text)
        )
        pending: dict[int, list[Highlight]] = {}
        offsets_cache: dict[int, list[int] | None] = {}
        # a pass that does not reach the document's end trusts only up to MARGIN lines before its end
        trusted = nchunk if final else max(1, nchunk - MARGIN)
        next_k = 1  # the next line (relative to `start`) whose start the lexer has not passed yet
        committed_k = 0  # lines [0, committed_k) are written back
        agree = 0
        new_states: dict[int, State | None] = {0: state0}
        states = self.states
        spans = self.spans

        def commit(upto: int) -> None:
            nonlocal committed_k
            for k in range(committed_k, upto):
                # tuples: immutable, and untracked by the garbage collector once it has seen them
                spans[start + k] = tuple(pending.get(k, ()))
                if k > 0:
                    states[start + k] = new_states.get(k)
            if upto > committed_k and self.on_lines_changed is not None:
                self.on_lines_changed(start + committed_k, start + upto - 1)
            committed_k = upto

        for toks, pos, stack in scanner:
            for index, ttype, value in toks:
                if not value:
                    continue
                name = highlight_name(ttype, value)
                if name is None:
                    continue
                extend_to(index + len(value))
                k = _line_of(starts, index)
                cur = index
                remaining = len(value)
                while remaining > 0 and k + 1 < len(starts):
                    line_end = starts[k + 1] - 1  # offset of this line's "\n"
                    take = min(remaining, line_end - cur + 1)
                    piece_start = cur - starts[k]
                    line_len = line_end - starts[k]
                    if piece_start < line_len:
                        if k not in offsets_cache:
                            offsets_cache[k] = _byte_offsets(chunk[k])
                        bo = offsets_cache[k]
                        e_char = min(piece_start + take, line_len)
                        s_off = piece_start if bo is None else bo[piece_start]
                        e_off = e_char if bo is None else bo[e_char]
                        if e_off > s_off:
                            pending.setdefault(k, []).append((s_off, e_off, name))
                    remaining -= take
                    cur += take
                    k += 1
            # checkpoints: the line starts the lexer has now passed
            extend_to(pos)
            while next_k < len(starts) and starts[next_k] <= pos:
                at_boundary = starts[next_k] == pos
                new_states[next_k] = stack if at_boundary else None
                if next_k >= trusted:  # past what this pass may trust (or the end of the document)
                    break
                line_no = start + next_k
                if at_boundary:
                    unchanged = spans[line_no] is not None
                    if self.exact:
                        if unchanged and states[line_no] == stack:
                            commit(next_k)
                            self._converged(line_no)
                            return committed_k
                    else:
                        # window mode: count unchanged lines in a row whose new highlights equal the old ones
                        prev = line_no - 1
                        prev_k = next_k - 1
                        old = spans[prev]
                        if old is not None and prev_k >= committed_k and tuple(pending.get(prev_k, ())) == old:
                            agree += 1
                        else:
                            agree = 0
                        if agree >= WINDOW_AGREE and unchanged:
                            commit(next_k)
                            self._converged(line_no)
                            return committed_k
                    # a clean checkpoint: everything before it is final
                    commit(next_k)
                    if self._should_stop(line_no, until_line, deadline, max_lines, done_before + committed_k):
                        self._stop_at(line_no, stack)
                        return committed_k
                next_k += 1
            if not final and next_k >= trusted:
                break
        if final:
            commit(nchunk)
            self._converged(len(lines))
            return committed_k
        # not final: carry on from the last checkpoint committed
        if committed_k > 0:
            self._stop_at(start + committed_k, new_states.get(committed_k))
        return committed_k

    def _stop_at(self, line_no: int, state: State | None) -> None:
        """Pause at a checkpoint. Lines after it may hold stale results, so the line goes on the to-do list:
        a later pass that converges earlier (after another edit above) still comes back here."""
        self.resume = line_no
        self.states[line_no] = state
        self.spans[line_no] = None
        insort(self._todo, line_no)

    def _converged(self, line_no: int) -> None:
        """Lines from `line_no` on are as before; carry on at the next line still waiting to be lexed, if any."""
        todo = self._todo
        spans = self.spans
        while todo and (todo[0] < line_no or todo[0] >= len(spans) or spans[todo[0]] is not None):
            todo.pop(0)
        if not todo:
            self.resume = None
            return
        nxt = todo[0]
        if not self.exact:
            while nxt > 0 and self.states[nxt] is None:
                nxt -= 1
            self.states[nxt] = ROOT
        self.resume = nxt


def _line_of(starts: Sequence[int], offset: int) -> int:
    """Index k with starts[k] <= offset < starts[k+1] (binary search)."""
    lo, hi = 0, len(starts) - 2
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


def highlight_all(text: str, lexer: Lexer | None) -> list[list[Highlight]]:
    """Highlights for a whole text in one go (tests and small buffers)."""
    lines = text.split("\n")
    hl = Highlighter(lines, lexer)
    hl.run()
    return [hl.line_highlights(i) for i in range(len(lines))]
