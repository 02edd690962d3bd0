"""Conformance checks, git: a local repository's status/add/commit/branches; clone from a local path and
`file://`, push and pull between clones; init, remotes, restore; the credential and config calls serve refuses."""

from __future__ import annotations

from typing import Any

from tests.conformance.client import Ctx, check

GIT_ID = "-c user.name=T -c user.email=t@example.com"


def origin(c: Ctx, sb: Any, path: str) -> None:
    """A repository at `path` with one commit on main and one on branch `other`."""
    c.sh(
        sb,
        f"git init -q -b main {path} && cd {path} && echo one > a.txt && git add a.txt && git {GIT_ID} commit -qm one"
        f" && git switch -qc other && echo two > b.txt && git add b.txt && git {GIT_ID} commit -qm two"
        " && git switch -q main",
    )


@check(
    "sandbox.git.status",
    "sandbox.git.add",
    "sandbox.git.commit",
    "sandbox.git.branches",
    "sandbox.git.create_branch",
    "sandbox.git.checkout_branch",
    "sandbox.git.delete_branch",
    notes={"sandbox.git.delete_branch": "deletes unmerged branches too, as Daytona does"},
)
def local_repository(c: Ctx) -> None:
    sb, d = c.sandbox(), c.dir
    c.sh(sb, f"git init -q -b main {d}")
    c.do(sb.fs.upload_file(b"hello\n", f"{d}/a.txt"))
    st = c.do(sb.git.status(d))
    assert st.current_branch == "main"
    assert [(f.name, f.worktree.value) for f in st.file_status] == [("a.txt", "Untracked")]
    c.do(sb.git.add(d, ["a.txt"]))
    assert [(f.name, f.staging.value) for f in c.do(sb.git.status(d)).file_status] == [("a.txt", "Added")]
    commit = c.do(sb.git.commit(d, "first", "Tess Ter", "t@example.com"))
    assert len(commit.sha) == 40
    assert c.sh(sb, f"git -C {d} log -1 --format=%an:%s") == "Tess Ter:first\n"
    c.do(sb.git.create_branch(d, "feature"))
    assert sorted(c.do(sb.git.branches(d)).branches) == ["feature", "main"]
    c.do(sb.git.checkout_branch(d, "feature"))
    assert c.do(sb.git.status(d)).current_branch == "feature"
    c.do(sb.fs.upload_file(b"f\n", f"{d}/f.txt"))
    c.do(sb.git.add(d, ["f.txt"]))
    c.do(sb.git.commit(d, "on feature", "T", "t@example.com"))
    c.do(sb.git.checkout_branch(d, "main"))
    c.do(sb.git.delete_branch(d, "feature"))  # unmerged
    assert c.do(sb.git.branches(d)).branches == ["main"]


@check(
    "sandbox.git.clone",
    "sandbox.git.push",
    "sandbox.git.pull",
    notes={
        "sandbox.git.clone": "from a local path or file:// always; from a URL only when the sandbox has network",
    },
)
def clone_push_pull(c: Ctx) -> None:
    sb, d = c.sandbox(), c.dir
    origin(c, sb, f"{d}/origin")
    c.do(sb.git.clone(f"file:///home/sandbox/{d}/origin", f"{d}/one"))
    assert c.do(sb.git.status(f"{d}/one")).current_branch == "main"
    assert c.do(sb.fs.download_file(f"{d}/one/a.txt")) == b"one\n"
    c.do(sb.git.clone(f"/home/sandbox/{d}/origin", f"{d}/two", branch="other"))
    assert c.do(sb.git.status(f"{d}/two")).current_branch == "other"
    c.sh(sb, f"git clone -q --bare {d}/origin {d}/hub.git")
    c.do(sb.git.clone(f"file:///home/sandbox/{d}/hub.git", f"{d}/a"))
    c.do(sb.git.clone(f"file:///home/sandbox/{d}/hub.git", f"{d}/b"))
    c.do(sb.fs.upload_file(b"v2\n", f"{d}/a/a.txt"))
    c.do(sb.git.add(f"{d}/a", ["a.txt"]))
    c.do(sb.git.commit(f"{d}/a", "v2", "T", "t@example.com"))
    c.do(sb.git.push(f"{d}/a"))
    c.do(sb.git.pull(f"{d}/b"))
    assert c.do(sb.fs.download_file(f"{d}/b/a.txt")) == b"v2\n"


@check(
    "sandbox.git.init",
    "sandbox.git.remote_add",
    "sandbox.git.remotes",
    "sandbox.git.remote_get",
    "sandbox.git.restore",
)
def init_remotes_restore(c: Ctx) -> None:
    sb, d = c.sandbox(), c.dir
    c.do(sb.git.init(f"{d}/fresh", initial_branch="trunk"))
    assert c.do(sb.git.status(f"{d}/fresh")).current_branch == "trunk"
    c.do(sb.git.remote_add(f"{d}/fresh", "pub", f"/home/sandbox/{d}/pub.git"))
    assert [(r.name, r.url) for r in c.do(sb.git.remotes(f"{d}/fresh")).remotes] == [
        ("pub", f"/home/sandbox/{d}/pub.git")
    ]
    assert c.do(sb.git.remote_get(f"{d}/fresh", "pub")) == f"/home/sandbox/{d}/pub.git"
    origin(c, sb, f"{d}/origin")
    c.do(sb.fs.upload_file(b"changed\n", f"{d}/origin/a.txt"))
    c.do(sb.git.restore(f"{d}/origin", ["a.txt"]))
    assert c.do(sb.fs.download_file(f"{d}/origin/a.txt")) == b"one\n"


@check(
    "sandbox.git.configure_user",
    "sandbox.git.get_config",
    "sandbox.git.set_config",
    "sandbox.git.reset",
    "sandbox.git.dangerously_authenticate",
    expect="501",
    notes={
        "sandbox.git.configure_user": "the author is given per commit; credentials come from the server's "
        "SANDBENCH_GIT_TOKEN, never stored in a sandbox",
    },
)
def git_config_refused(c: Ctx) -> None:
    sb, d = c.sandbox(), c.dir
    c.sh(sb, f"git init -q {d}")
    g = sb.git
    for call in (
        lambda: c.do(g.configure_user("T", "t@example.com", path=d)),
        lambda: c.do(g.get_config("user.name", path=d)),
        lambda: c.do(g.set_config("user.name", "T", path=d)),
        lambda: c.do(g.reset(d)),
        lambda: c.do(g.dangerously_authenticate("u", "p")),
    ):
        c.refused(call, "git")
