"""Parsers for git's machine formats, and the dataclasses they produce (DESIGN §3, `git.py`).

Pure functions over bytes: no I/O, no Textual. `services.git` runs git inside the sandbox and hands its output
here. Every path is decoded with `surrogateescape`, so a file name that is not UTF-8 survives the round trip back
into an argv (the provider encodes argv with the same error handler); widgets show it through `services.text`.

Formats:
- `git status --porcelain=v2 -z --branch --show-stash [--ignored=matching]` → `GitStatus` (ignored paths kept apart
  from the changes: they are not changes)
- `git log -z --format=<fields joined by %x00>` → `Commit` (fixed field count: commit messages cannot hold NUL)
- `git diff --no-color` (and `--cached`, `show`) → `DiffFile` with `Hunk`s; `hunk_patch()` turns one hunk back into
  a patch for `git apply`
- `git branch --format` with `%00` separators → `Branch`
- `git stash list -z` → `Stash`
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

ENC = "utf-8"
ERRORS = "surrogateescape"


def decode(data: bytes) -> str:
    return data.decode(ENC, ERRORS)


def encode(text: str) -> bytes:
    return text.encode(ENC, ERRORS)


# -- status ----------------------------------------------------------------------------------------------------
EntryKind = Literal["changed", "renamed", "unmerged", "untracked", "ignored"]

# the two-letter codes of `git status` for unmerged paths
_UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}


@dataclass(frozen=True)
class FileStatus:
    """One path of `git status`. `index`/`worktree` are git's X and Y letters ('.' = unchanged)."""

    path: str
    kind: EntryKind
    index: str = "."
    worktree: str = "."
    orig_path: str | None = None  # renamed/copied from
    score: str | None = None  # "R100", "C75"

    @property
    def staged(self) -> bool:
        return self.kind in ("changed", "renamed") and self.index != "."

    @property
    def unstaged(self) -> bool:
        return self.kind in ("changed", "renamed") and self.worktree != "."

    @property
    def conflicted(self) -> bool:
        return self.kind == "unmerged"

    @property
    def untracked(self) -> bool:
        return self.kind == "untracked"

    @property
    def marker(self) -> str:
        """One letter for the explorer: the most telling of the two sides."""
        if self.kind == "unmerged":
            return "U"
        if self.kind == "untracked":
            return "?"
        if self.kind == "ignored":
            return "!"
        if self.kind == "renamed" and self.index in "RC":
            return "R"
        letter = self.worktree if self.worktree != "." else self.index
        return "M" if letter == "T" else letter


@dataclass(frozen=True)
class GitStatus:
    """Parsed `status --porcelain=v2 --branch`. `branch` None = detached HEAD; `oid` None = no commit yet.

    `entries` are the changes (what the git panel lists, what `clean` counts); `ignored` the `!` records, apart,
    as git gave them (repository-relative, a wholly ignored folder once with its trailing '/')."""

    branch: str | None
    oid: str | None
    upstream: str | None = None
    ahead: int = 0
    behind: int = 0
    entries: tuple[FileStatus, ...] = ()
    stash_count: int = 0
    prefix: str = ""  # the repository's folder relative to the sandbox root ('' or ends with '/')
    ignored: tuple[str, ...] = ()

    @property
    def detached(self) -> bool:
        return self.branch is None

    @property
    def initial(self) -> bool:
        return self.oid is None

    @cached_property
    def staged(self) -> list[FileStatus]:
        return [e for e in self.entries if e.staged]

    @cached_property
    def unstaged(self) -> list[FileStatus]:
        return [e for e in self.entries if e.unstaged]

    @cached_property
    def untracked(self) -> list[FileStatus]:
        return [e for e in self.entries if e.untracked]

    @cached_property
    def conflicted(self) -> list[FileStatus]:
        return [e for e in self.entries if e.conflicted]

    @property
    def clean(self) -> bool:
        return not any(e.kind != "ignored" for e in self.entries)

    @cached_property
    def markers(self) -> dict[str, str]:
        """Path relative to the sandbox root → one-letter code, for the explorer. Untracked folders keep their
        trailing '/' off: the explorer marks the folder itself."""
        out: dict[str, str] = {}
        for e in self.entries:
            if e.kind == "ignored":
                continue
            out[self.prefix + e.path.rstrip("/")] = e.marker
        return out

    @cached_property
    def ignored_paths(self) -> frozenset[str]:
        """The ignored paths relative to the sandbox root, folders without their trailing '/', for the explorer
        (which mutes them and everything beneath an ignored folder)."""
        return frozenset(self.prefix + p.rstrip("/") for p in self.ignored)


def parse_status(data: bytes, *, prefix: str = "") -> GitStatus:
    """Parse `git status --porcelain=v2 -z --branch [--show-stash] [--ignored=...]`."""
    branch: str | None = None
    oid: str | None = None
    upstream: str | None = None
    ahead = behind = stash = 0
    entries: list[FileStatus] = []
    ignored: list[str] = []
    fields = data.split(b"\0")
    i = 0
    n = len(fields)
    while i < n:
        rec = fields[i]
        i += 1
        if not rec:
            continue
        kind = rec[:1]
        if kind == b"#":
            head, _, value = decode(rec[2:]).partition(" ")
            if head == "branch.oid":
                oid = None if value == "(initial)" else value
            elif head == "branch.head":
                branch = None if value == "(detached)" else value
            elif head == "branch.upstream":
                upstream = value
            elif head == "branch.ab":
                a, _, b = value.partition(" ")
                ahead, behind = abs(int(a)), abs(int(b))
            elif head == "stash":
                stash = int(value)
        elif kind == b"1":
            # 1 XY sub mH mI mW hH hI path
            parts = rec.split(b" ", 8)
            xy = decode(parts[1])
            entries.append(FileStatus(decode(parts[8]), "changed", xy[0], xy[1]))
        elif kind == b"2":
            # 2 XY sub mH mI mW hH hI Xscore path \0 origPath
            parts = rec.split(b" ", 9)
            xy = decode(parts[1])
            orig = decode(fields[i]) if i < n else None
            i += 1
            entries.append(FileStatus(decode(parts[9]), "renamed", xy[0], xy[1], orig, decode(parts[8])))
        elif kind == b"u":
            # u XY sub m1 m2 m3 mW h1 h2 h3 path
            parts = rec.split(b" ", 10)
            xy = decode(parts[1])
            entries.append(FileStatus(decode(parts[10]), "unmerged", xy[0], xy[1]))
        elif kind == b"?":
            entries.append(FileStatus(decode(rec[2:]), "untracked", "?", "?"))
        elif kind == b"!":
            ignored.append(decode(rec[2:]))
        else:
            raise ValueError(f"unexpected git status record {rec[:20]!r}")
    return GitStatus(branch, oid, upstream, ahead, behind, tuple(entries), stash, prefix, tuple(ignored))


# -- log -------------------------------------------------------------------------------------------------------
LOG_FIELDS = ("%H", "%P", "%an", "%ae", "%at", "%cn", "%ct", "%D", "%B")
LOG_FORMAT = "%x00".join(LOG_FIELDS)


@dataclass(frozen=True)
class Commit:
    oid: str
    parents: tuple[str, ...]
    author: str
    email: str
    author_time: int
    committer: str
    commit_time: int
    refs: str  # decorations, as `%D` prints them
    message: str

    @property
    def summary(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def short(self) -> str:
        return self.oid[:8]


def parse_log(data: bytes) -> list[Commit]:
    """Parse `git log -z --format=LOG_FORMAT`: NUL between fields and after each record."""
    fields = data.split(b"\0")
    k = len(LOG_FIELDS)
    out = []
    for start in range(0, len(fields) - k + 1, k):
        f = [decode(x) for x in fields[start : start + k]]
        # after the first record, git puts a newline before the next record's first field
        oid = f[0].lstrip("\n")
        if not oid:
            continue
        out.append(Commit(oid, tuple(f[1].split()), f[2], f[3], int(f[4] or 0), f[5], int(f[6] or 0), f[7], f[8]))
    return out


# -- branches and stashes --------------------------------------------------------------------------------------
BRANCH_FORMAT = "%00".join(
    (
        "%(HEAD)",
        "%(refname)",
        "%(refname:short)",
        "%(upstream:short)",
        "%(upstream:track,nobracket)",
        "%(objectname)",
        "%(contents:subject)",
    )
)


@dataclass(frozen=True)
class Branch:
    name: str
    current: bool
    remote: bool
    upstream: str | None
    track: str  # "ahead 1, behind 2", "gone" or ""
    oid: str
    subject: str


def parse_branches(data: bytes) -> list[Branch]:
    out = []
    for line in data.split(b"\n"):
        if not line:
            continue
        parts = [decode(p) for p in line.split(b"\0")]
        if len(parts) < 7:
            continue
        head, ref, short, up, track, oid, subject = parts[:7]
        if ref.endswith("/HEAD") and ref.startswith("refs/remotes/"):
            continue  # origin/HEAD is an alias, not a branch
        out.append(Branch(short, head == "*", ref.startswith("refs/remotes/"), up or None, track, oid, subject))
    return out


STASH_FORMAT = "%gd%x00%H%x00%gs"


@dataclass(frozen=True)
class Stash:
    ref: str  # stash@{0}
    oid: str
    message: str

    @property
    def index(self) -> int:
        m = re.fullmatch(r"stash@\{(\d+)\}", self.ref)
        return int(m.group(1)) if m else 0


def parse_stashes(data: bytes) -> list[Stash]:
    fields = data.split(b"\0")
    out = []
    for start in range(0, len(fields) - 2, 3):
        ref, oid, msg = (decode(x) for x in fields[start : start + 3])
        ref = ref.lstrip("\n")
        if ref:
            out.append(Stash(ref, oid, msg))
    return out


# -- diff ------------------------------------------------------------------------------------------------------
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")


@dataclass(frozen=True)
class Hunk:
    header: str  # the "@@ -a,b +c,d @@ context" line
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[str, ...]  # each starts with ' ', '+', '-' or '\\'

    @property
    def added(self) -> int:
        return sum(1 for ln in self.lines if ln[:1] == "+")

    @property
    def removed(self) -> int:
        return sum(1 for ln in self.lines if ln[:1] == "-")


@dataclass(frozen=True)
class DiffFile:
    """One file of a diff. `header` holds the raw lines from `diff --git` up to the first hunk, verbatim, so a
    patch rebuilt from it names the file exactly as git did (quoted or not)."""

    old_path: str | None  # None: added
    new_path: str | None  # None: deleted
    header: tuple[str, ...]
    hunks: tuple[Hunk, ...] = ()
    binary: bool = False
    status: str = "M"  # A, D, M, R, C, T
    note: str | None = None  # shown under the file's name (content cut, could not be read, files left out)

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def added(self) -> int:
        return sum(h.added for h in self.hunks)

    @property
    def removed(self) -> int:
        return sum(h.removed for h in self.hunks)


@dataclass
class _FileBuilder:
    header: list[str] = field(default_factory=list)
    hunks: list[Hunk] = field(default_factory=list)
    old_path: str | None = None
    new_path: str | None = None
    git_a: str | None = None
    git_b: str | None = None
    binary: bool = False
    status: str = "M"

    def build(self) -> DiffFile:
        old = self.old_path if self.old_path is not None else self.git_a
        new = self.new_path if self.new_path is not None else self.git_b
        if self.status == "A":
            old = None
        elif self.status == "D":
            new = None
        return DiffFile(old, new, tuple(self.header), tuple(self.hunks), self.binary, self.status)


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote_path(text: str) -> str:
    """Undo git's C-style quoting of a path ("a/b\\tc" with octal escapes for bytes); unquoted text is returned
    as it is."""
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        return text
    body = text[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if re.fullmatch("[0-7]{3}", body[i + 1 : i + 4]):
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
        out += encode(ch)
        i += 1
    return decode(bytes(out))


def _strip_prefix(path: str) -> str | None:
    """'a/x' → 'x'; '/dev/null' → None. Handles quoted names."""
    path = path.rstrip("\t")  # git adds a tab after names with spaces in ---/+++ lines
    if path == "/dev/null":
        return None
    p = unquote_path(path)
    return p[2:] if p[:2] in ("a/", "b/") else p


def _split_git_line(rest: str) -> tuple[str | None, str | None]:
    """The two names of 'diff --git a/x b/x'. Quoted names are unambiguous; unquoted ones with spaces are split
    where both halves name the same path (true except for renames, whose names come from later lines)."""
    if rest.startswith('"'):
        m = re.match(r'("(?:[^"\\]|\\.)*") (.*)$', rest)
        if m:
            return _strip_prefix(m.group(1)), _strip_prefix(m.group(2))
    if rest.endswith('"'):
        m = re.match(r'(.*?) ("(?:[^"\\]|\\.)*")$', rest)
        if m:
            return _strip_prefix(m.group(1)), _strip_prefix(m.group(2))
    if rest.startswith("a/"):
        half = (len(rest) - 1) // 2
        a, b = rest[:half], rest[half + 1 :]
        if b.startswith("b/") and a[2:] == b[2:]:
            return a[2:], b[2:]
    a, _, b = rest.partition(" b/")
    return _strip_prefix(a), b or None


def parse_diff(data: bytes) -> list[DiffFile]:
    """Parse unified diff output of `git diff --no-color` / `git show`. Hunk bodies are read by their line counts,
    so content lines that look like headers cannot confuse the parser. Text before the first `diff --git`
    (e.g. `git show`'s commit header) is skipped."""
    lines = decode(data).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    files: list[DiffFile] = []
    cur: _FileBuilder | None = None
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        if line.startswith("diff --git "):
            if cur is not None:
                files.append(cur.build())
            cur = _FileBuilder(header=[line])
            cur.git_a, cur.git_b = _split_git_line(line[len("diff --git ") :])
            i += 1
            continue
        if cur is None:
            i += 1
            continue
        m = _HUNK.match(line) if line.startswith("@@ ") else None
        if m is None:
            if not cur.hunks:
                cur.header.append(line)
                if line.startswith("--- "):
                    cur.old_path = _strip_prefix(line[4:])
                elif line.startswith("+++ "):
                    cur.new_path = _strip_prefix(line[4:])
                elif line.startswith("new file mode"):
                    cur.status = "A"
                elif line.startswith("deleted file mode"):
                    cur.status = "D"
                elif line.startswith("rename from "):
                    cur.status = "R"
                    cur.old_path = unquote_path(line[len("rename from ") :])
                elif line.startswith("rename to "):
                    cur.new_path = unquote_path(line[len("rename to ") :])
                elif line.startswith("copy from "):
                    cur.status = "C"
                    cur.old_path = unquote_path(line[len("copy from ") :])
                elif line.startswith("copy to "):
                    cur.new_path = unquote_path(line[len("copy to ") :])
                elif line.startswith("Binary files ") or line == "GIT binary patch":
                    cur.binary = True
            i += 1
            continue
        old_start, old_count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
        new_start, new_count = int(m.group(3)), int(m.group(4) if m.group(4) is not None else 1)
        body: list[str] = []
        i += 1
        old_left, new_left = old_count, new_count
        while i < n and (old_left > 0 or new_left > 0 or lines[i].startswith("\\")):
            ln = lines[i]
            tag = ln[:1]
            if tag == " " or ln == "":
                old_left -= 1
                new_left -= 1
                ln = ln or " "  # some tools strip the space of an empty context line
            elif tag == "-":
                old_left -= 1
            elif tag == "+":
                new_left -= 1
            elif tag != "\\":
                break
            body.append(ln)
            i += 1
        cur.hunks.append(Hunk(line, old_start, old_count, new_start, new_count, tuple(body)))
    if cur is not None:
        files.append(cur.build())
    return files


def added_file(path: str, data: bytes, *, truncated: bool = False, note: str | None = None) -> DiffFile:
    """An untracked file as git would show it added: one hunk of `+` lines (binary when it holds a NUL, as git
    decides). `truncated`: `data` is only the file's head, and the note says so."""
    header = (f"diff --git a/{path} b/{path}", "new file mode 100644", "--- /dev/null", f"+++ b/{path}")
    if truncated:
        note = note or "only the start of the file is shown"
    if b"\0" in data[:8000]:
        return DiffFile(None, path, header, (), True, "A", note)
    text = decode(data)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    body = tuple("+" + ln for ln in lines)
    if text and not text.endswith("\n") and not truncated:
        body += ("\\ No newline at end of file",)
    hunks = (Hunk(f"@@ -0,0 +1,{len(lines)} @@", 0, 0, 1, len(lines), body),) if lines else ()
    return DiffFile(None, path or None, header, hunks, False, "A", note)


def hunk_patch(file: DiffFile, hunk: Hunk, *, reverse: bool = False) -> bytes:
    """A patch that applies just `hunk` of `file`: the file's header verbatim, then the hunk.

    Applied forwards (staging), the other hunks are not there, so the new side starts where the old one does;
    the header is rewritten to say so and `git apply` needs no offset search. Applied in reverse (unstaging,
    discarding), the other hunks are in place, so git's own header is right as it is."""
    header = hunk.header
    if not reverse:
        if hunk.old_count == 0:
            new_start = hunk.old_start + 1  # a pure insertion lands after line old_start
        elif hunk.new_count == 0:
            new_start = hunk.old_start - 1  # a pure deletion leaves the line before
        else:
            new_start = hunk.old_start
        m = _HUNK.match(hunk.header)
        tail = m.group(5) if m else ""
        header = f"@@ -{hunk.old_start},{hunk.old_count} +{new_start},{hunk.new_count} @@{tail}"
    return encode("\n".join((*file.header, header, *hunk.lines)) + "\n")
