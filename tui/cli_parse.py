"""How the `sandbench` CLI reads its arguments (tui/cli.py builds the parser): `UsageError` (exit 2), a parser
that raises it instead of printing argparse's usage block, and `parse_argv`, which splits `exec`'s command off at
`--` and says words left over with the verb's own usage line (argparse reports them from the top parser, which
knows nothing of the verb)."""

from __future__ import annotations

import argparse
from typing import Any

from services.errors import InvalidInput


class UsageError(InvalidInput):
    exit_code = 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse prints usage and exits 2; keep that, one line
        raise UsageError(message)


def parse_argv(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """`exec`'s command is everything after the first `--`, split off before argparse sees it: otherwise options
    of the command (or ours after the sandbox name) would be taken for each other."""
    if "exec" in argv and "--" in argv[argv.index("exec") :]:
        cut = argv.index("--", argv.index("exec"))
        args = _parse_verb(parser, argv[:cut])
        args.argv = list(args.argv) + argv[cut + 1 :]
        return args
    return _parse_verb(parser, argv)


def _parse_verb(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """argparse's parse, but words left over are said with the verb's usage (argparse reports them from the top
    parser, which knows nothing of the verb: `unrecognized arguments: x` and no hint of what the verb takes)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        verbs = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})
        verb = verbs.get(getattr(args, "verb", None) or "") if isinstance(verbs, dict) else None
        usage = f"\n{verb.format_usage().strip()}" if isinstance(verb, argparse.ArgumentParser) else ""
        raise UsageError(f"unrecognized arguments: {' '.join(extra)}{usage}")
    return args
