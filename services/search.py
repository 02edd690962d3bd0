"""Project-wide search and replace in a sandbox's files: the UI-free part (issue 11 §4 "Search in files").

The search runs **inside the sandbox**: `grep` through `SandboxService.exec` with an argv list (never a shell string
built from data), recursing with `-r` (symlinks met on the way are not followed), skipping binary files (`-I`),
devices and FIFOs, and `.git`. It runs in the C locale: bytes in, bytes out, so a file that is not valid UTF-8 is
still searched, and grep is at its fastest. Its output is `--null` separated (`NAME\\0LINE:TEXT\\n`), so a file name
holding a newline, a colon or markup is parsed for what it is. Output is parsed as it streams and bounded: at most
`Limits.max_matches` matches are kept (the rest only counted, up to `max_counted`, then grep is stopped), and at
most `max_line_bytes` of each line. Cancelling the search (a new one supersedes it) cancels the exec, which kills
the process in the sandbox (the local provider kills the sandbox's bwrap and with it its pid namespace).

Dialects: "literal" is `grep -F`; "regex" is `grep -P` (Perl-compatible), the grep dialect closest to Python's
`re`, which this module uses to find the match spans to highlight on the lines grep reported and to compute a
replacement. Case-insensitivity and `\\w` are ASCII in both (C locale, `re.ASCII`). Whole word is grep's `-w`:
the match is not preceded or followed by a word character.

Filters (comma-separated globs, as VS Code's "files to include/exclude"): a glob without '/' matches a file's
base name at any depth and goes to grep (`--include`, or `--exclude` and `--exclude-dir`, so a folder name
excludes the folder); a glob with '/' (`src/**/*.py`, `docs/`) is matched against the whole path here, on grep's
output (a trailing '/' means everything under that folder).

Replace works on what the search found: each file is read through the service, the lines grep reported are
checked to be unchanged (else `Conflict`: the file changed since the search), the matches on those lines are
replaced, and the result is written with the service's atomic write, conditional on the mtime read (so a change
between preview and write is refused too, never overwritten).

Daytona: the same grep runs through the SDK's exec, which returns output only when the command ends (no
streaming: results appear at once), merges stderr into stdout (grep's `-s` keeps file errors out of it), and
cannot kill the remote process when the request is abandoned: grep there ends at the exec timeout
(`Limits.timeout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import re
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.errors import Conflict, InvalidInput, SandbenchError
from services.sandbox_service import SandboxService
from services.text import one_line

MAX_PATTERN = 1000  # characters; a search pattern is one line typed by a person
MAX_GLOBS = 50


@dataclass(frozen=True)
class SearchQuery:
    pattern: str
    regex: bool = False
    case_sensitive: bool = False
    whole_word: bool = False
    include: str = ""  # comma-separated globs
    exclude: str = ""


@dataclass(frozen=True)
class Limits:
    max_matches: int = 10_000  # kept and shown
    max_counted: int = 200_000  # counted past max_matches before grep is stopped ("more than N")
    max_line_bytes: int = 2_000  # of each matched line, kept for display and for the changed-since check
    max_stderr: int = 8_192
    timeout: float = 120.0  # seconds; also what ends an abandoned grep on Daytona


@dataclass(frozen=True)
class Match:
    path: str  # relative to the sandbox root, as the service takes it
    line: int  # 1-based
    text: str  # the line (its first `max_line_bytes`), decoded; may hold control characters (escape to show)
    spans: tuple[tuple[int, int], ...]  # match offsets into `text` (empty if Python's re disagrees with grep)
    cut: bool  # the line was longer than what was kept
    fingerprint: tuple[int, int]  # (crc32, length) of the raw bytes kept: the changed-since-the-search check

    @property
    def column(self) -> int:
        """1-based column (characters) of the first match, for the editor's cursor."""
        return self.spans[0][0] + 1 if self.spans else 1


@dataclass
class SearchSummary:
    matches: int = 0  # shown (kept)
    files: int = 0  # files with a kept match
    more: int = 0  # matches found past the cap and not shown
    more_is_lower_bound: bool = False  # grep was stopped: there may be more than `more`
    cut_lines: int = 0  # kept lines that were longer than the byte cap
    unreadable: bool = False  # grep said some files could not be read
    error: str | None = None  # grep failed (bad pattern, no grep -P): one safe line
    elapsed: float = 0.0
    done: bool = False

    def text(self) -> str:
        """One line for the status of the results view."""
        if self.error:
            return self.error
        if not self.matches and not self.more:
            return "no results" if self.done else "searching…"
        out = f"{_count(self.matches, 'match', 'matches')} in {_count(self.files, 'file', 'files')}"
        if self.more:
            out += f", {'more than ' if self.more_is_lower_bound else ''}{self.more:,} more not shown"
        if self.cut_lines:
            out += f", {_count(self.cut_lines, 'long line', 'long lines')} cut"
        if self.unreadable:
            out += ", some files could not be read"
        if not self.done:
            out += " (searching…)"
        return out


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


# -- building the grep command ----------------------------------------------------------------------------------
def split_globs(text: str) -> list[str]:
    globs = [g.strip() for g in text.split(",") if g.strip()]
    for g in globs:
        if "\x00" in g or "\n" in g:
            raise InvalidInput("a file pattern cannot hold a NUL or a newline")
    if len(globs) > MAX_GLOBS:
        raise InvalidInput(f"at most {MAX_GLOBS} file patterns")
    return globs


def validate(query: SearchQuery) -> re.Pattern[str]:
    """The Python pattern for highlighting and replacing; `InvalidInput` with a clear message for a bad query."""
    p = query.pattern
    if not p:
        raise InvalidInput("type something to search for")
    if "\x00" in p or "\n" in p or "\r" in p:
        raise InvalidInput("a search pattern is one line (no newline or NUL)")
    if len(p) > MAX_PATTERN:
        raise InvalidInput(f"a search pattern is at most {MAX_PATTERN} characters")
    split_globs(query.include)
    split_globs(query.exclude)
    return compile_pattern(query)


def compile_pattern(query: SearchQuery) -> re.Pattern[str]:
    body = query.pattern if query.regex else re.escape(query.pattern)
    if query.whole_word:
        body = rf"(?<!\w)(?:{body})(?!\w)"
    flags = re.ASCII | (0 if query.case_sensitive else re.IGNORECASE)
    try:
        return re.compile(body, flags)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise InvalidInput(f"not a valid regular expression: {exc.msg}{where}") from None


def grep_argv(query: SearchQuery) -> list[str]:
    """The argv that runs the search in the sandbox (from its workspace root)."""
    # --line-buffered: each match leaves grep as it is found (a pipe would hold them in a 32 KiB buffer, so a rare
    # match in a big tree would only show at the end); -s: file errors stay out of the output, which Daytona's
    # exec merges with stderr (the exit status still says some file could not be read)
    argv = ["grep", "-r", "-n", "-H", "-I", "-s", "--null", "--line-buffered", "--color=never", "--devices=skip"]
    argv.append("-P" if query.regex else "-F")
    if not query.case_sensitive:
        argv.append("-i")
    if query.whole_word:
        argv.append("-w")
    includes = split_globs(query.include)
    if not any("/" in g for g in includes):  # else every include is matched here on the path (see module doc)
        argv += [f"--include={g}" for g in includes]
    for g in split_globs(query.exclude):
        if "/" not in g:
            argv += [f"--exclude={g}", f"--exclude-dir={g}"]
    argv += ["--exclude-dir=.git", "-e", query.pattern, "--", "."]
    return argv


def glob_regex(glob: str) -> re.Pattern[str]:
    """A path glob (`**` any folders, `*` and `?` within a name, `[...]` a class) as a regex on a whole relative
    path. No '/' in it: matches a base name at any depth. A trailing '/': everything under that folder."""
    g = glob.strip().removeprefix("./").lstrip("/")
    anywhere = "/" not in g.rstrip("/")
    if g.endswith("/"):
        g += "**"
    out: list[str] = []
    i = 0
    while i < len(g):
        c = g[i]
        if g.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if g.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = g.find("]", i + 2)
            if end == -1:
                out.append(re.escape(c))
            else:
                inner = g[i + 1 : end]
                negate = inner.startswith("!")
                inner = inner[1:] if negate else inner
                out.append("[" + ("^" if negate else "") + inner.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    body = "".join(out)
    prefix = "(?:.*/)?" if anywhere else ""
    try:
        return re.compile(f"{prefix}{body}(?:/.*)?", re.DOTALL)
    except re.error:
        raise InvalidInput(f"not a valid file pattern: {one_line(glob, 80)}") from None


def path_filter(query: SearchQuery) -> Callable[[str], bool] | None:
    """The part of the include/exclude filter matched here on paths (globs with '/'), or None."""
    includes = split_globs(query.include)
    path_includes = [glob_regex(g) for g in includes] if any("/" in g for g in includes) else []
    path_excludes = [glob_regex(g) for g in split_globs(query.exclude) if "/" in g]
    if not path_includes and not path_excludes:
        return None

    def keep(path: str) -> bool:
        if path_includes and not any(r.fullmatch(path) for r in path_includes):
            return False
        return not any(r.fullmatch(path) for r in path_excludes)

    return keep


# -- parsing grep's output ----------------------------------------------------------------------------------------
Record = tuple[bytes, int, bytes, bool]  # raw name, line number, kept text bytes, cut


class GrepParser:
    """Incremental parser of `grep -H -n --null` output (`NAME\\0LINE:TEXT\\n`), bounded: a line's text is kept up
    to `max_line_bytes` and the rest skipped as it streams; a name over 64 KiB, or a record that does not parse,
    is skipped to the next newline (a stray message never becomes a result)."""

    MAX_NAME = 65536

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line = max_line_bytes
        self._buf = b""
        self._skipping: tuple[bytes, int, bytes] | None = None  # in the middle of an over-long line
        self._junk = False  # skipping a malformed record to the next newline

    def feed(self, data: bytes) -> list[Record]:
        out: list[Record] = []
        buf = self._buf + data if self._buf else data
        pos = 0
        n = len(buf)
        while pos < n:
            if self._junk:
                nl = buf.find(b"\n", pos)
                if nl == -1:
                    pos = n
                    break
                self._junk = False
                pos = nl + 1
                continue
            if self._skipping is not None:
                nl = buf.find(b"\n", pos)
                if nl == -1:
                    pos = n
                    break
                name, line, kept = self._skipping
                self._skipping = None
                out.append((name, line, kept, True))
                pos = nl + 1
                continue
            nul = buf.find(b"\x00", pos)
            if nul == -1:
                if n - pos > self.MAX_NAME:
                    self._junk = True
                    continue
                break
            colon = buf.find(b":", nul + 1, nul + 14)
            if colon == -1:
                if n - nul < 14:
                    break  # the line number may still be arriving
                pos = nul + 1
                self._junk = True
                continue
            digits = buf[nul + 1 : colon]
            if not digits.isdigit():
                pos = nul + 1
                self._junk = True
                continue
            start = colon + 1
            nl = buf.find(b"\n", start, start + self.max_line + 1)
            if nl == -1:
                if n - start <= self.max_line:
                    break  # wait for the rest of the line
                # over-long: keep its head, skip the rest as it comes
                self._skipping = (buf[pos:nul], int(digits), buf[start : start + self.max_line])
                pos = start + self.max_line
                continue
            out.append((buf[pos:nul], int(digits), buf[start:nl], False))
            pos = nl + 1
        self._buf = buf[pos:] if pos < n else b""
        return out


def decode_path(raw: bytes) -> str:
    path = raw.decode("utf-8", "surrogateescape")
    while path.startswith("./"):
        path = path[2:]
    return path


def make_match(record: Record, pattern: re.Pattern[str]) -> Match:
    raw_name, line, kept, cut = record
    text = kept.decode("utf-8", "replace")
    if text.endswith("\r") and not cut:
        text = text[:-1]  # a CRLF file: the line's text is what comes before it
    spans = tuple(m.span() for m in pattern.finditer(text) if m.end() > m.start())
    return Match(decode_path(raw_name), line, text, spans, cut, (zlib.crc32(kept), len(kept)))


# -- running a search ---------------------------------------------------------------------------------------------
BatchCallback = Callable[[list[Match], SearchSummary], None]


async def search_files(
    service: SandboxService,
    sandbox_id: str,
    query: SearchQuery,
    on_batch: BatchCallback,
    *,
    limits: Limits | None = None,
) -> SearchSummary:
    """Run `query` in the sandbox; call `on_batch(new_matches, summary_so_far)` as results stream in (from the
    event loop, synchronously). Returns the final summary. Cancelling this coroutine kills the grep."""
    lim = limits or Limits()
    pattern = validate(query)
    argv = grep_argv(query)
    keep_path = path_filter(query)
    parser = GrepParser(lim.max_line_bytes)
    summary = SearchSummary()
    stderr: list[bytes] = []
    stop = asyncio.Event()
    last_path: list[str | None] = [None]
    started = time.monotonic()

    def on_output(stream: str, chunk: bytes) -> None:
        if stream == "stderr":
            if sum(map(len, stderr)) < lim.max_stderr:
                stderr.append(chunk)
            return
        if stop.is_set():
            return
        batch: list[Match] = []
        for record in parser.feed(chunk):
            if keep_path is not None and not keep_path(decode_path(record[0])):
                continue
            if summary.matches >= lim.max_matches:
                summary.more += 1
                if summary.more >= lim.max_counted:
                    summary.more_is_lower_bound = True
                    stop.set()
                    break
                continue
            match = make_match(record, pattern)
            summary.matches += 1
            summary.cut_lines += match.cut
            if match.path != last_path[0]:
                last_path[0] = match.path
                summary.files += 1
            batch.append(match)
        if batch or stop.is_set():
            summary.elapsed = time.monotonic() - started
            on_batch(batch, summary)

    task = asyncio.ensure_future(
        service.exec(
            sandbox_id,
            argv,
            env={"LC_ALL": "C"},
            timeout=lim.timeout,
            on_output=on_output,
            keep_output=lim.max_stderr,
            internal=True,  # a content search reads only: no automatic checkpoints around it
        )
    )
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()  # cancelled from outside, or the count cap: the exec kills grep in the sandbox
            with contextlib.suppress(asyncio.CancelledError, SandbenchError):
                await task
    summary.elapsed = time.monotonic() - started
    summary.done = True
    if task.cancelled():
        return summary  # stopped at the cap
    result = task.result()
    err = b"".join(stderr) or (result.stderr if result.stderr else b"")
    if result.timed_out:
        summary.error = f"the search took over {lim.timeout:.0f} s and was stopped" + (
            f" ({summary.text()})" if summary.matches else ""
        )
    elif result.exit_code == 2:
        if err.strip() or not summary.matches:
            message = err.decode("utf-8", "replace").strip().splitlines()
            first = message[0] if message else "grep failed"
            summary.error = "search failed: " + one_line(first.removeprefix("grep: "), 200)
        else:
            summary.unreadable = True  # -s hides file errors; status 2 with results means some were unreadable
    elif result.exit_code not in (0, 1):
        summary.error = f"search failed (grep exit {result.exit_code})"
    return summary


# -- replacing ----------------------------------------------------------------------------------------------------
def expand_template(template: str, regex: bool) -> Callable[[re.Match[str]], str]:
    """The replacement for each match. Literal mode: the text as typed. Regex mode (VS Code's syntax): `$1`..`$99`
    and `$<name>` groups, `$&` or `$0` the whole match, `$$` a dollar, `\\n` and `\\t` and `\\\\`."""
    if not regex:
        return lambda _m: template
    parts: list[str | int] = []
    i, lit = 0, []
    while i < len(template):
        c = template[i]
        if c == "$" and i + 1 < len(template):
            nxt = template[i + 1]
            if nxt == "$":
                lit.append("$")
                i += 2
                continue
            if nxt == "&":
                parts += ["".join(lit), 0]
                lit = []
                i += 2
                continue
            m = re.match(r"\d{1,2}", template[i + 1 :])
            if m:
                parts += ["".join(lit), int(m.group())]
                lit = []
                i += 1 + len(m.group())
                continue
        if c == "\\" and i + 1 < len(template) and template[i + 1] in "nt\\":
            lit.append({"n": "\n", "t": "\t", "\\": "\\"}[template[i + 1]])
            i += 2
            continue
        lit.append(c)
        i += 1
    parts.append("".join(lit))

    def expand(m: re.Match[str]) -> str:
        out = []
        for p in parts:
            if isinstance(p, str):
                out.append(p)
            elif p <= (m.re.groups or 0):
                out.append(m.group(p) or "")
            else:
                out.append(f"${p}")  # no such group: kept as typed, as VS Code does
        return "".join(out)

    return expand


@dataclass(frozen=True)
class FileReplacement:
    """One file's planned replacement, for the preview and then the write."""

    path: str
    old: bytes
    new: bytes
    mtime: float
    count: int
    diff: tuple[str, ...] = field(default=())  # unified diff lines, without line ends (sandbox text: escape to show)


def _split_eol(line: str) -> tuple[str, str]:
    if line.endswith("\r\n"):
        return line[:-2], "\r\n"
    if line.endswith("\n"):
        return line[:-1], "\n"
    return line, ""


async def plan_replacement(
    service: SandboxService,
    sandbox_id: str,
    path: str,
    matches: Sequence[Match],
    query: SearchQuery,
    replacement: str,
    *,
    context: int = 1,
) -> FileReplacement:
    """Read `path` and plan replacing the matches on the lines the search found. `Conflict` if one of those lines
    is no longer what the search saw (the file changed since the search)."""
    pattern = compile_pattern(query)
    expand = expand_template(replacement, query.regex)
    data = await service.read_file(sandbox_id, path)
    text = data.data.decode("utf-8", "surrogateescape")
    lines = _split_lf(text)
    new_lines = list(lines)
    count = 0
    for match in sorted({m.line: m for m in matches}.values(), key=lambda m: m.line):
        idx = match.line - 1
        if idx >= len(lines):
            raise Conflict(f"{path} changed since the search (it no longer has line {match.line}): search again")
        body, eol = _split_eol(lines[idx])
        raw = (body + eol.rstrip("\n")).encode("utf-8", "surrogateescape")
        kept = raw[: match.fingerprint[1]]
        if (zlib.crc32(kept), len(kept)) != match.fingerprint:
            raise Conflict(f"{path} changed since the search (line {match.line} is not what was found): search again")
        new_body, n = pattern.subn(expand, body)
        if n:
            new_lines[idx] = new_body + eol
            count += n
    new_text = "".join(new_lines)
    diff = tuple(
        line.rstrip("\n")
        for line in difflib.unified_diff(
            [ln.rstrip("\r\n") + "\n" for ln in lines],
            [ln.rstrip("\r\n") + "\n" for ln in _split_lf("".join(new_lines))],
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
            n=context,
        )
    )
    return FileReplacement(path, data.data, new_text.encode("utf-8", "surrogateescape"), data.mtime, count, diff)


def _split_lf(text: str) -> list[str]:
    """Lines split on '\\n' only, as grep counts them (`splitlines` would also split on a lone '\\r')."""
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


async def apply_replacement(service: SandboxService, sandbox_id: str, plan: FileReplacement) -> None:
    """Write the planned content atomically, only if the file is unchanged since it was read for the plan."""
    try:
        await service.write_file(sandbox_id, plan.path, plan.new, expected_mtime=plan.mtime)
    except Conflict:
        raise Conflict(f"{plan.path} changed since the preview: not replaced (search again)") from None
