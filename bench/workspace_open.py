"""What opening a workspace costs: Enter on a sandbox in the list until its panes are painted and the app is idle,
against a bare Textual app that opens a screen of four stock panes the same way (issue 15: the tui tests' CPU).

    .venv/bin/python -m bench.workspace_open [--runs N] [--size 160x48]

Each run is a fresh interpreter (so the stylesheet is parsed once, as when a person opens a sandbox), the app
under `App.run_test()` at the given size, as the tui tests run it. Three children alternate run by run:

- `sandbench`: the real app on the local provider, a sandbox holding a small git repository (eleven files, one
  commit, one change); Enter on the list's row. "Painted" is: the workspace is the screen, the keyboard is in
  the editor, the explorer has listed, the git panel has its status, the terminal's shell has drawn its prompt.
- `placeholders`: the same app with the tests' placeholder panes (tests/tui/placeholders.py): the workspace's
  frame (tab rows, status bar, footer) without the panes' own work.
- `bare`: a Textual `App` whose first screen is a `DataTable` of three rows; Enter pushes a `Screen` with
  `DirectoryTree`, `TextArea`, `Static`, `DataTable` and Textual's `Footer` (bench/startup.py's four panes).

"Idle": after the painted condition, the first 100 ms window in which the app used under 3 ms of CPU; CPU
(`time.process_time`, this process only: the shell and git run in children) and wall are taken at that window's
start. In the child, Textual's `Stylesheet.apply` (outermost calls), `Stylesheet.update_nodes`,
`Widget.recompose` and footer recomposes are counted and timed; the node count is the workspace screen's
`walk_children()` once idle.

Prints `metric=value unit` (medians over the runs) and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench.startup import child_env

REPO = Path(__file__).resolve().parents[1]
RUNS = 5

# Shared by the children: counters on Textual's style application, and the idle wait.
COMMON = r"""
import asyncio, json, sys, time
from textual.css.stylesheet import Stylesheet
from textual.widget import Widget

COUNTS = {"apply": 0, "apply_s": 0.0, "update_nodes": 0, "update_nodes_s": 0.0, "recompose": 0, "footer_recompose": 0}
_depth = [0]
_apply, _update_nodes, _recompose = Stylesheet.apply, Stylesheet.update_nodes, Widget.recompose

def apply(self, node, *args, **kwargs):
    if _depth[0]:
        return _apply(self, node, *args, **kwargs)
    _depth[0] += 1
    t = time.thread_time()
    try:
        return _apply(self, node, *args, **kwargs)
    finally:
        _depth[0] -= 1
        COUNTS["apply"] += 1
        COUNTS["apply_s"] += time.thread_time() - t

def update_nodes(self, nodes, *args, **kwargs):
    nodes = list(nodes)
    t = time.thread_time()
    _depth[0] += 1
    try:
        return _update_nodes(self, nodes, *args, **kwargs)
    finally:
        _depth[0] -= 1
        COUNTS["update_nodes"] += 1
        COUNTS["apply"] += len(nodes)
        COUNTS["update_nodes_s"] += time.thread_time() - t

async def recompose(self):
    COUNTS["recompose"] += 1
    if "Footer" in type(self).__name__:
        COUNTS["footer_recompose"] += 1
    return await _recompose(self)

Stylesheet.apply, Stylesheet.update_nodes, Widget.recompose = apply, update_nodes, recompose

async def settle(pilot, painted, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not painted():
        if time.monotonic() > deadline:
            raise SystemExit("not painted in time")
        await pilot.pause(0.01)
    while True:
        c, w = time.process_time(), time.perf_counter()
        await asyncio.sleep(0.1)
        if time.process_time() - c < 0.003:
            return c, w
        if time.monotonic() > deadline:
            raise SystemExit("never idle")

def report(c0, w0, c1, w1, nodes):
    out = {"cpu": c1 - c0, "wall": w1 - w0, "nodes": nodes, **COUNTS}
    print("RESULT " + json.dumps(out), flush=True)
"""

SANDBENCH = (
    COMMON
    + r"""
from services import config as config_mod
from services.factory import make_service
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
PLACEHOLDERS = __PLACEHOLDERS__
WARM = __WARM__
SIZE = __SIZE__

async def main():
    cfg = config_mod.load()
    service = make_service(cfg)
    panes = None
    if PLACEHOLDERS:
        from tests.tui import placeholders as p
        panes = {"explorer": p.ExplorerPlaceholder, "editor": p.EditorPlaceholder,
                 "terminal": p.TerminalPlaceholder, "git": p.GitPlaceholder}
    app = SandbenchApp(service, cfg, panes=panes, doctor=False)

    def painted():
        screen = app.screen
        if type(screen).__name__ != "WorkspaceScreen" or screen.focused_pane != "editor":
            return False
        if PLACEHOLDERS:
            return True
        explorer, git = screen.pane_widget("explorer"), screen.pane_widget("git")
        views = [v for v in screen.query("TerminalView") if v.session is not None]
        prompt = any(line.strip() for v in views for line in v.screen_model.display())
        return bool(explorer.rows) and git.status is not None and prompt

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        if WARM:
            import tui.screens.workspace  # as in a test process, where an earlier test imported it
        for key in COUNTS:
            COUNTS[key] = 0
        c0, w0 = time.process_time(), time.perf_counter()
        await pilot.press("enter")
        c1, w1 = await settle(pilot, painted)
        report(c0, w0, c1, w1, len(app.screen.walk_children()))
    await service.close()

asyncio.run(main())
"""
)

BARE = (
    COMMON
    + r"""
from textual.app import App
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, DirectoryTree, Footer, Static, TextArea
SIZE = __SIZE__

class Panes(Screen):
    def compose(self):
        with Horizontal():
            yield DirectoryTree(".")
            with Vertical():
                yield TextArea("hello")
                yield Static("terminal")
            yield DataTable()
        yield Footer()

    def on_mount(self):
        self.query_one(DataTable).add_columns("a", "b")
        self.query_one(TextArea).focus()

class Bare(App):
    BINDINGS = [("enter", "open", "Open")]

    def compose(self):
        yield DataTable(cursor_type="row")

    def on_mount(self):
        table = self.query_one(DataTable)
        table.add_columns("name", "state")
        for name in ("api", "lab", "scratch"):
            table.add_row(name, "started")
        table.focus()

    def on_data_table_row_selected(self, event):
        self.push_screen(Panes())

async def main():
    app = Bare()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.query_one(DataTable).row_count == 3)
        for key in COUNTS:
            COUNTS[key] = 0
        c0, w0 = time.process_time(), time.perf_counter()
        await pilot.press("enter")
        def painted():
            return isinstance(app.screen, Panes) and isinstance(app.focused, TextArea)
        c1, w1 = await settle(pilot, painted)
        report(c0, w0, c1, w1, len(app.screen.walk_children()))

asyncio.run(main())
"""
)


def _seed(home: Path) -> None:
    from services.config import Config
    from services.local.provider import LocalProvider
    from services.models import SandboxSpec
    from services.sandbox_service import SandboxService

    async def seed() -> None:
        cfg = Config(data_dir=home)
        provider = LocalProvider(home, owner_label=cfg.owner_label)
        service = SandboxService(provider, cfg)
        box = await service.create(SandboxSpec(name="api"))
        await service.write_file(box.id, "README.md", b"# api\n")
        await service.mkdir(box.id, "src")
        for i in range(10):
            await service.write_file(box.id, f"src/mod{i}.py", f"def f{i}():\n    return {i}\n".encode())
        for argv in (
            ["git", "init", "-q", "-b", "main"],
            ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com", "add", "."],
            ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com", "commit", "-qm", "first"],
        ):
            result = await service.exec(box.id, argv)
            if result.exit_code != 0:
                raise RuntimeError(f"seeding failed: {argv}")
        await service.write_file(box.id, "README.md", b"# api\n\nchanged\n")
        await service.close()

    asyncio.run(seed())


def _child(*, placeholders: bool, warm: bool, size: tuple[int, ...]) -> str:
    code = SANDBENCH.replace("__PLACEHOLDERS__", repr(placeholders)).replace("__WARM__", repr(warm))
    return code.replace("__SIZE__", repr(size))


def _run(code: str, env: dict[str, str], cwd: Path) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line.removeprefix("RESULT ")))
    raise RuntimeError(f"child failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--size", default="160x48", help="COLSxROWS (the tui tests use 80x24 to 160x48)")
    args = parser.parse_args()
    size = tuple(int(part) for part in args.size.split("x"))
    base, home, env = child_env()
    tree = base / "tree"
    tree.mkdir()
    for i in range(11):
        (tree / f"file{i}.txt").write_text("x")
    children = {
        "sandbench": (_child(placeholders=False, warm=False, size=size), REPO),
        "sandbench_warm": (_child(placeholders=False, warm=True, size=size), REPO),
        "placeholders": (_child(placeholders=True, warm=False, size=size), REPO),
        "bare": (BARE.replace("__SIZE__", repr(size)), tree),
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in children}
    load = [os.getloadavg()[0]]
    try:
        _seed(home)
        for code, cwd in children.values():  # warm the page cache and .pyc files once for each
            _run(code, env, cwd)
        for _ in range(args.runs):
            for name, (code, cwd) in children.items():
                results[name].append(_run(code, env, cwd))
        load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(base, ignore_errors=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    for name in children:
        print(f"open_{name}_cpu_p50={med(name, 'cpu') * 1000:.0f} ms")
        print(f"open_{name}_wall_p50={med(name, 'wall') * 1000:.0f} ms")
        print(f"open_{name}_nodes={med(name, 'nodes'):.0f} nodes")
        print(f"open_{name}_styled_nodes={med(name, 'apply'):.0f} nodes")
        print(f"open_{name}_style_cpu_p50={(med(name, 'apply_s') + med(name, 'update_nodes_s')) * 1000:.0f} ms")
        print(f"open_{name}_restyles={med(name, 'update_nodes'):.0f} calls")
        print(f"open_{name}_recomposes={med(name, 'recompose'):.0f} calls")
        print(f"open_{name}_footer_recomposes={med(name, 'footer_recompose'):.0f} calls")
    print(f"open_cpu_ratio={med('sandbench', 'cpu') / med('bare', 'cpu'):.2f} x")
    print(f"open_placeholders_cpu_ratio={med('placeholders', 'cpu') / med('bare', 'cpu'):.2f} x")
    cpus = ", ".join(f"{r['cpu'] * 1000:.0f}" for r in results["sandbench"])
    print(f"open_sandbench_cpu_runs={cpus} ms")
    print(f"load_average={load[0]:.2f} -> {load[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
