"""How the `sandbench` CLI reads its arguments (tui/cli.py builds the parser): `UsageError` (exit 2), a parser
that raises it instead of printing argparse's usage block, and `parse_argv`, which splits `exec`'s command off at
`--`. A wrong number of words (a required one missing, one too many, an option without its value) is said with
the verb's own usage line after it, as git and argparse do; a bad value is one line, since it names the value."""

from __future__ import annotations

import argparse
from typing import Any

from services.errors import InvalidInput


class UsageError(InvalidInput):
    exit_code = 2


# argparse's messages for a count of words that does not fit (as opposed to a value that does not parse)
_COUNT_ERRORS = ("the following arguments are required",)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        # argparse prints its usage first and the error after; ours is the error, then the usage of the parser that
        # failed (a verb's own: subparsers call their own `error`), one line each
        if message.startswith(_COUNT_ERRORS) or ": expected " in message:  # `--cpu` with no number
            raise UsageError(f"{message}\n{_usage(self)}")
        raise UsageError(message)


def parse_argv(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """`exec`'s command is everything after the first `--`, split off before argparse sees it: otherwise options
    of the command (or ours after the sandbox name) would be taken for each other."""
    if "exec" in argv and "--" in argv[argv.index("exec") :]:
        cut = argv.index("--", argv.index("exec"))
        args = _parse_verb(parser, argv[:cut])
        args.argv = list(args.argv) + argv[cut + 1 :]
    else:
        args = _parse_verb(parser, argv)
    if getattr(args, "verb", None) == "exec" and not args.argv:
        # a missing word as argparse's are, before the sandbox is looked up (`exec NAME` said "no sandbox" first)
        verb = _verb_parser(parser, "exec")
        raise UsageError("exec needs a command after --" + (f"\n{_usage(verb)}" if verb is not None else ""))
    return args


def _parse_verb(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """argparse's parse, but words left over are said with the verb's usage (argparse reports them from the top
    parser, which knows nothing of the verb: `unrecognized arguments: x` and no hint of what the verb takes)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        verb = _verb_parser(parser, getattr(args, "verb", None) or "")
        usage = f"\n{_usage(verb)}" if verb is not None else ""
        raise UsageError(f"unrecognized arguments: {' '.join(extra)}{usage}")
    return args


def _verb_parser(parser: argparse.ArgumentParser, verb: str) -> argparse.ArgumentParser | None:
    verbs = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})
    found = verbs.get(verb) if isinstance(verbs, dict) else None
    return found if isinstance(found, argparse.ArgumentParser) else None


def _usage(parser: argparse.ArgumentParser) -> str:
    """The usage as one line (argparse wraps a long one at the terminal's width; a line each is what the error
    path promises, and a pipe or a log has no width)."""
    return " ".join(parser.format_usage().split())
