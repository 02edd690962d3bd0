"""Run the current file: which program runs it, where, and how its argv reaches the sandbox safely (issue 11 §4).

`plan(path, first_line, makefile_dir)` answers by language — python (`python3 FILE`), node, bash/sh — and `make`
for a Makefile (or a file of no known language when a Makefile sits in its folder or the workspace root);
anything else is a `CannotRun` with a message that says why and what would work.

The argv never becomes a shell string. The run happens in a terminal tab (a PTY with a shell, which is what every
provider offers): the argv goes into the shell's *environment* (`SANDBENCH_RUN_0..n`, set through the provider's
env, never typed), and the only text typed into the shell is the constant `exec "$SANDBENCH_RUN_0" ...` built
from indices (`typed_line`). A file named `$(rm -rf x).py` is one argv element and runs as itself; the path is
always passed as `./PATH` (relative to the workspace root, the run's folder), so `-x.py` is never an option.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from services.errors import InvalidInput

ENV_PREFIX = "SANDBENCH_RUN_"
MAKEFILES = ("GNUmakefile", "makefile", "Makefile")
BY_SUFFIX: dict[str, str] = {
    ".py": "python3",
    ".pyw": "python3",
    ".js": "node",
    ".mjs": "node",
    ".cjs": "node",
    ".sh": "sh",
    ".bash": "bash",
}
BY_SHEBANG = ("python3", "python", "node", "bash", "sh")


class CannotRun(InvalidInput):
    """The file is not something the run key knows how to run (the message says why)."""


@dataclass(frozen=True)
class RunPlan:
    argv: tuple[str, ...]
    cwd: str  # workspace-relative folder the program runs in ("" is the workspace root)
    label: str  # the terminal tab's label: "▶ main.py"

    def env(self) -> dict[str, str]:
        return {f"{ENV_PREFIX}{i}": arg for i, arg in enumerate(self.argv)}

    def typed_line(self) -> bytes:
        """What is typed into the tab's shell: constant text (indices only; no data). The leading space keeps it
        out of bash's history (HISTCONTROL=ignorespace, the common default); `exec` makes the program the tab's
        process, so its exit code is the tab's."""
        words = " ".join(f'"${ENV_PREFIX}{i}"' for i in range(len(self.argv)))
        return f" exec {words}\r".encode()


def _interpreter(path: str, first_line: str) -> str | None:
    by_suffix = BY_SUFFIX.get(PurePosixPath(path).suffix.lower())
    if by_suffix == "sh" and "bash" in first_line:
        return "bash"
    if by_suffix:
        return by_suffix
    if first_line.startswith("#!"):
        words = first_line[2:].split()
        # `#!/usr/bin/env python3` or `#!/bin/bash`: the program named, if it is one we know
        name = words[1] if words and words[0].endswith("/env") and len(words) > 1 else (words[0] if words else "")
        base = PurePosixPath(name).name
        if base in BY_SHEBANG:
            return "python3" if base == "python" else base
    return None


def plan(path: str, first_line: str = "", makefile_dir: str | None = None) -> RunPlan:
    """How to run the workspace-relative `path`. `makefile_dir`: the folder of the nearest Makefile (the file's own
    folder, else the workspace root ""), None when there is none. Raises `CannotRun`."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise CannotRun("this file's name has control characters; rename it to run it")
    name = PurePosixPath(path).name
    label = f"▶ {name}"
    if name in MAKEFILES or name.endswith(".mk"):
        folder = str(PurePosixPath(path).parent)
        return RunPlan(("make", "-f", name), "" if folder == "." else folder, label)
    program = _interpreter(path, first_line)
    if program is not None:
        return RunPlan((program, f"./{path}"), "", label)
    if makefile_dir is not None:
        return RunPlan(("make",), makefile_dir, f"▶ make ({name})")
    raise CannotRun(
        f"no runner for {name}: F5 runs Python, JavaScript (node) and shell files, "
        "a Makefile, or `make` when a Makefile is in the file's folder or the workspace root"
    )
