"""`sandbench checkpoints NAME` draws the tree the way the app does (newest first, a child above its parent, a branch
left by a restore indented), with a header naming the `+files size` column and whole ids — the real CLI in its own
process over a real local sandbox."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.services.test_cli import run

pytestmark = pytest.mark.bwrap


def ok(*args: str) -> str:
    r = run(*args)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def js(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


def test_the_tree_reads_newest_first_with_a_header_and_whole_ids(sandbench_home: Path) -> None:
    ok("create", "tbox")
    ok("exec", "tbox", "--", "sh", "-c", "echo one > a.txt")
    base = js("checkpoint", "tbox", "-m", "base")
    ok("exec", "tbox", "--", "sh", "-c", "for i in $(seq 28); do echo $i > f$i.txt; done")
    many = js("checkpoint", "tbox", "-m", "many")
    ok("restore", "tbox", base["id"])  # takes a before-restore checkpoint: the workspace is back at base
    ok("exec", "tbox", "--", "sh", "-c", "echo other > o.txt")
    branch = js("checkpoint", "tbox", "-m", "branch")
    text = ok("checkpoints", "tbox").splitlines()
    assert "+files size" in text[0] and "newest first" in text[0]
    lines = text[1:]
    ids = [m.group(0) for line in lines if (m := re.search(r"\b[0-9a-f]{12}\b", line))]
    assert len(ids) == len(js("checkpoints", "tbox")["checkpoints"]) == 4
    assert ids[0] == branch["id"]  # the newest on top
    assert ids.index(many["id"]) < ids.index(base["id"]) and ids.index(branch["id"]) < ids.index(base["id"])
    many_line = next(line for line in lines if many["id"] in line)
    assert many_line.lstrip().startswith("+28 "), many_line  # what it added, first, whole
    # one of base's two children continues the line, the other is indented: a branch
    tree = {i: line[15:] for i, line in zip(ids, lines, strict=True)}  # after the 13-cell "+files size" column
    indents = {i: len(part) - len(part.lstrip()) for i, part in tree.items()}
    assert indents[many["id"]] != indents[branch["id"]]
