"""Unit tests of the git output parsers, on output captured from real git runs in temp folders this test makes
(not sandbox files: the host never runs git over a sandbox's workspace)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from services.git_parse import (
    BRANCH_FORMAT,
    LOG_FORMAT,
    STASH_FORMAT,
    hunk_patch,
    parse_branches,
    parse_diff,
    parse_log,
    parse_stashes,
    parse_status,
    unquote_path,
)

ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "LC_ALL": "C",
    "GIT_AUTHOR_NAME": "A U Thor",
    "GIT_AUTHOR_EMAIL": "a@example.com",
    "GIT_COMMITTER_NAME": "C O Mitter",
    "GIT_COMMITTER_EMAIL": "c@example.com",
    "GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z",
    "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z",
}

WEIRD = [
    "with space.txt",
    "q\"uote's.txt",
    "new\nline.txt",
    "-leading-dash",
    "ünï©ødé.txt",
    "$(touch pwned)",
    "tab\there",
]


def git(repo: Path, *args: str, stdin: bytes | None = None, check: bool = True) -> bytes:
    r = subprocess.run(["git", *args], cwd=repo, env=ENV, input=stdin, capture_output=True, check=False)
    if check and r.returncode != 0:
        raise AssertionError(r.stderr.decode())
    return r.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    return r


def status(repo: Path) -> bytes:
    return git(repo, "status", "--porcelain=v2", "-z", "--branch", "--show-stash")


def test_status_of_an_empty_repo(repo: Path) -> None:
    st = parse_status(status(repo))
    assert st.branch == "main" and st.oid is None and st.initial and st.clean and st.upstream is None


def test_status_weird_names_staged_unstaged_untracked(repo: Path) -> None:
    for name in WEIRD:
        (repo / name).write_text("one\n")
    git(repo, "add", "--", *WEIRD[:4])
    git(repo, "commit", "-qm", "base")
    (repo / WEIRD[0]).write_text("two\n")  # unstaged
    (repo / WEIRD[1]).write_text("two\n")
    git(repo, "add", "--", WEIRD[1])  # staged
    (repo / WEIRD[2]).write_text("three\n")
    git(repo, "add", "--", WEIRD[2])
    (repo / WEIRD[2]).write_text("four\n")  # staged and unstaged
    st = parse_status(status(repo), prefix="sub/")
    assert st.branch == "main" and st.oid and not st.clean
    assert [e.path for e in st.unstaged] == sorted([WEIRD[0], WEIRD[2]])
    assert [e.path for e in st.staged] == sorted([WEIRD[1], WEIRD[2]])
    assert sorted(e.path for e in st.untracked) == sorted(WEIRD[4:])
    assert st.markers["sub/" + WEIRD[0]] == "M" and st.markers["sub/" + WEIRD[5]] == "?"


def test_status_rename_and_upstream(repo: Path, tmp_path: Path) -> None:
    (repo / "old name.txt").write_text("x\n" * 20)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "-u", "origin", "main")
    git(repo, "mv", "old name.txt", "new\nname.txt")
    git(repo, "commit", "-qm", "two")
    git(repo, "stash", "push", "-q", "--include-untracked", "-m", "nothing")  # no-op: clean
    (repo / "f").write_text("f")
    git(repo, "stash", "push", "-q", "--include-untracked")
    git(repo, "mv", "new\nname.txt", "third.txt")
    st = parse_status(status(repo))
    assert st.upstream == "origin/main" and (st.ahead, st.behind) == (1, 0) and st.stash_count == 1
    (e,) = st.entries
    assert e.kind == "renamed" and e.path == "third.txt" and e.orig_path == "new\nname.txt" and e.score == "R100"
    assert e.staged and not e.unstaged and e.marker == "R"


def test_status_conflict_and_detached(repo: Path) -> None:
    (repo / "c.txt").write_text("base\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    git(repo, "switch", "-q", "-c", "other")
    (repo / "c.txt").write_text("other\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "switch", "-q", "main")
    (repo / "c.txt").write_text("main\n")
    git(repo, "commit", "-qam", "main")
    git(repo, "merge", "other", check=False)
    st = parse_status(status(repo))
    (e,) = st.conflicted
    assert e.path == "c.txt" and e.index + e.worktree == "UU" and e.marker == "U"
    assert not st.staged and not st.unstaged
    git(repo, "merge", "--abort")
    git(repo, "switch", "-q", "--detach", "HEAD~1")
    st = parse_status(status(repo))
    assert st.detached and st.branch is None and st.oid


def test_log_paging_and_verbatim_message(repo: Path) -> None:
    msg = "fix \"quotes\" 'single' `ticks` $(rm -rf ~)\n\n  body with # hash\nand\ttab\n"
    (repo / "a").write_text("a")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "--cleanup=whitespace", "-F", "-", stdin=msg.encode())
    for i in range(5):
        (repo / "a").write_text(str(i))
        git(repo, "commit", "-qam", f"c{i}")
    out = git(repo, "log", "-z", f"--format={LOG_FORMAT}", "--skip=0", "-n3")
    commits = parse_log(out)
    assert [c.summary for c in commits] == ["c4", "c3", "c2"]
    assert len(commits[0].oid) == 40 and commits[0].parents == (commits[1].oid,)
    assert commits[0].author == "A U Thor" and commits[0].author_time == 1704164645
    assert "HEAD -> main" in commits[0].refs
    last = parse_log(git(repo, "log", "-z", f"--format={LOG_FORMAT}", "--skip=5", "-n3"))
    assert len(last) == 1 and last[0].message == msg and last[0].parents == ()


def test_branches_and_stashes(repo: Path) -> None:
    (repo / "a").write_text("a")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "subject line")
    git(repo, "branch", "feature/x")
    bs = parse_branches(git(repo, "branch", f"--format={BRANCH_FORMAT}"))
    assert [(b.name, b.current, b.subject) for b in bs] == [
        ("feature/x", False, "subject line"),
        ("main", True, "subject line"),
    ]
    (repo / "a").write_text("b")
    git(repo, "stash", "push", "-q", "-m", 'wip "1"')
    (repo / "a").write_text("c")
    git(repo, "stash", "push", "-q")
    ss = parse_stashes(git(repo, "stash", "list", "-z", f"--format={STASH_FORMAT}"))
    assert [s.ref for s in ss] == ["stash@{0}", "stash@{1}"] and [s.index for s in ss] == [0, 1]
    assert ss[1].message == 'On main: wip "1"'


def _numbered(n: int) -> str:
    return "".join(f"line {i}\n" for i in range(n))


def test_diff_hunks_and_single_hunk_staging(repo: Path) -> None:
    (repo / "f.py").write_text(_numbered(40))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    lines = _numbered(40).splitlines(keepends=True)
    lines[2] = "changed 2\n"
    lines[30] = "changed 30\n"
    lines.insert(35, "inserted\n")
    (repo / "f.py").write_text("".join(lines))
    (f,) = parse_diff(git(repo, "diff", "--no-color"))
    assert f.path == "f.py" and len(f.hunks) == 2 and f.status == "M"
    h1, h2 = f.hunks
    assert (h1.added, h1.removed, h2.added, h2.removed) == (1, 1, 2, 1)
    # stage only the second hunk
    git(repo, "apply", "--cached", "-", stdin=hunk_patch(f, h2))
    (staged,) = parse_diff(git(repo, "diff", "--no-color", "--cached"))
    assert len(staged.hunks) == 1 and "+changed 30" in staged.hunks[0].lines
    (left,) = parse_diff(git(repo, "diff", "--no-color"))
    assert len(left.hunks) == 1 and "+changed 2" in left.hunks[0].lines
    # unstage it again, then discard the first hunk from the worktree
    git(repo, "apply", "--cached", "--reverse", "-", stdin=hunk_patch(staged, staged.hunks[0], reverse=True))
    assert git(repo, "diff", "--cached") == b""
    (f,) = parse_diff(git(repo, "diff", "--no-color"))
    git(repo, "apply", "--reverse", "-", stdin=hunk_patch(f, f.hunks[0], reverse=True))
    text = (repo / "f.py").read_text()
    assert "changed 2" not in text and "changed 30" in text and "inserted" in text


def test_stage_second_hunk_first_when_the_first_shifts_lines(repo: Path) -> None:
    (repo / "f").write_text(_numbered(30))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    lines = _numbered(30).splitlines(keepends=True)
    lines[1:1] = [f"new {i}\n" for i in range(5)]  # first hunk adds 5 lines
    lines[-2] = "changed near end\n"
    (repo / "f").write_text("".join(lines))
    (f,) = parse_diff(git(repo, "diff", "--no-color"))
    git(repo, "apply", "--cached", "-", stdin=hunk_patch(f, f.hunks[1]))
    (staged,) = parse_diff(git(repo, "diff", "--no-color", "--cached"))
    assert staged.hunks[0].new_start == staged.hunks[0].old_start


def test_diff_weird_names_new_deleted_renamed_binary_no_newline(repo: Path) -> None:
    for name in WEIRD:
        (repo / name).write_text("x\n")
    (repo / "gone.txt").write_text("bye\n")
    (repo / "move me.txt").write_text("same\n" * 10)
    (repo / "bin").write_bytes(b"\x00\x01")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    for name in WEIRD:
        (repo / name).write_text("x\ny")  # no newline at end
    os.remove(repo / "gone.txt")
    git(repo, "mv", "move me.txt", "moved here.txt")
    (repo / "bin").write_bytes(b"\x00\x02")
    (repo / "added \\ back.txt").write_text("+++ not a header\n--- nor this\n")
    git(repo, "add", "-A")
    files = parse_diff(git(repo, "diff", "--no-color", "--cached", "-M"))
    by = {f.path: f for f in files}
    for name in WEIRD:
        f = by[name]
        assert f.status == "M" and f.hunks[0].lines[-1] == "\\ No newline at end of file", name
    assert by["gone.txt"].status == "D" and by["gone.txt"].new_path is None
    assert by["moved here.txt"].status == "R" and by["moved here.txt"].old_path == "move me.txt"
    assert by["bin"].binary and not by["bin"].hunks
    added = by["added \\ back.txt"]
    assert added.status == "A" and added.hunks[0].lines == ("++++ not a header", "+--- nor this")
    # every rebuilt single-file patch applies in reverse to the index
    for f in files:
        for h in f.hunks:
            git(repo, "apply", "--cached", "--reverse", "--check", "-", stdin=hunk_patch(f, h, reverse=True))


def test_unquote_path() -> None:
    assert unquote_path('"a\\tb\\n\\"c\\\\"') == 'a\tb\n"c\\'
    assert unquote_path('"\\303\\274"') == "ü"
    assert unquote_path("plain name") == "plain name"
    assert unquote_path('"\\377"') == "\udcff"
