"""Search in files (services/search.py) against a real local sandbox: grep runs inside it.

Literal, regex, case, whole word, globs (base names and paths), hostile file names, a planted symlink, binary
files, the caps, cancellation killing the grep, and replace (preview, changed-since refusal, atomic write).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from services.errors import Conflict, InvalidInput
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from services.search import (
    GrepParser,
    Limits,
    Match,
    SearchQuery,
    SearchSummary,
    apply_replacement,
    expand_template,
    glob_regex,
    grep_argv,
    plan_replacement,
    search_files,
)
from tests.conftest import wait_until

pytestmark = pytest.mark.bwrap


async def _write(service: SandboxService, sandbox: SandboxInfo, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        if "/" in path:
            await service.mkdir(sandbox.id, path.rpartition("/")[0], parents=True)
        await service.write_file(sandbox.id, path, data)


async def _search(
    service: SandboxService, sandbox: SandboxInfo, query: SearchQuery, limits: Limits | None = None
) -> tuple[list[Match], SearchSummary]:
    found: list[Match] = []
    summary = await search_files(service, sandbox.id, query, lambda batch, _s: found.extend(batch), limits=limits)
    return found, summary


def _where(matches: list[Match]) -> list[tuple[str, int]]:
    return sorted((m.path, m.line) for m in matches)


async def make_tree(service: SandboxService, sandbox: SandboxInfo) -> SandboxInfo:
    await _write(
        service,
        sandbox,
        {
            "a.py": b"def hello():\n    return 'Hello world'\n",
            "src/b.txt": b"say hello_there\nHELLO\nnothing\n",
            "src/deep/c.py": b"x = 1  # hello\n",
            "docs/readme.md": b"hello docs\n",
        },
    )
    return sandbox


@pytest.fixture
async def tree(service: SandboxService, sandbox: SandboxInfo) -> SandboxInfo:
    return await make_tree(service, sandbox)


async def test_literal_case_insensitive_by_default_grouped_by_file(service: SandboxService, tree: SandboxInfo) -> None:
    found, summary = await _search(service, tree, SearchQuery("hello"))
    assert _where(found) == [
        ("a.py", 1),
        ("a.py", 2),
        ("docs/readme.md", 1),
        ("src/b.txt", 1),
        ("src/b.txt", 2),
        ("src/deep/c.py", 1),
    ]
    assert (summary.matches, summary.files, summary.error, summary.done) == (6, 4, None, True)
    hit = next(m for m in found if (m.path, m.line) == ("a.py", 2))
    assert hit.text == "    return 'Hello world'" and hit.spans == ((12, 17),) and hit.column == 13
    assert summary.text() == "6 matches in 4 files"


async def test_case_sensitive_whole_word_and_regex(service: SandboxService, tree: SandboxInfo) -> None:
    found, _ = await _search(service, tree, SearchQuery("hello", case_sensitive=True))
    assert ("src/b.txt", 2) not in _where(found) and ("a.py", 2) not in _where(found)
    found, _ = await _search(service, tree, SearchQuery("hello", whole_word=True))
    assert ("src/b.txt", 1) not in _where(found)  # hello_there is one word
    assert ("src/b.txt", 2) in _where(found)
    found, _ = await _search(service, tree, SearchQuery(r"def \w+\(\)", regex=True))
    assert _where(found) == [("a.py", 1)] and found[0].spans == ((0, 11),)
    # a regex character is literal in literal mode
    await service.write_file(tree.id, "dots.txt", b"a.c\nabc\n")
    found, _ = await _search(service, tree, SearchQuery("a.c"))
    assert _where(found) == [("dots.txt", 1)]


async def test_globs_include_exclude_by_name_and_path(service: SandboxService, tree: SandboxInfo) -> None:
    found, _ = await _search(service, tree, SearchQuery("hello", include="*.py"))
    assert {m.path for m in found} == {"a.py", "src/deep/c.py"}
    found, _ = await _search(service, tree, SearchQuery("hello", exclude="src"))
    assert {m.path for m in found} == {"a.py", "docs/readme.md"}
    found, _ = await _search(service, tree, SearchQuery("hello", include="src/**/*.py"))
    assert {m.path for m in found} == {"src/deep/c.py"}
    found, _ = await _search(service, tree, SearchQuery("hello", exclude="docs/, *.txt"))
    assert {m.path for m in found} == {"a.py", "src/deep/c.py"}


def test_glob_regex() -> None:
    assert glob_regex("*.py").fullmatch("x/y/z.py") and not glob_regex("*.py").fullmatch("z.pyc")
    assert glob_regex("src/**/*.py").fullmatch("src/a.py") and glob_regex("src/**/*.py").fullmatch("src/a/b/c.py")
    assert not glob_regex("src/**/*.py").fullmatch("lib/src/a.py")
    assert glob_regex("docs/").fullmatch("docs/a/b.md") and not glob_regex("docs/").fullmatch("docsx/a")
    assert glob_regex("./.github/*.yml").fullmatch(".github/ci.yml")


async def test_hostile_names_are_data(service: SandboxService, sandbox: SandboxInfo) -> None:
    names = ["with space.txt", "new\nline.txt", "[bold]x [@click=app.quit]q.py", "colon:1:2.txt", "-e", "\x1b[31mred"]
    # made by code in the sandbox (the Daytona SDK refuses to upload a name with a newline in it)
    script = 'set -e; for n in "$@"; do printf "needle here\\n" > "$n"; done'
    assert (await service.exec(sandbox.id, ["sh", "-c", script, "sh", *names])).exit_code == 0
    found, summary = await _search(service, sandbox, SearchQuery("needle"))
    assert sorted(m.path for m in found) == sorted(names)
    assert all(m.line == 1 and m.text == "needle here" for m in found)
    assert summary.error is None


async def test_symlinks_are_not_followed_and_binary_files_skipped(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await _write(service, sandbox, {"real.txt": b"root:secret\n", "bin.dat": b"root\x00:x\n", "ok.txt": b"root\n"})
    # planted by code in the sandbox: links to a folder and a file outside the workspace, and to one inside it
    r = await service.exec(sandbox.id, ["sh", "-c", "ln -s /etc etc-link; ln -s /etc/profile prof; ln -s real.txt in"])
    assert r.exit_code == 0
    found, _ = await _search(service, sandbox, SearchQuery("root"))
    assert {m.path for m in found} == {"real.txt", "ok.txt"}
    found, _ = await _search(service, sandbox, SearchQuery("PATH"))  # /etc/profile sets PATH
    assert not found


async def test_caps_on_matches_and_line_bytes(service: SandboxService, sandbox: SandboxInfo) -> None:
    await _write(
        service,
        sandbox,
        {
            "many.txt": b"hit\n" * 500,
            "long.txt": b"x" * 100_000 + b" hit " + b"y" * 100_000 + b"\nhit\n",
        },
    )
    found, summary = await _search(service, sandbox, SearchQuery("hit"), Limits(max_matches=50, max_line_bytes=100))
    assert len(found) == 50 and summary.matches == 50
    assert summary.more == 502 - 50 and not summary.more_is_lower_bound
    assert "452 more not shown" in summary.text()
    # a long line keeps only its head
    found, summary = await _search(service, sandbox, SearchQuery("hit", include="long.txt"), Limits(max_line_bytes=100))
    assert [(m.line, m.cut, len(m.text)) for m in found] == [(1, True, 100), (2, False, 3)]
    assert summary.cut_lines == 1
    # past the counting cap grep is stopped, and the count says "more than"
    found, summary = await _search(service, sandbox, SearchQuery("hit"), Limits(max_matches=10, max_counted=100))
    assert len(found) == 10 and summary.more == 100 and summary.more_is_lower_bound
    assert "more than 100 more not shown" in summary.text()


def _greps(marker: str) -> list[int]:
    """Host pids of processes whose argv holds `marker` (the sandboxed grep is visible from the host's /proc)."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\x00")
        except OSError:
            continue
        if argv and argv[0].endswith(b"grep") and marker.encode() in argv:
            pids.append(int(pid))
    return pids


async def test_cancelling_kills_the_grep(service: SandboxService, sandbox: SandboxInfo) -> None:
    # a regex that is slow on every line of a big file, with a hit on the first line: the search is streaming
    # results and grep is still busy when it is cancelled
    line = b"abcdefghij" * 30 + b"\n"
    await service.write_file(sandbox.id, "big.txt", b"zz marker\n" + line * 60_000)
    marker = r"marker|(\w+)(\w+)\2\1Q"
    first = asyncio.Event()
    task = asyncio.ensure_future(
        search_files(service, sandbox.id, SearchQuery(marker, regex=True), lambda b, _s: first.set())
    )
    await asyncio.wait_for(first.wait(), 30)
    assert _greps(marker), "grep should still be running when the search is cancelled"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(None, lambda: not _greps(marker), "grep to end once the search was cancelled", timeout=5)


async def test_bad_input_is_refused_clearly(service: SandboxService, sandbox: SandboxInfo) -> None:
    for query, words in (
        (SearchQuery(""), "type something"),
        (SearchQuery("a\nb"), "one line"),
        (SearchQuery("(", regex=True), "not a valid regular expression"),
    ):
        with pytest.raises(InvalidInput, match=words):
            await _search(service, sandbox, query)
    # a pattern that looks like an option is searched for, not obeyed
    await service.write_file(sandbox.id, "opt.txt", b"--help\n")
    found, summary = await _search(service, sandbox, SearchQuery("--help"))
    assert _where(found) == [("opt.txt", 1)] and summary.error is None
    assert grep_argv(SearchQuery("-r"))[-4:] == ["-e", "-r", "--", "."]


def test_parser_handles_split_chunks_and_junk() -> None:
    data = b"a\nb.txt\x0012:x:y\nnot a record\nc\x003:" + b"z" * 50 + b"\nd\x001:ok\n"
    for step in (1, 3, 7, len(data)):
        parser = GrepParser(max_line_bytes=10)
        out = []
        for i in range(0, len(data), step):
            out += parser.feed(data[i : i + step])
        assert out == [
            (b"a\nb.txt", 12, b"x:y", False),
            (b"not a record\nc", 3, b"z" * 10, True),
            (b"d", 1, b"ok", False),
        ]


def test_replacement_templates() -> None:
    import re

    m = re.search(r"(\w+)@(?P<host>\w+)", "joe@example")
    assert m is not None
    assert expand_template("$2 at $1 ($&) $$ \\n", True)(m) == "example at joe (joe@example) $ \n"
    assert expand_template("$1", False)(m) == "$1"


async def test_replace_preview_then_atomic_write(service: SandboxService, tree: SandboxInfo) -> None:
    query = SearchQuery(r"hel+o", regex=True)
    found, _ = await _search(service, tree, query)
    b_matches = [m for m in found if m.path == "src/b.txt"]
    plan = await plan_replacement(service, tree.id, "src/b.txt", b_matches, query, "bye")
    assert plan.count == 2
    assert plan.new == b"say bye_there\nbye\nnothing\n"
    assert "-say hello_there" in plan.diff and "+say bye_there" in plan.diff
    assert (await service.read_file(tree.id, "src/b.txt")).data == plan.old  # nothing written by the preview
    await apply_replacement(service, tree.id, plan)
    assert (await service.read_file(tree.id, "src/b.txt")).data == plan.new


async def test_replace_refuses_a_file_changed_since_the_search(service: SandboxService, tree: SandboxInfo) -> None:
    query = SearchQuery("hello")
    found, _ = await _search(service, tree, query)
    a_matches = [m for m in found if m.path == "a.py"]
    # changed between the search and the preview: the found line is not there any more
    await service.write_file(tree.id, "a.py", b"def goodbye():\n    return 'Hello world'\n")
    with pytest.raises(Conflict, match="changed since the search"):
        await plan_replacement(service, tree.id, "a.py", a_matches, query, "bye")
    # changed between the preview and the write: refused, the other change kept
    found, _ = await _search(service, tree, query)
    plan = await plan_replacement(service, tree.id, "a.py", [m for m in found if m.path == "a.py"], query, "bye")
    await asyncio.sleep(0.01)
    await service.write_file(tree.id, "a.py", b"edited elsewhere\n")
    with pytest.raises(Conflict, match="changed since the preview"):
        await apply_replacement(service, tree.id, plan)
    assert (await service.read_file(tree.id, "a.py")).data == b"edited elsewhere\n"


async def test_replace_keeps_line_endings_and_undecodable_bytes(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "crlf.txt", b"one foo\r\n\xff foo two\r\nfoo\x0bnext\r\n")
    query = SearchQuery("foo")
    found, _ = await _search(service, sandbox, query)
    assert [m.line for m in found] == [1, 2, 3]
    plan = await plan_replacement(service, sandbox.id, "crlf.txt", found, query, "bar")
    assert plan.new == b"one bar\r\n\xff bar two\r\nbar\x0bnext\r\n" and plan.count == 3
