"""Ignored entries from `GitService.status(ignored=True)`, against real repositories inside real local sandboxes
(bubblewrap): git runs inside. What the explorer needs (an ignored folder once, never its files; ignored files
one by one; hostile names intact), and what the git panel must not see (ignored entries are not changes).
"""

from __future__ import annotations

import pytest

from services.git import GitService
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.services.test_git import IDENT, INIT, new_repo, sh

pytestmark = pytest.mark.bwrap

# a JavaScript/Python project: node_modules and .venv ignored as folders, logs and bytecode by pattern, build/
# ignored but holding a tracked file (so git names its ignored files, not the folder), and an untracked folder
# holding an ignored file
PROJECT = r"""
set -e
printf 'node_modules/\n.venv/\n*.log\n*.pyc\nbuild/\n' > .gitignore
mkdir -p src build tmp
printf 'print(1)\n' > src/app.py
printf 'keep\n' > build/KEEP
git add .gitignore src/app.py && git add -f build/KEEP && git commit -qm base
i=0
while [ $i -lt 50 ]; do mkdir -p "node_modules/p$i"; printf 'x\n' > "node_modules/p$i/index.js"; i=$((i+1)); done
mkdir -p .venv/lib && printf 'x\n' > .venv/lib/site.py
printf 'log\n' > debug.log
printf 'b\n' > src/app.pyc
printf 'o\n' > build/out.o
printf 'n\n' > tmp/notes.txt && printf 'l\n' > tmp/run.log
for n in "$@"; do printf 'h\n' > "$n"; done
"""
HOSTILE = ["[bold]x.log", "new\nline.log", "esc\x1b[31m.log"]


async def test_ignored_entries_are_apart_from_the_changes(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await sh(service, sandbox.id, PROJECT, *HOSTILE, cwd="repo")
    st = await g.status(ignored=True)
    assert sorted(st.ignored) == sorted(
        [".venv/", "build/out.o", "debug.log", "node_modules/", "src/app.pyc", "tmp/run.log", *HOSTILE]
    )
    # the explorer's form: from the sandbox root, folders without their '/'
    assert {"repo/node_modules", "repo/.venv", "repo/new\nline.log"} <= st.ignored_paths
    # not changes: the panel's lists and `clean` are what they were without asking
    assert [e.path for e in st.untracked] == ["tmp/"] and not st.staged and not st.unstaged
    assert st.markers == {"repo/tmp": "?"}
    plain = await g.status()
    assert plain.ignored == () and plain.entries == st.entries and plain.markers == st.markers


async def test_only_ignored_files_leave_the_repository_clean(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await sh(service, sandbox.id, PROJECT, cwd="repo")
    await sh(service, sandbox.id, "rm -r tmp", cwd="repo")
    st = await g.status(ignored=True)
    assert st.clean and not st.entries and st.markers == {}
    assert "node_modules/" in st.ignored


async def test_an_ignored_folder_stays_one_record_even_when_the_repo_asks_for_every_file(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    g = await new_repo(service, sandbox)
    await sh(service, sandbox.id, PROJECT, cwd="repo")
    # a repository's own config may ask for every untracked file; git's `--ignored=traditional` would then name
    # each of node_modules' files: `matching` keeps the folder one record
    await sh(service, sandbox.id, "git config status.showUntrackedFiles all", cwd="repo")
    st = await g.status(ignored=True)
    assert "node_modules/" in st.ignored and ".venv/" in st.ignored
    assert not any(p.startswith("node_modules/") and p != "node_modules/" for p in st.ignored)
    assert [e.path for e in st.untracked] == ["tmp/notes.txt"]  # the repo's choice still holds for changes


async def test_ignored_in_a_repo_below_the_sandbox_root(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "work/app", parents=True)
    await sh(service, sandbox.id, INIT + " && " + PROJECT, cwd="work/app")
    g = GitService(service, sandbox.id, repo_dir="work/app", env=IDENT)
    st = await g.status(ignored=True)
    assert "work/app/node_modules" in st.ignored_paths and "node_modules" not in st.ignored_paths


async def test_a_repo_that_hides_untracked_files_still_gives_its_status(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    # a dotfiles repository sets status.showUntrackedFiles=no, and git refuses `--ignored=matching` beside it:
    # the status must still come (git shows no ignored entries there either), and later refreshes not ask again
    g = await new_repo(service, sandbox)
    await sh(service, sandbox.id, PROJECT, cwd="repo")
    await sh(
        service, sandbox.id, "git config status.showUntrackedFiles no && printf 'more\\n' >> src/app.py", cwd="repo"
    )
    for _ in range(2):
        st = await g.status(ignored=True)
        assert st.branch == "main" and [e.path for e in st.unstaged] == ["src/app.py"]
        assert st.ignored == () and not st.untracked
