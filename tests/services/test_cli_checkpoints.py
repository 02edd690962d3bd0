"""`sandbench checkpoint / checkpoints / changes / restore / fork` as a user runs them (the real CLI over real local
sandboxes): the text, the stable --json of docs/cli.md, exit codes, and sandbox-made names kept inert. The steps
that must succeed go through the CLI's `main()` in this process (`run_here`); every refusal (its exit code, its
one stderr line) is a real `sandbench` process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.services.test_cli import run, run_here

pytestmark = pytest.mark.bwrap


def ok(*args: str) -> str:
    r = run_here(*args)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def js(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


def test_checkpoint_changes_restore_and_the_tree(sandbench_home: Path) -> None:
    ok("create", "cbox")
    ok("exec", "cbox", "--", "sh", "-c", "echo one > a.txt && echo keep > b.txt && printf '\\000x' > bin.dat")
    first = js("checkpoint", "cbox", "-m", "before the agent")
    assert set(first) == {
        "id", "parent", "parent_sandbox", "time", "message", "who", "kind", "name", "files", "bytes",
        "files_added", "bytes_added", "files_hashed", "bytes_hashed",
    }  # fmt: skip
    assert (first["message"], first["kind"], first["files"], first["parent"]) == ("before the agent", "manual", 3, None)
    assert first["name"] is None  # only a named snapshot has a name
    assert first["who"] == js("ls")[0]["owner"]  # the configured identity

    ok("exec", "cbox", "--", "sh", "-c", "echo two >> a.txt && rm b.txt && printf '\\000y' > bin.dat && echo n > n.txt")
    changes = js("changes", "cbox")
    assert changes["since"]["id"] == first["id"]
    assert [(c["path"], c["status"], c["old_size"], c["new_size"]) for c in changes["changes"]] == [
        ("a.txt", "modified", 4, 8),
        ("b.txt", "deleted", 5, None),
        ("bin.dat", "modified", 2, 2),
        ("n.txt", "added", None, 2),
    ]
    text = ok("changes", "cbox", "--diff")
    assert "M  a.txt  4B -> 8B" in text and "D  b.txt  5B" in text and "A  n.txt  2B" in text
    assert "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1,2 @@\n one\n+two\n" in text
    assert "Binary files a/bin.dat and b/bin.dat differ" in text
    diffs = js("changes", "cbox", "--diff")["diffs"]
    assert {d["path"] for d in diffs} == {"a.txt", "b.txt", "bin.dat", "n.txt"}

    said = ok("restore", "cbox", first["id"][:6], "a.txt")  # a prefix of the id is enough
    assert "restored a.txt of cbox" in said and "undoes this" in said and "running processes were not stopped" in said
    assert ok("exec", "cbox", "--", "cat", "a.txt") == "one\n"
    assert ok("exec", "cbox", "--", "ls") == "a.txt\nbin.dat\nn.txt\n"  # b.txt stays deleted: not asked for

    whole = js("restore", "cbox", first["id"])
    assert whole["restored"]["id"] == first["id"] and whole["before"]["kind"] == "before-restore"
    assert ok("exec", "cbox", "--", "ls") == "a.txt\nb.txt\nbin.dat\n"
    assert js("changes", "cbox")["changes"] == []  # the workspace is at the restored checkpoint

    tree = js("checkpoints", "cbox")
    ids = [c["id"] for c in tree["checkpoints"]]
    assert tree["head"] == first["id"] and ids[0] == first["id"] and len(ids) == 3
    assert all(c["parent"] in ids for c in tree["checkpoints"][1:])
    listing = ok("checkpoints", "cbox")
    assert "before the agent  (HEAD)" in listing and f"before restoring {first['id']}" in listing

    undo = js("restore", "cbox", whole["before"]["id"])  # the undo of the whole restore
    assert undo["written"] >= 2
    assert ok("exec", "cbox", "--", "cat", "n.txt") == "n\n"


def test_errors_are_one_line_and_names_stay_inert(sandbench_home: Path) -> None:
    ok("create", "ebox")
    none = run("changes", "ebox")
    assert none.returncode == 3 and b"no checkpoint yet" in none.stderr and b"Traceback" not in none.stderr
    ok("exec", "ebox", "--", "sh", "-c", "printf x > \"$(printf 'red\\033[31m')\" && mkfifo pipe")
    refused = run("checkpoint", "ebox")
    assert refused.returncode == 2 and refused.stderr.count(b"\n") == 1 and b"'pipe' is a FIFO" in refused.stderr
    ok("exec", "ebox", "--", "rm", "pipe")
    ok("checkpoint", "ebox")
    ok("exec", "ebox", "--", "sh", "-c", "printf y > \"$(printf 'red\\033[31m')\"")
    text = ok("changes", "ebox", "--diff")
    assert "\x1b" not in text and "red\\x1b[31m" in text
    missing = run("restore", "ebox", "abcdef123456")
    assert missing.returncode == 3 and missing.stderr.count(b"\n") == 1
    bad = run("restore", "ebox", "latest", "../../etc/passwd")
    assert bad.returncode == 2 and b"escapes" in bad.stderr


def test_fork_at_a_checkpoint(sandbench_home: Path) -> None:
    ok("create", "src")
    ok("exec", "src", "--", "sh", "-c", "echo v1 > app.txt")
    at = js("checkpoint", "src")["id"]
    ok("exec", "src", "--", "sh", "-c", "echo v2 > app.txt")
    forked = js("fork", "src", "dst", "--at", at)
    assert forked["sandbox"] == "dst" and forked["checkpoint"]["parent"] == at
    assert ok("exec", "dst", "--", "cat", "app.txt") == "v1\n"
    assert ok("exec", "src", "--", "cat", "app.txt") == "v2\n"
    assert f"(forked from src at {at})" in ok("checkpoints", "dst")
    assert run("fork", "src", "dst").returncode != 0  # the name is taken


def test_auto_checkpoint_switch_and_delete_from_the_cli(sandbench_home: Path) -> None:
    ok("create", "abox")
    assert js("config", "abox") == {"sandbox": "abox", "auto-checkpoint": {"on": False, "from": "config"}}
    assert "auto-checkpoint: on (set on this sandbox)" in ok("config", "abox", "auto-checkpoint", "on")
    ok("exec", "abox", "--", "sh", "-c", "echo one > a.txt")
    ok("exec", "abox", "--", "sh", "-c", "echo two > a.txt && echo b > b.txt")
    tree = js("checkpoints", "abox")
    autos = [c for c in tree["checkpoints"] if c["kind"] == "auto"]
    assert [c["message"] for c in autos] == ["before: echo one > a.txt", "after: echo one > a.txt",
                                             "after: echo two > a.txt && echo b > b.txt"]  # fmt: skip
    entries = [json.loads(x) for x in (sandbench_home / "audit.jsonl").read_text().splitlines()]
    last = [e for e in entries if e["op"] == "exec"][-1]
    assert (last["before"], last["after"]) == (autos[1]["id"], autos[2]["id"])

    gone = js("checkpoints", "abox", "--delete", autos[1]["id"])
    assert gone["deleted"] == [autos[1]["id"]] and gone["rebased"] == [autos[2]["id"]]
    after = {c["id"]: c for c in js("checkpoints", "abox")["checkpoints"]}
    assert after[autos[2]["id"]]["parent"] == autos[0]["id"]
    refused = run("checkpoints", "abox", "--delete", tree["head"])
    assert refused.returncode != 0 and b"HEAD" in refused.stderr and b"Traceback" not in refused.stderr
    assert ok("config", "abox", "auto-checkpoint", "default").strip() == "auto-checkpoint: off (the config's default)"
    bad = run("config", "abox", "auto-checkpoint", "maybe")
    assert bad.returncode == 2 and b"Traceback" not in bad.stderr
