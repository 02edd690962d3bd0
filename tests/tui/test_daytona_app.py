"""The whole app on `--provider daytona` pointed at `sandbench serve` (issue 6, must-show 2).

`sandbench serve` runs as a real process (its own home, so the list holds only what these tests made); the app
talks to it through `DaytonaProvider` → the unmodified `daytona` SDK → HTTP and WebSocket on 127.0.0.1. Two ways:

- in-process with Pilot: list → open → explorer lists files → open a file, edit, ctrl+s (checked through the
  service) → run a command in the terminal and see its output → the git panel shows the change;
- the real `sandbench --provider daytona` console script in tmux, configured only by `DAYTONA_API_URL` and
  `DAYTONA_API_KEY` as printed by `sandbench serve --print-env`: list → open → the terminal echoes a command.

Serve's sandboxes run their processes under bubblewrap, so everything that execs is marked `bwrap`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.config import Config, DaytonaConfig
from services.daytona import DaytonaProvider
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import require, shown, wait_until
from tests.services.serve_helpers import IDENTITY, REPO, Serve, running_serve, unique
from tests.tui.conftest import fixed_clock, notifications, workspace_up
from tests.tui.test_e2e_tmux import SANDBENCH, Tmux
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.workspace import WorkspaceScreen

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]

GIT_INIT = "git init -q -b main && git config user.name Ada && git config user.email ada@example.com"


@pytest.fixture(scope="module")
def serve() -> Iterator[Serve]:
    with running_serve(other_owner=False) as srv:
        yield srv


def app_config(srv: Serve, data_dir: Path) -> Config:
    return Config(
        provider="daytona",
        identity=IDENTITY,
        data_dir=data_dir,
        daytona=DaytonaConfig(api_key=srv.token, api_url=srv.api_url, target="local"),
    )


@pytest.fixture
async def dservice(serve: Serve, sandbench_home: Path) -> AsyncIterator[SandboxService]:
    """The app's service on DaytonaProvider → SDK → serve. Sandboxes it made are deleted afterwards."""
    sandbench_home.mkdir(parents=True, exist_ok=True)
    cfg = app_config(serve, sandbench_home)
    svc = SandboxService(DaytonaProvider(cfg), cfg)
    yield svc
    cleanup = SandboxService(DaytonaProvider(cfg), cfg)  # the app closed `svc` on its way out
    try:
        for info in await cleanup.list_sandboxes():
            await cleanup.delete(info.id)
    finally:
        await cleanup.close()


async def _repo_box(svc: SandboxService, name: str) -> SandboxInfo:
    """A sandbox holding a committed git repository with `src/app.py` and `README.md`."""
    info = await svc.create(SandboxSpec(name=name))
    await svc.write_file(info.id, "README.md", b"# demo\n")
    await svc.mkdir(info.id, "src")
    await svc.write_file(info.id, "src/app.py", b"print('hello')\n")
    r = await svc.exec(info.id, ["sh", "-c", f"{GIT_INIT} && git add -A && git commit -q -m init"])
    assert r.exit_code == 0, r.stdout + r.stderr
    return info


async def test_app_over_daytona_list_explorer_editor_terminal_git(dservice: SandboxService) -> None:
    from widgets.editor import EditorTabs
    from widgets.explorer import Explorer
    from widgets.git.panel import GitPanel
    from widgets.terminal import TerminalPane

    box = await _repo_box(dservice, unique("app"))
    app = SandbenchApp(service=dservice, config=dservice.config, clock=fixed_clock)
    async with app.run_test(size=(160, 48)) as pilot:
        # the list: the sandbox made through the service, by name, as the Daytona provider reports it
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded, timeout=20)
        listing = app.screen
        assert isinstance(listing, SandboxListScreen)
        assert listing.table.visible_names == [box.name]
        row = dict(zip(listing.table.column_keys, [cell.plain for cell in listing.table.get_row(box.id)], strict=True))
        assert row["name"] == box.name and "started" in row["state"] and row["provider"] == "daytona"

        # open it
        await pilot.press("enter")
        await wait_until(pilot, lambda: workspace_up(app), timeout=20)
        ws = app.screen
        assert isinstance(ws, WorkspaceScreen) and ws.info.id == box.id

        # the explorer lists the sandbox's files (folders first)
        explorer = ws.query_one("#explorer", Explorer)
        await wait_until(pilot, lambda: {"src", "README.md"} <= {r.entry.path for r in explorer.rows}, timeout=20)

        # open a file from the explorer in the editor
        await pilot.press("alt+1")
        await wait_until(pilot, lambda: ws.focused_pane == "explorer")
        index = [r.entry.path for r in explorer.rows].index("README.md")
        explorer.move_cursor(index)
        await pilot.press("enter")
        editor = ws.query_one("#editor", EditorTabs)
        await wait_until(
            pilot, lambda: editor.active_path == "README.md" and editor.active_editor is not None, timeout=20
        )
        code = editor.active_editor
        assert code is not None and code.text == "# demo\n"

        # edit and save with ctrl+s; the sandbox has the new text
        await wait_until(pilot, lambda: ws.focused_pane == "editor")
        code.move_cursor(code.document.end)
        await pilot.press(*"more", "enter")
        await wait_until(pilot, lambda: editor.has_unsaved() == ["README.md"])
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: editor.has_unsaved() == [], timeout=20)
        saved = await dservice.read_file(box.id, "README.md")
        assert saved.data == b"# demo\nmore\n"

        # the git panel shows the change; it is told to re-read the status, as the screen does on file changes
        git = ws.query_one("#git", GitPanel)
        git.request_refresh()
        await wait_until(pilot, lambda: git.status is not None and bool(git.status.unstaged), timeout=20)
        assert git.status is not None and git.status.branch == "main"
        assert [f.path for f in git.status.unstaged] == ["README.md"]
        listed = [row.entry.path for row in git.files.rows if row.entry is not None]
        assert listed == ["README.md"]

        # run a command in the terminal pane and see its output
        terminal = ws.query_one("#terminal", TerminalPane)
        await wait_until(pilot, lambda: terminal.active_view is not None and terminal.active_view.session, timeout=20)
        view = terminal.active_view
        assert view is not None
        await pilot.press("alt+3")
        await wait_until(pilot, lambda: ws.focused_pane == "terminal")
        if app.focused is not view:
            # alt+3 can land on the terminal pane's tab bar (the first focusable widget in the frame) instead of
            # the terminal itself; enter there gives the keyboard back to the terminal, as a user would press
            await pilot.press("enter")
        await wait_until(pilot, lambda: app.focused is view)
        await wait_until(pilot, lambda: "$" in shown(view), timeout=20)  # the shell is up
        await pilot.press(*"echo $((6*7))-ok", "enter")
        await wait_until(pilot, lambda: "42-ok" in shown(view), timeout=20)

        assert not [n for n in notifications(app) if "rror" in n], notifications(app)
        await pilot.press("ctrl+q")


async def test_daytona_workspace_follows_changes_by_polling_one_shared_watcher(dservice: SandboxService) -> None:
    """No host folder to watch: the workspace's one watcher polls (the folders both panes name), and a file written
    behind the app's back reaches the explorer and the git panel without a key press."""
    from widgets.explorer import Explorer
    from widgets.git.panel import GitPanel

    box = await _repo_box(dservice, unique("poll"))
    app = SandbenchApp(service=dservice, config=dservice.config, clock=fixed_clock, open_name=box.name)
    async with app.run_test(size=(160, 48)) as pilot:
        # composed, not just pushed: the panes are there
        await wait_until(
            pilot, lambda: isinstance(app.screen, WorkspaceScreen) and bool(app.screen.query(GitPanel)), timeout=20
        )
        ws = app.screen
        assert isinstance(ws, WorkspaceScreen)
        explorer = ws.query_one("#explorer", Explorer)
        git = ws.query_one("#git", GitPanel)
        await wait_until(pilot, lambda: git.status is not None and ws.watch_hub.running, timeout=20)
        assert ws.watch_hub.mode == "poll" and git.following == "poll"
        await wait_until(pilot, lambda: "README.md" in {r.entry.path for r in explorer.rows}, timeout=20)

        await dservice.write_file(box.id, "late.txt", b"x\n")  # not through the app: only polling can see it
        await wait_until(pilot, lambda: "late.txt" in {r.entry.path for r in explorer.rows}, timeout=30)
        await wait_until(pilot, lambda: git.status is not None and "late.txt" in git.status.markers, timeout=30)
        await pilot.press("ctrl+q")


# -- the real console script, in tmux ---------------------------------------------------------------------------
@pytest.fixture
def e2e_home() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="sandbench-dt-e2e-", dir="/tmp"))
    os.chmod(base, 0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_console_script_over_daytona_in_tmux(serve: Serve, e2e_home: Path) -> None:
    require("tmux")
    if not SANDBENCH.exists():
        pytest.fail(f"{SANDBENCH} is missing: make .venv/.installed-test (the editable install)", pytrace=False)
    port = serve.base_url.rsplit(":", 1)[1]
    # the two variables, exactly as `sandbench serve --print-env` prints them for this server's home and port
    serve_env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "SANDBENCH_"))}
    serve_env.update(SANDBENCH_HOME=str(serve.home), SANDBENCH_CONFIG=str(serve.home.parent / "config.toml"))
    printed = subprocess.run(
        [str(SANDBENCH), "serve", "--print-env", "--port", port],
        cwd=REPO,
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    daytona_env = dict(item.split("=", 1) for item in printed.split())
    assert set(daytona_env) == {"DAYTONA_API_URL", "DAYTONA_API_KEY"}

    name = unique("tmux")
    box = asyncio.run(_make_box(serve, e2e_home / "maker", name))
    # The token reaches the app through the environment only: the tmux server is started with it in its
    # environment (sessions inherit that), so it is on no command line — neither tmux's nor sandbench's.
    tmux_env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "SANDBENCH_"))}
    tmux_env.update(
        daytona_env,
        DAYTONA_TARGET="local",
        SANDBENCH_HOME=str(e2e_home / "home"),
        SANDBENCH_CONFIG=str(e2e_home / "config.toml"),
        TERM="xterm-256color",
        NO_PROXY="127.0.0.1,localhost",
    )
    (e2e_home / "config.toml").write_text(f'identity = "{IDENTITY}"\n')
    t = Tmux(f"sandbench-dt-e2e-{os.getpid()}", "app")
    # COLUMNS/LINES can leak in from the environment pytest runs in, and Textual trusts them over the pty
    command = ["env", "-u", "COLUMNS", "-u", "LINES", str(SANDBENCH), "--provider", "daytona"]
    new_session = ["tmux", "-L", t.socket, "-f", "/dev/null", "new-session", "-d", "-s", t.session]
    try:
        subprocess.run([*new_session, "-x", "120", "-y", "40", *command], env=tmux_env, check=True, timeout=10)
        screen = t.wait_for(name, "started", "daytona", timeout=30)
        assert "Traceback" not in screen
        t.keys("Enter")  # open it
        # the explorer lists the file; the terminal pane has a shell (its prompt) before the focus key is sent
        t.wait_for("Explorer", "Terminal", "hello.txt", "sandbox@sandbox", timeout=30)
        t.keys("M-3")  # alt+3 (ESC 3, as most terminals send it): the terminal pane
        time.sleep(0.5)
        # alt+3 can land on the pane's tab bar rather than the shell: enter there hands the keyboard to the
        # shell, and in the shell it is an empty command line — either way the next keys reach the shell
        t.keys("Enter")
        time.sleep(0.3)
        t.type("echo tmux-$((20+22))")
        t.keys("Enter")
        t.wait_for("tmux-42", timeout=15)
        assert "tmux-42" in t.screen(), t.screen()
        assert daytona_env["DAYTONA_API_KEY"] not in t.screen()
        t.keys("C-]")  # the shell gets ctrl+q: quit from the terminal's tab bar
        t.wait_until(lambda s: "Back to terminal" in s.rstrip("\n").splitlines()[-1], "the tab bar's keys")
        t.keys("C-q")
        deadline = time.monotonic() + 15
        while t.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not t.alive(), t.screen()
    finally:
        t.run("kill-server", check=False)
        asyncio.run(_delete_box(serve, e2e_home / "maker", box.id))
    log = (e2e_home / "home" / "sandbench.log").read_text() if (e2e_home / "home" / "sandbench.log").exists() else ""
    assert daytona_env["DAYTONA_API_KEY"] not in log


async def _make_box(srv: Serve, data_dir: Path, name: str) -> SandboxInfo:
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg = app_config(srv, data_dir)
    svc = SandboxService(DaytonaProvider(cfg), cfg)
    try:
        info = await svc.create(SandboxSpec(name=name))
        await svc.write_file(info.id, "hello.txt", b"hi\n")
        return info
    finally:
        await svc.close()


async def _delete_box(srv: Serve, data_dir: Path, sandbox_id: str) -> None:
    cfg = app_config(srv, data_dir)
    svc = SandboxService(DaytonaProvider(cfg), cfg)
    try:
        await svc.delete(sandbox_id)
    finally:
        await svc.close()


async def test_closing_a_daytona_workspace_names_what_runs_in_its_terminal(dservice: SandboxService) -> None:
    """The ending dialog names the program in a Daytona terminal's foreground, as for a local one (serve says it
    when asked; the app asks before the dialog opens): closing the workspace would end it."""
    from services.terminal import ask_foreground
    from tests.tui.test_terminal_app import open_terminal
    from tests.tui.test_workspace_alive import dialog_text
    from widgets.dialogs import ChoiceDialog

    box = await dservice.create(SandboxSpec(name=unique("ending")))
    app = SandbenchApp(service=dservice, config=dservice.config, clock=fixed_clock, open_name=box.name)
    async with app.run_test(size=(160, 40)) as pilot:
        view = await open_terminal(pilot, app)
        screen = app.screen
        session = view.session
        assert session is not None
        await session.write(b"sleep 1000\n")

        async def sleeping() -> bool:
            return await ask_foreground(session) == "sleep"

        await wait_until(pilot, sleeping, "sleep in the foreground", timeout=20)
        await pilot.press("ctrl+right_square_bracket", "alt+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog), "the ending dialog", timeout=20)
        assert f"Close workspace of {box.name}: ends 1 terminal (1 running sleep)" in dialog_text(app)
        await pilot.press("escape")  # cancel: nothing ends
        await wait_until(pilot, lambda: app.screen is screen)
        assert view.session is session and session.exit_code is None
        await view.stop()
