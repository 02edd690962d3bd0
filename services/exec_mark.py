"""How the app's own commands on a Daytona sandbox are told apart from an agent's in `sandbench serve`'s audit log.

The app's Daytona provider (services/daytona/provider.py) runs everything it needs — git status, a search, disk
usage, a checkpoint's manifest script, the user's own commands — through the SDK's `process.exec`, a shell command
string. The app keeps its own audit entry of each (its probes marked internal, the user's commands as typed), so the
server's entry of the same command is a second record of it: on a machine where the app and the server share a data
dir it would bury an agent's commands under the app's plumbing (dozens of `sh -c 'git --no-pager -c …'` rows).

So the provider names itself in one environment variable of each exec (`APP_ENV`), and the server records such a
command as internal (hidden unless the Timeline's `i` asks for it) and as the argv the app ran (`shown_argv`: the
command split back, without the stdin wrapper), so shown it reads `git status`, not `sh -c 'git --no-pager …'`.

For display only: anyone can set a variable. The server drops it before the command runs, honours it only from an
owner's own token (an acting token — an agent under its own name — is always shown), and nothing else (ownership,
limits, automatic checkpoints) depends on it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

APP_ENV = "SANDBENCH_APP_EXEC"  # "1": the sandbench app's own exec (its Daytona provider sets it on each one)
STDIN_ENV = "SANDBENCH_STDIN_B64"
# the SDK's exec has no stdin: the bytes ride in STDIN_ENV and this fixed script feeds them to the program
STDIN_SCRIPT = f'printf %s "${STDIN_ENV}" | base64 -d | "$@"'


def with_stdin(argv: Sequence[str]) -> list[str]:
    """`argv` behind the fixed wrapper that decodes STDIN_ENV into its stdin (the data never becomes shell text)."""
    return ["sh", "-c", STDIN_SCRIPT, "sh", *argv]


def app_argv(command: str) -> list[str] | None:
    """The argv the app's provider joined (`shlex.join`) into `command`, without the stdin wrapper; None when the
    command is not one it could have sent (it does not split, or is empty)."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    if argv[:4] == ["sh", "-c", STDIN_SCRIPT, "sh"]:
        argv = argv[4:]
    return argv or None
