"""A verb given too few or too many words says what is wrong and then that verb's usage line (as git and argparse
do), exits 2 and prints no traceback: `sandbench cp a` said only "the following arguments are required: dst",
with no hint of what `cp` takes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.services.test_cli import run, run_here
from tui.cli import build_parser


def _verbs() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _usage(verb: str) -> str:
    return " ".join(_verbs()[verb].format_usage().split())


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("exec",), "the following arguments are required: name"),
        (("exec", "box"), "exec needs a command after --"),  # said "no sandbox 'box'" first, then nothing of usage
        (("cp", "a"), "the following arguments are required: dst"),
        (("rm",), "the following arguments are required: name"),
        (("rm", "a", "b"), "unrecognized arguments: b"),
        (("create", "x", "--cpu"), "argument --cpu: expected one argument"),
    ],
)
def test_a_missing_or_extra_word_comes_with_the_verbs_usage(
    sandbench_home: Path, args: tuple[str, ...], error: str
) -> None:
    r = run(*args)  # as a process: what a user sees on the terminal
    assert r.returncode == 2, r.stderr
    assert r.stderr.decode().splitlines() == [f"sandbench: {error}", _usage(args[0])]
    assert r.stdout == b""


def test_exec_usage_says_the_command_goes_after_the_dashes() -> None:
    assert _usage("exec").endswith(" name -- COMMAND [ARG ...]")  # argparse's own: `name [argv ...]`


def test_every_verb_with_a_required_word_names_it_with_its_usage(sandbench_home: Path) -> None:
    """Walks every verb, so a new one gets the same: run bare, each one that needs a word says which, then its usage
    on the line after, and nothing else."""
    needing = [
        verb
        for verb, parser in _verbs().items()
        if any(not a.option_strings and a.required for a in parser._actions) and verb != "serve"
    ]
    assert {"exec", "cp", "rm", "restore", "kill", "forward", "open"} <= set(needing)
    for verb in needing:
        r = run_here(verb)
        lines = r.stderr.decode().splitlines()
        assert r.returncode == 2, (verb, r.stderr)
        assert len(lines) == 2 and lines[0].startswith("sandbench: the following arguments are required: "), lines
        assert lines[1] == _usage(verb) and lines[1].startswith(f"usage: sandbench {verb} "), lines


def test_a_bad_value_stays_one_line(sandbench_home: Path) -> None:
    """A value that does not parse names itself: no usage after it (the count errors alone get one)."""
    r = run_here("create", "x", "--cpu", "zero")
    assert r.returncode == 2 and r.stderr.decode().strip() == "sandbench: argument --cpu: invalid int value: 'zero'"


def test_restore_without_paths_does_not_call_them_required(sandbench_home: Path) -> None:
    """`PATH ...` is optional: argparse listed it among the missing words of a bare `restore`."""
    r = run_here("restore")
    assert r.stderr.decode().splitlines()[0] == "sandbench: the following arguments are required: name, checkpoint"
