"""End to end (issue 13 must-show): an agent drives a sandbox through the unmodified `daytona` SDK against a real
`sandbench serve` on 127.0.0.1 — writes and deletes files, runs commands — while the real app, in tmux on the same
data dir, shows each operation live in the Timeline. The user then restores the state before one command, with
keys sent through tmux, and `sandbench changes NAME --json` (another process) agrees: nothing differs from the
checkpoint before that command, and the command's effects are gone.

The agent is its own process (a script on the SDK, one step per line the test sends it), so the Timeline follows
appends of another process; the app runs as the same identity the server's main token maps to (the sandbox is the
user's). Every wait is on a condition: the screen (capture-pane) or the agent's "done" line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.services.serve_helpers import REPO, make_home, serve_env, start_serve, stop_serve
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(240)]

NAME = "agent-work"

AGENT = r"""
import asyncio, sys
from daytona import AsyncDaytona, DaytonaConfig, CreateSandboxFromSnapshotParams

async def main(url, key, name):
    async with AsyncDaytona(DaytonaConfig(api_key=key, api_url=url, target="local")) as d:
        sb = None
        for line in sys.stdin:
            step = line.strip()
            if step == "setup":
                sb = await d.create(CreateSandboxFromSnapshotParams(name=name), timeout=60)
                await sb.fs.upload_file(b"v1\n", "app.py")
                await sb.fs.upload_file(b"keep me\n", "notes.txt")
            elif step == "command":
                cmd = "echo v2 > app.py && rm notes.txt && echo built > out.txt && echo compiled ok"
                r = await sb.process.exec(cmd)
                assert r.exit_code == 0, r.result
            elif step == "files":
                await sb.fs.upload_file(b"later\n", "later.txt")
                await sb.fs.delete_file("out.txt")
            elif step == "second":
                r = await sb.process.exec("echo second > second.txt")
                assert r.exit_code == 0, r.result
            print("done", step, flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


class Agent:
    def __init__(self, url: str, key: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "SANDBENCH_"))}
        env["NO_PROXY"] = "127.0.0.1,localhost"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", AGENT, url, key, NAME],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def step(self, step: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(step + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()  # the agent answers each step (or dies, and this reads "")
        assert line.strip() == f"done {step}", f"the agent failed at {step!r}: {line!r}"

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def world() -> Iterator[tuple[Path, str, str]]:
    """A private home (0711) shared by the server and the app; the server started on it."""
    require("tmux")
    home = make_home()
    config = home.parent / "config.toml"  # the server's and the app's: every exec bracketed by checkpoints
    config.write_text(config.read_text() + "auto_checkpoint = true\n")
    proc, port = start_serve(home)
    try:
        yield home, f"http://127.0.0.1:{port}/api", (home / "serve-token").read_text().strip()
    finally:
        stop_serve(proc)
        env = serve_env(home)
        subprocess.run([str(SANDBENCH), "rm", "--force", NAME], env=env, capture_output=True, timeout=60)
        shutil.rmtree(home.parent, ignore_errors=True)


def cli(home: Path, *args: str) -> str:
    out = subprocess.run(
        [str(SANDBENCH), *args], env=serve_env(home), capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def rows(screen: str) -> list[str]:
    """The Timeline's rows on screen (lines that start with a time)."""
    return [line for line in screen.splitlines() if re.match(r"\d\d:\d\d:\d\d ", line)]


def test_agent_work_shows_live_and_restoring_before_a_command_undoes_it(world: tuple[Path, str, str]) -> None:
    home, url, token = world
    agent = Agent(url, token)
    t = Tmux(f"sandbench-tl-{os.getpid()}", "app")
    try:
        agent.step("setup")
        env_args = [f"SANDBENCH_HOME={home}", f"SANDBENCH_CONFIG={home.parent / 'config.toml'}", "TERM=xterm-256color"]
        command = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, str(SANDBENCH)]
        t.run("-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", "120", "-y", "40", *command)
        t.wait_for(NAME)
        t.keys("t")
        t.wait_for(f"Timeline · {NAME}", "write notes.txt", "write app.py")

        # the agent's work appears live, newest first, each command as the agent wrote it
        agent.step("command")
        t.wait_for("sh -c 'echo v2 > app.py && rm notes.txt && echo built > out.txt")
        agent.step("files")
        t.wait_for("write later.txt", "delete out.txt")
        agent.step("second")
        screen = t.wait_for("sh -c 'echo second > second.txt'")
        assert "second.txt" in rows(screen)[0]
        assert [r.split()[3] for r in rows(screen)[:4]] == ["sh", "delete", "write", "sh"]

        # the first command: filter to it, see what it did, restore the state before it
        t.keys("/")
        t.wait_for("enter: to the list")
        t.type("kind:exec out.txt")
        t.keys("Enter")
        screen = t.wait_until(lambda s: "enter: to the list" not in s and len(rows(s)) == 1, "the command alone")
        t.keys("Enter")
        details = t.wait_for("compiled ok", "files it changed: 3", "exit code 0", "app.py", "notes.txt", "out.txt")
        before = re.search(r"checkpoints: before ([0-9a-f]+) → after ([0-9a-f]+)", details)
        assert before is not None, details
        t.keys("r")
        dialog = t.wait_for("Restore?", "notes.txt (put back)", "app.py (restored)", f"checkpoint {before.group(1)}")
        assert "can be undone" in dialog
        t.keys("y")
        # the status line keeps the undo checkpoint (the notification over it goes after a few seconds)
        status = t.wait_until(lambda s: re.search(r"undo: u \(checkpoint [0-9a-f]+\)", s) is not None, "the undo id")
        target = re.search(r"restored to ([0-9a-f]+)", status)
        undo = re.search(r"undo: u \(checkpoint ([0-9a-f]+)\)", status)
        assert target is not None and undo is not None, status
        assert target.group(1) == before.group(1)

        # the CLI, in another process, agrees: nothing differs from the state before the command ...
        now = json.loads(cli(home, "changes", NAME, "--since", target.group(1), "--json"))
        assert now["changes"] == []
        assert cli(home, "cp", f"{NAME}:notes.txt", "-") == "keep me\n"
        assert cli(home, "cp", f"{NAME}:app.py", "-") == "v1\n"
        # ... and the undo checkpoint holds what the agent did since, so the restore can be undone
        since_undo = json.loads(cli(home, "changes", NAME, "--since", undo.group(1), "--json"))
        assert {c["path"]: c["status"] for c in since_undo["changes"]} == {
            "app.py": "modified",
            "notes.txt": "added",
            "later.txt": "deleted",
            "second.txt": "deleted",
        }
        # the restore shows up in the Timeline too, live (clear the filter to see it)
        t.keys("/")
        t.wait_for("enter: to the list")
        t.keys("C-u")
        t.keys("Enter")
        t.wait_until(lambda s: any(" restore " in r for r in rows(s)), "the restore in the Timeline")
    finally:
        t.run("kill-server", check=False)
        agent.close()
