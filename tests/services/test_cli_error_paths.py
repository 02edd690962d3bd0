"""The CLI's error paths as a user meets them: words left over are said with the verb's usage, the positionals
say what they are in --help, a bad create flag is named with its value, a pid that is not the sandbox's is not
found (exit 3), a name already taken exits as `create`'s does, and `changes --help` says what it compares with."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services.test_cli import REPO, run, run_here

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]


def test_left_over_words_come_with_the_verbs_usage() -> None:
    r = run("fork", "loc1", "82a6", "loc1-fork")  # as a process: argparse's own exit path
    assert r.returncode == 2
    assert r.stderr.decode().splitlines() == [
        "sandbench: unrecognized arguments: loc1-fork",
        "usage: sandbench fork [-h] [--at CKPT] [--json] name new",
    ]


def test_positionals_and_changes_say_what_they_are() -> None:
    restore = run_here("restore", "--help").stdout.decode()
    assert "checkpoint  the checkpoint: its id or a unique prefix" in restore
    assert "PATH        only these files or folders" in restore
    fork = run_here("fork", "--help").stdout.decode()
    assert "new         the new sandbox's name" in fork
    changes = " ".join(run_here("changes", "--help").stdout.decode().split())
    assert "default: the latest" not in changes
    assert "the one the files are at — the latest taken, or the one last restored in full" in changes


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--cpu", "0", "--cpu 0: it must be 1 or more"),
        ("--memory", "-1.5", "--memory -1.5: it must be more than 0 (GiB)"),
        ("--disk", "0", "--disk 0: it must be more than 0 (GiB)"),
        ("--auto-stop", "-1", "--auto-stop -1: it must be 0 (never) or more minutes"),
    ],
)
def test_a_bad_create_flag_is_named_with_its_value(sandbench_home: Path, flag: str, value: str, said: str) -> None:
    r = run_here("create", "x", flag, value)
    assert r.returncode == 2 and r.stderr.decode().strip() == f"sandbench: {said}", r.stderr


def test_kill_of_a_missing_pid_is_not_found_and_a_taken_name_exits_as_create(sandbench_home: Path) -> None:
    assert run_here("create", "loc1").returncode == 0
    assert run_here("create", "loc2").returncode == 0
    r = run_here("kill", "loc1", "999999")
    assert r.returncode == 3, r.stderr
    assert r.stderr.decode().startswith("sandbench: no process 999999 in 'loc1'"), r.stderr
    taken = run_here("create", "loc2")
    fork = run_here("fork", "loc1", "loc2")
    assert fork.returncode == taken.returncode == 1
    assert b"a sandbox named 'loc2' already exists" in fork.stderr
    docs = (REPO / "docs" / "cli.md").read_text()
    assert "a name already taken (`create`, `fork`" in docs
