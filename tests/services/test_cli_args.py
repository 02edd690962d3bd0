"""The command line's arguments as a new user meets them: a bad number is one line on stderr and exit 2 (never a
traceback), every option of every verb says what it does in --help, and stdout holds only what was asked for."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from services.server.cli import _parser as serve_parser
from tui.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--port", "99999"), "'99999' is not a port: use 0-65535"),  # bind raised OverflowError: a traceback
        (("--port", "-1"), "'-1' is not a port"),
        (("--port", "http"), "'http' is not a port number"),
        (("--pty-idle-timeout", "nan"), "'nan' is not a finite number"),  # nan <= 0 is false: it was accepted
        (("--reaper-interval", "inf"), "'inf' is not a finite number"),
        (("--volume-max", "0"), "'0' must be greater than 0"),
    ],
)
def test_serve_refuses_a_bad_number_in_one_line(sandbench_home: Path, args: tuple[str, ...], words: str) -> None:
    r = run("serve", *args)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stdout == ""


def _verbs() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {**sub.choices, "serve": serve_parser()}  # `serve` has its own parser behind the verb


def test_every_option_of_every_verb_says_what_it_does() -> None:
    missing = [
        f"{verb} {action.option_strings[-1]}"
        for verb, parser in _verbs().items()
        for action in parser._actions
        if action.option_strings and not (action.help and action.help.strip())
    ]
    assert len(_verbs()) > 20  # every verb walked, the checkpoint, process and metrics ones too
    assert not missing, f"no help text: {missing}"


def test_ls_help_describes_json(sandbench_home: Path) -> None:
    r = run("ls", "--help")
    assert r.returncode == 0, r.stderr
    line = next(line for line in r.stdout.splitlines() if line.strip().startswith("--json"))
    assert "JSON" in line.removeprefix("  --json"), r.stdout  # it showed `--json` alone


@pytest.mark.bwrap
def test_ls_prints_the_table_alone_on_stdout(sandbench_home: Path) -> None:
    made = run("create", "piped")
    assert made.returncode == 0, made.stderr
    try:
        r = run("ls")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].split()[:2] == ["NAME", "STATE"] and [line.split()[0] for line in lines[1:]] == ["piped"]
        assert str(sandbench_home) not in r.stdout and "bwrap" not in r.stdout  # no host path, no note
        verbose = run("ls", "-v")
        assert verbose.stdout == r.stdout and "local isolation by bwrap" in verbose.stderr
    finally:
        run("rm", "--force", "piped")


def test_open_a_missing_sandbox_says_so_before_the_app_starts(sandbench_home: Path) -> None:
    r = run("open", "nosuch", timeout=30)  # the app started and showed a "Not found" toast instead
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip() == "sandbench: no sandbox 'nosuch'" and r.stdout == ""


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--memory", "99999", "--memory: 99999 GiB of memory is more than this machine has"),
        ("--cpu", "100000", "--cpu: 100000 CPUs is more than this machine has"),
        ("--disk", "99999999", "--disk: 99999999 GiB of disk is more than the data folder's filesystem holds"),
    ],
)
def test_create_refuses_more_than_the_host_has(sandbench_home: Path, flag: str, value: str, words: str) -> None:
    r = run("create", "huge", flag, value)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "huge" not in run("ls").stdout  # nothing made
