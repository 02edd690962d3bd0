"""GitService and parsers behind the git panel's workflow (issue 11 §5): identity, untracked folders, merge
state, conflict markers. Real git inside a real local sandbox where git is involved; pure functions otherwise."""

from __future__ import annotations

import pytest

from services.errors import InvalidInput
from services.git import GitService, check_identity
from services.git_conflicts import parse_conflicts, resolve
from services.git_errors import MissingIdentity
from services.git_parse import added_file
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.services.test_git import IDENT, INIT, MERGE, sh


@pytest.mark.bwrap
async def test_a_commit_without_identity_is_typed_and_set_identity_stores_it_literally(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await service.mkdir(sandbox.id, "repo")
    r = await service.exec(sandbox.id, ["sh", "-c", "git init -q && echo a > a && git add a"], cwd="repo")
    assert r.exit_code == 0
    g = GitService(service, sandbox.id, repo_dir="repo")
    assert await g.identity() == ("", "")
    with pytest.raises(MissingIdentity):
        await g.commit("first")
    with pytest.raises(InvalidInput):
        await g.set_identity("Ada", "nope")
    await g.set_identity("  -n Ada [b]  ", "-e@example.com")  # option-looking values are values, not options
    assert await g.identity() == ("-n Ada [b]", "-e@example.com")
    await g.commit("first")
    out = await sh(
        service, sandbox.id, "git log -1 --format='%an|%ae' && git config --local --get user.name", cwd="repo"
    )
    assert out == "-n Ada [b]|-e@example.com\n-n Ada [b]\n"


@pytest.mark.parametrize(
    ("name", "email", "why"),
    [
        ("", "a@b", "type a name"),
        ("Ada <x>", "a@b", "cannot hold"),
        ("Ada\nEve", "a@b", "cannot hold"),
        ("Ada", "", "type an email"),
        ("Ada", "a b@c", "not an email"),
        ("Ada", "a@b\x1b", "not an email"),
    ],
)
def test_check_identity_refuses_what_git_would_mangle(name: str, email: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        check_identity(name, email)


@pytest.mark.bwrap
async def test_merge_state_message_and_abort(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "repo")
    await sh(service, sandbox.id, INIT, cwd="repo")
    g = GitService(service, sandbox.id, repo_dir="repo", env=IDENT)
    await sh(service, sandbox.id, MERGE, cwd="repo")
    assert await g.merging()
    assert (await g.merge_message()).startswith("Merge branch 'other'")
    await g.merge_abort()
    assert not await g.merging() and (await g.status()).clean


def test_conflict_markers_parse_and_resolve_in_both_styles() -> None:
    merge = (
        "a\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> other\nb\r\n<<<<<<< HEAD\r\nx\r\n=======\r\ny\r\n>>>>>>> o\r\n"
    )
    chunks = parse_conflicts(merge)
    hs = [c for c in chunks if not isinstance(c, str)]
    assert [(h.ours, h.theirs, h.ours_label, h.theirs_label, h.line) for h in hs] == [
        (("ours\n",), ("theirs\n",), "HEAD", "other", 2),
        (("x\r\n",), ("y\r\n",), "HEAD", "o", 8),
    ]
    assert resolve(chunks, {}) == merge  # nothing decided: the file as it was, byte for byte
    assert resolve(chunks, {0: "theirs", 1: "both"}) == "a\ntheirs\nb\r\nx\r\ny\r\n"
    diff3 = "<<<<<<< ours\n1\n||||||| base\n0\n=======\n2\n>>>>>>> theirs\n"
    (h,) = parse_conflicts(diff3)
    assert not isinstance(h, str) and h.base == ("0\n",) and resolve([h], {0: "ours"}) == "1\n"
    # an opening marker never closed, or marker-like text, is just text
    assert all(isinstance(c, str) for c in parse_conflicts("<<<<<<< HEAD\nnever closed\n<<<<<<<< eight\n"))


def test_both_sides_never_run_together_at_the_end_of_a_file() -> None:
    (h,) = parse_conflicts("<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> x\n")
    assert not isinstance(h, str)
    assert resolve([h], {0: "both"}) == "ours\ntheirs\n"


def test_an_added_file_is_one_hunk_or_binary() -> None:
    f = added_file("d/a.txt", b"one\ntwo")
    assert f.status == "A" and f.hunks[0].lines == ("+one", "+two", "\\ No newline at end of file")
    assert added_file("d/b", b"x\0y").binary
    assert added_file("d/e", b"").hunks == ()
    cut = added_file("d/c", b"head\n", truncated=True)
    assert cut.note and "start of the file" in cut.note
