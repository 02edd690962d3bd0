"""GitService against real repositories inside real local sandboxes (bubblewrap): git runs inside, never here.

Setup scripts are constant `sh -c` texts; every name and message goes in as an argument, never into the script.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from services.errors import InvalidInput, NameRejected
from services.git import GitService
from services.git_errors import BranchNotMerged, DetachedHead, MergeConflict, NotARepository
from services.models import SandboxInfo
from services.sandbox_service import SandboxService

pytestmark = pytest.mark.bwrap

IDENT = {
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z",
    "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z",
}

WEIRD = [
    "with space.txt",
    "q\"uote's.txt",
    "new\nline.txt",
    "-leading-dash",
    "--output=x",
    "ünï©ødé ✓.txt",
    "$(touch pwned)",
    "`touch pwned2`",
    "*",
    ":(glob)x",
]


async def sh(service: SandboxService, sid: str, script: str, *args: str, cwd: str = "") -> str:
    r = await service.exec(sid, ["sh", "-c", script, "sh", *args], cwd=cwd, env=IDENT)
    assert r.exit_code == 0, r.stderr.decode()
    return r.stdout.decode()


INIT = "git init -q -b main && git config user.name Ada && git config user.email ada@example.com"


async def new_repo(service: SandboxService, sandbox: SandboxInfo, path: str = "repo") -> GitService:
    await service.mkdir(sandbox.id, path, parents=True)
    await sh(service, sandbox.id, INIT, cwd=path)
    return GitService(service, sandbox.id, repo_dir=path, env=IDENT)


async def test_not_a_repository(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "plain")
    g = GitService(service, sandbox.id, repo_dir="plain")
    assert not await g.is_repo()
    with pytest.raises(NotARepository) as info:
        await g.status()
    assert "init" in str(info.value) and "\n" not in str(info.value)


async def test_empty_repo_then_first_commit(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "empty")
    g = GitService(service, sandbox.id, repo_dir="empty", env=IDENT)
    await g.init()
    st = await g.status()
    assert st.initial and st.clean and st.branch == "main" and st.prefix == "empty/"
    assert await g.log() == []
    await service.write_file(sandbox.id, "empty/a.txt", b"a\n")
    await g.stage("a.txt")
    assert [e.path for e in (await g.status()).staged] == ["a.txt"]
    await g.unstage("a.txt")  # no HEAD yet: must still work
    assert [e.path for e in (await g.status()).untracked] == ["a.txt"]
    await g.stage_all()
    with pytest.raises(InvalidInput):
        await g.commit("  \n\t ")
    oid = await g.commit("first")
    assert len(oid) == 40 and not (await g.status()).initial


async def test_weird_file_names_round_trip(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await sh(service, sandbox.id, 'for n in "$@"; do printf "content\\n" > "./$n"; done', *WEIRD, cwd="repo")
    st = await g.status()
    assert sorted(e.path for e in st.untracked) == sorted(WEIRD)
    assert st.markers["repo/new\nline.txt"] == "?"
    for name in WEIRD:
        await g.stage(name)  # one by one: '*' and ':(glob)x' must stage only themselves
        assert name in [e.path for e in (await g.status()).staged], name
    assert not (await g.status()).untracked
    await g.commit("weird names")
    await sh(service, sandbox.id, 'for n in "$@"; do printf "changed\\n" > "./$n"; done', *WEIRD, cwd="repo")
    st = await g.status()
    assert sorted(e.path for e in st.unstaged) == sorted(WEIRD)
    for name in WEIRD:
        (f,) = await g.diff(name)
        assert f.path == name and f.hunks[0].lines == ("-content", "+changed")
    ls = await sh(service, sandbox.id, "ls -a", cwd="repo")
    assert "pwned" not in ls.replace("$(touch pwned)", "").replace("`touch pwned2`", "")


async def test_commit_message_is_stored_verbatim(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await service.write_file(sandbox.id, "keep-me", b"still here")
    await service.write_file(sandbox.id, "repo/a", b"a")
    await g.stage_all()
    message = "fix \"double\" and 'single' quotes, `backticks` and $(rm -rf ~)\n\n# not a comment\n$HOME ; | & > <\n"
    oid = await g.commit(message)
    (c,) = await g.log(limit=1)
    assert c.oid == oid and c.message == message
    assert c.author == "Ada Tester" and c.author_time == 1704164645
    assert (await service.read_file(sandbox.id, "keep-me")).data == b"still here"
    commit, files = await g.show(oid)
    assert commit.message == message and [f.path for f in files] == ["a"]
    amended = await g.commit("amended $(id)\n", amend=True)
    assert amended != oid and (await g.log())[0].message == "amended $(id)\n" and len(await g.log()) == 1


async def test_rename_is_one_entry_with_its_origin(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await service.write_file(sandbox.id, "repo/old name.txt", b"line\n" * 50)
    await g.stage_all()
    await g.commit("base")
    await sh(service, sandbox.id, 'git mv -- "$1" "$2"', "old name.txt", "new\nname.txt", cwd="repo")
    (e,) = (await g.status()).staged
    assert e.kind == "renamed" and e.path == "new\nname.txt" and e.orig_path == "old name.txt"
    await g.unstage(e.path, e.orig_path or "")
    st = await g.status()
    assert [x.path for x in st.unstaged] == ["old name.txt"] and [x.path for x in st.untracked] == ["new\nname.txt"]


MERGE = """
printf 'base\\n' > c.txt && git add c.txt && git commit -qm base &&
git switch -qc other && printf 'other\\n' > c.txt && git commit -qam other &&
git switch -q main && printf 'main\\n' > c.txt && git commit -qam main &&
! git merge -q other
"""


async def test_conflicts_after_a_merge(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await sh(service, sandbox.id, MERGE, cwd="repo")
    st = await g.status()
    (e,) = st.conflicted
    assert e.path == "c.txt" and e.index + e.worktree == "UU" and st.markers == {"repo/c.txt": "U"}
    with pytest.raises(MergeConflict) as info:
        await g.commit("try")
    assert "resolve" in str(info.value)
    with pytest.raises(MergeConflict):
        await g.pull()
    await service.write_file(sandbox.id, "repo/c.txt", b"resolved\n")
    await g.stage("c.txt")
    await g.commit("merge other")
    assert (await g.status()).clean and len((await g.log())[0].parents) == 2


async def test_detached_head(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await sh(
        service, sandbox.id, "git commit -q --allow-empty -m one && git commit -q --allow-empty -m two", cwd="repo"
    )
    await sh(service, sandbox.id, "git switch -q --detach HEAD~1", cwd="repo")
    st = await g.status()
    assert st.detached and st.branch is None and st.oid
    with pytest.raises(DetachedHead):
        await g.push()
    await g.switch("main")
    assert (await g.status()).branch == "main"


async def test_hunks_stage_unstage_discard(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    base = "".join(f"line {i}\n" for i in range(40))
    await service.write_file(sandbox.id, "repo/f.py", base.encode())
    await g.stage_all()
    await g.commit("base")
    lines = base.splitlines(keepends=True)
    lines[1] = "first change\n"
    lines[30] = "second change\n"
    await service.write_file(sandbox.id, "repo/f.py", "".join(lines).encode())
    (f,) = await g.diff("f.py")
    assert len(f.hunks) == 2
    await g.stage_hunk(f, f.hunks[1])
    (staged,) = await g.diff("f.py", staged=True)
    (left,) = await g.diff("f.py")
    assert [h.added for h in staged.hunks] == [1] and "+second change" in staged.hunks[0].lines
    assert "+first change" in left.hunks[0].lines and len(left.hunks) == 1
    await g.unstage_hunk(staged, staged.hunks[0])
    assert await g.diff("f.py", staged=True) == []
    (f,) = await g.diff("f.py")
    await g.discard_hunk(f, f.hunks[0])
    text = (await service.read_file(sandbox.id, "repo/f.py")).data.decode()
    assert "first change" not in text and "second change" in text
    (entry,) = (await g.status()).unstaged
    await g.discard(entry)
    assert (await g.status()).clean


async def test_discard_untracked_staged_and_added(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await service.write_file(sandbox.id, "repo/t", b"t\n")
    await g.stage_all()
    await g.commit("base")
    await service.write_file(sandbox.id, "repo/-u", b"u")
    await service.write_file(sandbox.id, "repo/added", b"a")
    await g.stage("added")
    await service.write_file(sandbox.id, "repo/t", b"changed\n")
    await g.stage("t")
    st = await g.status()
    by = {e.path: e for e in st.entries}
    await g.discard(by["-u"])
    await g.discard(by["added"], include_staged=True)
    await g.discard(by["t"], include_staged=True)
    assert (await g.status()).clean
    assert (await service.read_file(sandbox.id, "repo/t")).data == b"t\n"


async def test_branches_create_switch_delete_and_bad_names(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await sh(service, sandbox.id, "git commit -q --allow-empty -m base", cwd="repo")
    for bad in ["--output=/tmp/x", "-D", "a..b", "x y", "x\ny", "@{-1}", "", "ends.lock", "HEAD~1"]:
        with pytest.raises(NameRejected):
            await g.create_branch(bad)
    await g.create_branch("feature/ü-1")
    assert (await g.status()).branch == "feature/ü-1"
    await sh(service, sandbox.id, "git commit -q --allow-empty -m 'only on feature'", cwd="repo")
    await g.switch("main")
    names = {b.name: b for b in await g.branches()}
    assert names["main"].current and not names["feature/ü-1"].current
    with pytest.raises(BranchNotMerged):
        await g.delete_branch("feature/ü-1")
    await g.delete_branch("feature/ü-1", force=True)
    assert [b.name for b in await g.branches()] == ["main"]


async def test_stash_push_and_pop(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await service.write_file(sandbox.id, "repo/a", b"a")
    await g.stage_all()
    await g.commit("base")
    await service.write_file(sandbox.id, "repo/a", b"b")
    await service.write_file(sandbox.id, "repo/new", b"n")
    await g.stash_push('wip "1"')
    assert (await g.status()).clean and (await g.status()).stash_count == 1
    (s,) = await g.stashes()
    assert s.message == 'On main: wip "1"'
    await g.stash_pop()
    st = await g.status()
    assert [e.path for e in st.unstaged] == ["a"] and [e.path for e in st.untracked] == ["new"]


async def test_log_paging(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await sh(service, sandbox.id, 'for i in $(seq 1 25); do git commit -q --allow-empty -m "c$i"; done', cwd="repo")
    first = await g.log(limit=10)
    second = await g.log(skip=10, limit=10)
    third = await g.log(skip=20, limit=10)
    assert [c.summary for c in first][:2] == ["c25", "c24"]
    assert len(first) == 10 and len(second) == 10 and len(third) == 5 and third[-1].summary == "c1"


async def test_hooks_and_fsmonitor_run_inside_never_on_the_host(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    host_file = Path(f"/tmp/sandbench-hook-escape-{uuid.uuid4().hex}")
    host_fsmon = Path(f"/tmp/sandbench-fsmonitor-escape-{uuid.uuid4().hex}")
    hook = (
        f'#!/bin/sh\necho ran > {host_file} 2>/dev/null\necho "hook ran as $(id -un) in $HOME" > "$HOME/hook-marker"\n'
    )
    fsmon = f'#!/bin/sh\necho ran > {host_fsmon} 2>/dev/null\necho x > "$HOME/fsmonitor-marker"\nexit 1\n'
    await service.write_file(sandbox.id, "repo/.git/hooks/post-commit", hook.encode())
    await service.write_file(sandbox.id, "repo/fsmon.sh", fsmon.encode())
    await sh(
        service,
        sandbox.id,
        'chmod +x .git/hooks/post-commit fsmon.sh && git config core.fsmonitor "$PWD/fsmon.sh"',
        cwd="repo",
    )
    try:
        await g.status()
        await service.write_file(sandbox.id, "repo/a", b"a")
        await g.stage_all()
        await g.commit("trigger the hook")
        marker = (await service.read_file(sandbox.id, "hook-marker")).data.decode()
        assert marker.startswith("hook ran as sandbox in /home/sandbox"), marker
        assert (await service.read_file(sandbox.id, "fsmonitor-marker")).data
        assert not host_file.exists() and not host_fsmon.exists()
    finally:
        host_file.unlink(missing_ok=True)
        host_fsmon.unlink(missing_ok=True)


BIG = """
set -e
git init -q -b main
mkdir -p d
i=0
while [ $i -lt 200 ]; do mkdir -p "d/$i"; i=$((i+1)); done
# 20,000 files: 200 folders x 100 files, written by one awk process (fast)
awk 'BEGIN { for (d = 0; d < 200; d++) for (f = 0; f < 100; f++) {
  p = "d/" d "/f" f ".txt"; print "file " d " " f > p; close(p) } }'
git add -A
git commit -q -m big
"""

CHANGE = """
awk -v n="$1" 'BEGIN { c = 0; for (d = 0; d < 200 && c < n; d++) for (f = 0; f < 10 && c < n; f++) {
  p = "d/" d "/f" f ".txt"; print "changed" >> p; close(p); c++ } }'
"""


@pytest.mark.serial  # a wall-clock bar: alone under xdist
@pytest.mark.slow
async def test_a_repo_of_20000_files(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "big")
    t0 = time.monotonic()
    await sh(service, sandbox.id, BIG, cwd="big")
    setup = time.monotonic() - t0
    g = GitService(service, sandbox.id, repo_dir="big", env=IDENT)
    st = await g.status()
    assert st.clean and st.branch == "main"
    await sh(service, sandbox.id, CHANGE, "2000", cwd="big")
    t0 = time.monotonic()
    st = await g.status()
    took = time.monotonic() - t0
    assert len(st.unstaged) == 2000 and len(st.markers) == 2000
    assert took < 10, f"status of 20,000 files with 2,000 changes took {took:.2f}s (setup {setup:.1f}s)"


async def test_repo_dir_inside_a_repo_resolves_to_its_top(service: SandboxService, sandbox: SandboxInfo) -> None:
    await new_repo(service, sandbox)
    await service.mkdir(sandbox.id, "repo/sub/deeper", parents=True)
    await service.write_file(sandbox.id, "repo/sub/deeper/x", b"x")
    g = GitService(service, sandbox.id, repo_dir="repo/sub/deeper", env=IDENT)
    st = await g.status()
    assert g.repo_dir == "repo" and st.markers == {"repo/sub": "?"}
