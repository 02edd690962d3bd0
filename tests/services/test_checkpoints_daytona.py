"""Checkpoints of Daytona sandboxes (issue 13 §1, the Daytona part): the real `daytona` SDK against a real
`sandbench serve`, through the real SandboxService over the DaytonaProvider. The workspace is scanned and restored
inside the sandbox (services/checkpoints/remote.py); these tests check what a user sees: changes named, diffs,
byte-for-byte restores, symlinks kept as symlinks and never written through, fork, and the clear refusals."""

from __future__ import annotations

import contextlib
import hashlib
import shlex
from pathlib import Path

import pytest

from services.checkpoints import remote
from services.errors import InvalidInput, ProviderError, SandbenchError, TooLarge
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.services import test_server_harness as harness

serve = harness.serve  # the shared fixtures
dservice = harness.dservice
dbox = harness.dbox

pytestmark = [pytest.mark.timeout(240), pytest.mark.bwrap]


async def sh(svc: SandboxService, box: SandboxInfo, script: str) -> str:
    r = await svc.exec(box.id, ["sh", "-c", script])
    assert r.exit_code == 0, r.stdout
    return r.stdout.decode()


def blobs(home: Path) -> set[str]:
    return {str(p) for p in (home / "store" / "objects").rglob("*") if p.is_file()}


async def test_checkpoint_changes_diff_restore_byte_for_byte(
    dservice: SandboxService, dbox: SandboxInfo, sandbench_home: Path
) -> None:
    ck = dservice.checkpoints
    await sh(
        dservice,
        dbox,
        "mkdir -p src/deep && echo one > a.txt && echo keep > b.txt && printf '\\000\\001\\377' > bin.dat "
        "&& echo deep > src/deep/x.py && chmod 750 src && chmod 600 b.txt",
    )
    first = await ck.create(dbox.id, "before the agent")
    assert (first.files, first.files_added, first.parent) == (4, 4, None)
    stored = blobs(sandbench_home)
    assert len(stored) == 4

    await sh(
        dservice,
        dbox,
        "echo two >> a.txt && rm b.txt && printf '\\000y' > bin.dat && echo n > n.txt && chmod 700 src/deep/x.py",
    )
    cs = await ck.changes(dbox.id)
    assert cs.since.id == first.id
    got = [(c.path, c.status, c.old_size, c.new_size) for c in cs.changes]
    assert got == [
        ("a.txt", "modified", 4, 8),
        ("b.txt", "deleted", 5, None),
        ("bin.dat", "modified", 3, 2),
        ("n.txt", "added", None, 2),
        ("src/deep/x.py", "mode-changed", 5, 5),
    ]
    _, diffs = await ck.diff(dbox.id)
    text = {c.path: "\n".join(lines) for c, lines in diffs}
    assert "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1,2 @@\n one\n+two" in text["a.txt"]
    assert text["bin.dat"] == "Binary files a/bin.dat and b/bin.dat differ"
    assert text["src/deep/x.py"] == "mode 644 -> 700"
    assert "+n" in text["n.txt"] and "-keep" in text["b.txt"]

    second = await ck.create(dbox.id, "after")
    # only what changed was fetched: a.txt, bin.dat, n.txt (and nothing for the mode change)
    assert (second.parent, second.files_added, second.hashed_files) == (first.id, 3, 4)
    assert len(blobs(sandbench_home) - stored) == 3

    res = await ck.restore(dbox.id, first.id)
    assert res.before.kind == "before-restore"
    listing = await sh(dservice, dbox, "find . -mindepth 1 | sort && stat -c '%a %n' src b.txt src/deep/x.py")
    assert listing.split("\n")[:7] == [
        "./a.txt", "./b.txt", "./bin.dat", "./src", "./src/deep", "./src/deep/x.py", "750 src",
    ]  # fmt: skip
    assert "600 b.txt" in listing and "644 src/deep/x.py" in listing
    sums = await sh(dservice, dbox, "sha256sum a.txt b.txt bin.dat src/deep/x.py")
    want = {
        "a.txt": b"one\n",
        "b.txt": b"keep\n",
        "bin.dat": b"\x00\x01\xff",
        "src/deep/x.py": b"deep\n",
    }
    for name, data in want.items():
        assert f"{hashlib.sha256(data).hexdigest()}  {name}" in sums
    assert (await ck.changes(dbox.id)).changes == []  # the workspace is at the restored checkpoint

    # the restore is undoable, and `between` reads the store alone
    between = await ck.between(dbox.id, first.id, second.id)
    assert {c.path for c in between.changes} == {"a.txt", "b.txt", "bin.dat", "n.txt", "src/deep/x.py"}
    await ck.restore(dbox.id, res.before.id, ["n.txt"])
    assert await sh(dservice, dbox, "cat n.txt") == "n\n"
    assert await sh(dservice, dbox, "cat a.txt") == "one\n"  # not asked for: left as it was


async def test_symlinks_are_recorded_never_followed_and_never_written_through(
    dservice: SandboxService, dbox: SandboxInfo
) -> None:
    ck = dservice.checkpoints
    await sh(
        dservice,
        dbox,
        "mkdir -p out conf && echo secret > out/target.txt && echo cfg > conf/app.ini "
        "&& ln -s out/target.txt link && ln -s /etc escape",
    )
    first = await ck.create(dbox.id)
    cs = await ck.between(dbox.id, first.id, first.id)
    assert cs.changes == []
    entries = {e.path: e for e in dservice.checkpoints.store.manifest(first)}
    assert (entries["link"].kind, entries["link"].ref) == ("symlink", "out/target.txt")
    assert (entries["escape"].kind, entries["escape"].ref) == ("symlink", "/etc")
    assert not any(p.startswith("escape/") for p in entries)  # /etc was never listed

    # after the checkpoint the sandbox swaps the folder `conf` for a symlink to another folder (each exec has its
    # own /tmp here, so the redirect's target is `out`: a write through the link would land in it)
    await sh(dservice, dbox, "rm -r conf && ln -s out conf && echo x > link2")
    changed = {c.path: (c.status, c.kind) for c in (await ck.changes(dbox.id)).changes}
    assert changed["conf"] == ("modified", "symlink")
    assert "conf/app.ini" in changed and changed["conf/app.ini"][0] == "deleted"
    await ck.restore(dbox.id, first.id, ["conf"])
    assert await sh(dservice, dbox, "ls out") == "target.txt\n"  # nothing written through the symlink
    assert await sh(dservice, dbox, "test -d conf && ! test -L conf && cat conf/app.ini") == "cfg\n"
    assert await sh(dservice, dbox, "readlink link") == "out/target.txt\n"

    # a file swapped for a symlink to another file: the restore replaces the link, the file it names is untouched
    await sh(dservice, dbox, "rm conf/app.ini && ln -s ../out/target.txt conf/app.ini")
    await ck.restore(dbox.id, first.id, ["conf/app.ini"])
    assert await sh(dservice, dbox, "cat out/target.txt && test ! -L conf/app.ini && cat conf/app.ini") == (
        "secret\ncfg\n"
    )


async def test_fork_uses_daytonas_fork_and_at_restores_the_checkpoint(
    dservice: SandboxService, dbox: SandboxInfo
) -> None:
    ck = dservice.checkpoints
    await sh(dservice, dbox, "echo v1 > f.txt")
    v1 = await ck.create(dbox.id, "v1")
    await sh(dservice, dbox, "echo v2 > f.txt && echo later > g.txt")
    new, first = await ck.fork(dbox.id, harness.unique("fork"), at=v1.id)
    try:
        assert first.parent == v1.id and first.parent_sandbox == dbox.id and first.kind == "fork"
        assert first.message == f"forked from {dbox.name} at {v1.id}"
        assert await sh(dservice, new, "cat f.txt && ls") == "v1\nf.txt\n"
        assert await sh(dservice, dbox, "cat f.txt") == "v2\n"  # the source is untouched
        assert (await ck.changes(new.id)).changes == []
    finally:
        with contextlib.suppress(SandbenchError):
            await dservice.delete(new.id)


async def test_refusals_and_bounds_are_clear(
    dservice: SandboxService, dbox: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    ck = dservice.checkpoints
    await sh(dservice, dbox, "mkfifo pipe")
    with pytest.raises(InvalidInput, match="'pipe' is a FIFO or a device"):
        await ck.create(dbox.id)
    await sh(dservice, dbox, "rm pipe && mkdir d && for i in 1 2 3 4 5 6; do echo $i > d/$i; done")
    ck.max_files = 5
    with pytest.raises(TooLarge, match="more than 5 files and folders"):
        await ck.create(dbox.id)
    ck.max_files = 10_000
    monkeypatch.setattr(remote, "MAX_OUTPUT", 300)  # the listing's bound, checked in the sandbox as it is written
    with pytest.raises(TooLarge, match="file listing is over"):
        await ck.create(dbox.id)
    monkeypatch.undo()
    first = await ck.create(dbox.id)
    assert first.files == 6
    # a restore removes what came since, read-only folders and links inside them too, never what a link names
    await sh(dservice, dbox, "mkdir -p ro/sub && echo x > ro/sub/f && ln -s ../../d ro/sub/l && chmod 500 ro/sub ro")
    await ck.restore(dbox.id, first.id)
    assert await sh(dservice, dbox, "ls; ls d | wc -l") == "d\n6\n"
    # a feature that reads the workspace from the host names itself as unavailable, never a traceback
    with pytest.raises(ProviderError, match="not available on Daytona"):
        ck._workspace(dbox.id)


async def test_workspace_modules_never_shadow_the_scanners(dservice: SandboxService, dbox: SandboxInfo) -> None:
    """The scan runs in home, which is the workspace: modules there (a user's `json.py`, or planted ones) and
    PYTHON* settings must not be what the in-sandbox program imports."""
    boom = "raise SystemExit('shadowed')\n"
    for name in ("json.py", "hashlib.py", "os.py", "sitecustomize.py", "usercustomize.py"):
        await dservice.write_file(dbox.id, name, boom.encode())
    first = await dservice.checkpoints.create(dbox.id)
    assert first.files == 5
    await sh(dservice, dbox, "echo more >> json.py")
    assert [c.path for c in (await dservice.checkpoints.changes(dbox.id)).changes] == ["json.py"]
    await dservice.checkpoints.restore(dbox.id, first.id)
    assert (await dservice.read_file(dbox.id, "json.py")).data == boom.encode()


async def test_many_changed_files_with_long_unicode_names(dservice: SandboxService, dbox: SandboxInfo) -> None:
    """What moved is hashed in several requests when its names do not fit one (stdin rides in one environment
    variable); non-ASCII names survive the round trip and restore byte for byte."""
    ck = dservice.checkpoints
    make = "import os\nfor i in range(400):\n    open('é' * 60 + f'-{i}', 'w').write(str(i))\n"
    await sh(dservice, dbox, f"python3 -c {shlex.quote(make)}")
    first = await ck.create(dbox.id)
    assert first.files == 400
    await sh(dservice, dbox, 'for f in é*; do echo x >> "$f"; done')
    second = await ck.create(dbox.id)
    assert (second.hashed_files, second.files_added) == (400, 400)  # every one moved: several hash requests
    await ck.restore(dbox.id, first.id)
    name = "é" * 60 + "-7"
    assert (await dservice.read_file(dbox.id, name)).data == b"7"
    assert (await ck.changes(dbox.id)).changes == []


async def test_automatic_checkpoints_are_refused_by_name_on_daytona(serve: harness.Serve, sandbench_home: Path) -> None:
    """With `auto_checkpoint = true`, a command on a Daytona sandbox is refused naming the feature (and how to turn
    it off); manual checkpoints of the same sandbox still work, their scan not being such a command."""
    import dataclasses

    from services.daytona import DaytonaProvider

    sandbench_home.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.replace(harness.daytona_config(serve, sandbench_home), auto_checkpoint=True)
    svc = SandboxService(DaytonaProvider(cfg), cfg)
    box = await svc.create(SandboxSpec(name=harness.unique("auto")))
    try:
        with pytest.raises(InvalidInput, match="automatic checkpoints are available for local sandboxes only"):
            await svc.exec(box.id, ["true"])
        first = await svc.checkpoints.create(box.id, "by hand")
        assert first.kind == "manual"
    finally:
        with contextlib.suppress(SandbenchError):
            await svc.delete(box.id)
        await svc.close()


def test_listing_rows_are_checked() -> None:
    good = ["a/b", "file", 0o644, 3, 1, 2, 3, "0" * 64, False]
    assert remote.parse_row(good).path == "a/b"
    for bad in (
        ["../x", *good[1:]],
        ["/etc/passwd", *good[1:]],
        ["a//b", *good[1:]],
        ["a", "fifo", *good[2:]],
        [*good[:2], -1, *good[3:]],
        [*good[:7], "not-a-hash", False],
        [*good[:8], "yes"],
        good[:8],
    ):
        with pytest.raises(ValueError):
            remote.parse_row(bad)


def test_cli_checkpoint_changes_restore_over_daytona(
    serve: harness.Serve, sandbench_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sandbench --provider daytona checkpoint / changes / restore`, configured by the variables
    `sandbench serve --print-env` prints (and the target), as a user runs it."""
    import json
    import os

    from tests.services.test_cli import run, run_here

    monkeypatch.setenv("DAYTONA_API_URL", serve.api_url)
    monkeypatch.setenv("DAYTONA_API_KEY", serve.token)
    monkeypatch.setenv("DAYTONA_TARGET", "local")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    Path(os.environ["SANDBENCH_CONFIG"]).write_text(f'identity = "{harness.IDENTITY}"\n')

    def ok(*args: str, here: bool = True) -> str:
        # through main() in this process (each `sandbench` process would import the daytona SDK, a second of CPU),
        # but for the create: that one is the real process, configured only by the variables
        r = run_here("--provider", "daytona", *args) if here else run("--provider", "daytona", *args, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        assert serve.token.encode() not in r.stdout + r.stderr
        return r.stdout.decode()

    name = harness.unique("cli")
    ok("create", name, here=False)
    try:
        ok("exec", name, "--", "sh", "-c", "echo one > a.txt && echo keep > b.txt")
        first = json.loads(ok("checkpoint", name, "-m", "before", "--json"))
        assert (first["files"], first["message"], first["who"]) == (2, "before", harness.IDENTITY)
        ok("exec", name, "--", "sh", "-c", "echo two >> a.txt && rm b.txt && echo n > n.txt")
        changes = json.loads(ok("changes", name, "--json"))
        assert [(c["path"], c["status"]) for c in changes["changes"]] == [
            ("a.txt", "modified"),
            ("b.txt", "deleted"),
            ("n.txt", "added"),
        ]
        text = ok("changes", name, "--diff")
        assert "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1,2 @@\n one\n+two\n" in text
        said = ok("restore", name, first["id"][:6])
        assert "undoes this" in said
        assert ok("exec", name, "--", "sh", "-c", "cat a.txt b.txt; ls") == "one\nkeep\na.txt\nb.txt\n"
        tree = json.loads(ok("checkpoints", name, "--json"))
        assert tree["head"] == first["id"] and len(tree["checkpoints"]) == 2
        fork = harness.unique("clifork")
        made = json.loads(ok("fork", name, fork, "--at", first["id"], "--json"))
        assert made["sandbox"] == fork and made["checkpoint"]["parent"] == first["id"]
        assert ok("exec", fork, "--", "sh", "-c", "cat a.txt; ls") == "one\na.txt\nb.txt\n"
        run("--provider", "daytona", "rm", "--force", fork, timeout=60)
    finally:
        run("--provider", "daytona", "rm", "--force", name, timeout=60)


def test_transfers_are_cut_by_count_and_bytes() -> None:
    sizes = [10, 10, remote.BATCH_BYTES, 5, *([1] * (remote.FETCH_BATCH + 1))]
    runs = remote._chunks(sizes, lambda n: n)
    assert [len(r) for r in runs] == [2, 1, remote.FETCH_BATCH, 2]
    assert all(sum(r) <= remote.BATCH_BYTES or len(r) == 1 for r in runs)


def test_hash_requests_are_cut_by_the_bytes_of_their_paths_only() -> None:
    # far more paths than a download takes at once, yet one request while their JSON fits in HASH_BATCH
    short = [f"f{i}" for i in range(remote.FETCH_BATCH * 3)]
    assert len(remote._chunks(short, remote._path_size, count=None, limit=remote.HASH_BATCH)) == 1
    # a name that JSON escapes (\u00e9: six bytes for one character) counts as it travels
    wide = ["é" * 1000] * 10
    runs = remote._chunks(wide, remote._path_size, count=None, limit=remote.HASH_BATCH)
    assert [len(r) for r in runs] == [6, 4]


async def test_what_the_listing_does_not_hash_is_hashed_by_a_second_request(
    dservice: SandboxService, dbox: SandboxInfo
) -> None:
    """The listing hashes files changed since the base's newest ctime; anything else whose metadata differs (here:
    a base whose ctimes are all in the future, as after the sandbox's clock went back) is hashed all the same."""

    ck = dservice.checkpoints
    await sh(dservice, dbox, "echo a > a.txt && echo b > b.txt")
    first = await ck.create(dbox.id)
    await sh(dservice, dbox, "echo changed > a.txt")
    future = {e.path: e._replace(ctime_ns=e.ctime_ns + 10**15) for e in ck.store.manifest(first)}
    entries, hashed, _ = await remote.scan(ck, dbox.id, future)
    got = {e.path: e.ref for e in entries if e.kind == "file"}
    assert got == {"a.txt": hashlib.sha256(b"changed\n").hexdigest(), "b.txt": hashlib.sha256(b"b\n").hexdigest()}
    assert hashed == 2
