"""Search in files on 20,000 files in a real local sandbox, against `grep -rn` in the same sandbox, same run.

    .venv/bin/python -m bench.search

Prints `metric=value unit` (medians of RUNS):
- grep_rn_ms: the reference, `grep -rn PATTERN .` through the service's exec (bwrap start included);
  grep_first_output_ms: the same run to its first stdout chunk, the floor under any first paint.
- search_whole_ms: `services.search.search_files` for the same pattern, to its summary; search_ratio = the two.
- search_first_paint_ms: the SearchView in a Textual app under Pilot: enter in the field to the first result row
  painted (bars: first results painted <= 200 ms, the whole run <= 1.5x grep -rn); search_whole_view_ms to the
  view's summary (the matches drawn into the list).
- search_first_paint_workspace_ms: the same in the real app (`SandbenchApp` on the local provider, real panes):
  the sandbox opened from the list, F8 from the workspace, the pattern typed, enter to the first result row
  painted (search_first_batch_workspace_ms: to the first batch reaching the list, so the paint's own share shows);
  search_whole_workspace_ms to the search's summary, search_workspace_ratio against grep_rn_ms.
- as a person sees it (tmux, when installed): the real `sandbench open NAME` in a detached 120x40 tmux, enter to
  the first result line visible in `capture-pane` (search_first_visible_tmux_ms), to the final count on screen
  (search_done_visible_tmux_ms) and to "searching…" on screen (search_enter_visible_tmux_ms: the app's own
  enter-to-screen latency, before any result); key_visible_tmux_ms: F2 with an empty field to its toggle redrawn
  (any key's latency). The reference is `sandbench exec NAME -- grep -rn PATTERN .` typed into a plain shell in a
  tmux pane of the same size: enter to its first line visible (grep_first_visible_tmux_ms) and to the shell's
  marker after it (grep_done_tmux_ms, CLI start included); search_tmux_ratio = done vs done.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult
from textual.pilot import Pilot

from services.config import Config
from services.local.host_client import stop_host
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from services.search import SearchQuery, search_files
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.search import SearchScreen
from tui.screens.workspace import WorkspaceScreen
from widgets.search_results import SearchResults
from widgets.search_view import SearchView

FILES = 20_000
RUNS = 5
PATTERN = "needle"
NAME = "search-bench"
IDENTITY = "bench"
SIZE = (120, 40)
RESULT_TEXT = "line with needle"  # on screen only in a result row (the field shows the pattern alone)
DONE_TEXT = f"{FILES // 10:,} matches in {FILES // 10:,} files"
WAIT = 60.0  # seconds for any one step (a workspace opening on the busy shared machine)
SANDBENCH = Path(sys.executable).parent / "sandbench"


def emit(metric: str, value: float, unit: str) -> None:
    print(f"{metric}={value:.1f} {unit}", flush=True)


def emit_runs(metric: str, values: list[float]) -> float:
    """The median as a metric, then every run on a comment line (the spread on a shared machine matters)."""
    median = statistics.median(values)
    emit(metric, median, "ms")
    print(f"#   {metric} runs: {', '.join(f'{v:.0f}' for v in values)}", flush=True)
    return median


def hook_paint(results: SearchResults) -> list[float]:
    """Record when `results` first renders a line while it holds results (the first result row painted)."""
    painted: list[float] = []
    original = results.render_line

    def spy(y: int, _orig=original, _painted=painted, _results=results):  # type: ignore[no-untyped-def]
        if _results.groups and not _painted:
            _painted.append(time.perf_counter())
        return _orig(y)

    results.render_line = spy  # type: ignore[method-assign]
    return painted


def hook_add(results: SearchResults) -> list[float]:
    """Record when the first batch of matches reaches `results` (what the paint waits on: grep's first output)."""
    added: list[float] = []
    original = results.add

    def spy(matches, _orig=original, _added=added):  # type: ignore[no-untyped-def]
        if matches and not _added:
            _added.append(time.perf_counter())
        return _orig(matches)

    results.add = spy  # type: ignore[method-assign]
    return added


async def until(pilot: Pilot[Any], cond: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not cond():
        if loop.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


async def view_search(service: SandboxService, sandbox_id: str) -> tuple[float, float]:
    """The SearchView alone in a small app: `search_now` to the first result row painted, and to its summary."""

    class Bench(App[None]):
        def compose(self) -> ComposeResult:
            yield SearchView(service, sandbox_id)

    app = Bench()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(SearchView)
        field = app.query_one("#search-pattern")
        field.value = PATTERN  # type: ignore[attr-defined]
        await pilot.pause()
        painted = hook_paint(view.query_one(SearchResults))
        t0 = time.perf_counter()
        view.search_now()
        while not painted:
            await asyncio.sleep(0.002)
        while not view.summary.done:
            await asyncio.sleep(0.002)
        return (painted[0] - t0) * 1000, (time.perf_counter() - t0) * 1000


async def workspace_search(service: SandboxService, config: Config) -> tuple[float, float, float]:
    """The real app: open the sandbox from the list, F8, type the pattern, enter. Returns (first batch added to
    the list, first row painted, summary) in ms from the enter key."""
    app = SandbenchApp(service, config, doctor=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded, "the list")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, WorkspaceScreen) and app.screen.focused_pane == "editor",
            "the workspace with the editor focused",
        )
        await pilot.press("f8")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, SearchScreen) and app.focused is not None and app.focused.id == "search-pattern"
            ),
            "the search screen with its field focused",
        )
        view = app.screen.query_one(SearchView)
        painted = hook_paint(view.results)
        added = hook_add(view.results)
        await pilot.press(*PATTERN)
        if view.searched is not None:
            # the typing pause (DEBOUNCE) ran out before enter: this run would not measure enter
            raise Typed
        t0 = time.perf_counter()
        await pilot.press("enter")
        while not painted:
            await asyncio.sleep(0.002)
        while not view.summary.done:
            await asyncio.sleep(0.002)
        done = time.perf_counter()
        if view.results.match_count != FILES // 10 or view.searched is None or view.searched.pattern != PATTERN:
            raise RuntimeError(f"unexpected search result: {view.summary.text()}")
        return (added[0] - t0) * 1000, (painted[0] - t0) * 1000, (done - t0) * 1000


class Typed(Exception):
    """The search started from the typing pause (DEBOUNCE) before enter was pressed: the run measured nothing."""


class Tmux:
    """A private tmux server (`-L`): sessions made detached at SIZE, read with capture-pane."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"sandbench-bench-{os.getpid()}"
        self.env = env

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check)
        return out.stdout

    def new(self, session: str, command: list[str]) -> None:
        # COLUMNS/LINES can leak in from the caller's terminal, and Textual trusts them over the pty
        env = ["env", "-u", "COLUMNS", "-u", "LINES", *(f"{k}={v}" for k, v in self.env.items())]
        w, h = SIZE
        self.run("-f", "/dev/null", "new-session", "-d", "-s", session, "-x", str(w), "-y", str(h), *env, *command)

    def screen(self, session: str) -> str:
        return self.run("capture-pane", "-p", "-t", session, check=False)

    def until(self, session: str, cond: Callable[[str], bool], what: str, poll: float = 0.005) -> float:
        """Poll the screen until `cond`; the perf_counter of the capture that showed it."""
        deadline = time.monotonic() + WAIT
        text = ""
        while time.monotonic() < deadline:
            text = self.screen(session)
            if cond(text):
                return time.perf_counter()
            time.sleep(poll)
        raise RuntimeError(f"never saw {what} in tmux; last screen:\n{text}")

    def quit(self, session: str) -> None:
        """ctrl+q (its shells stay with the session host, as after a lost connection); the session ends with it."""
        self.run("send-keys", "-t", session, "C-q")
        deadline = time.monotonic() + WAIT
        while self.alive(session) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.run("kill-session", "-t", session, check=False)

    def alive(self, session: str) -> bool:
        return (
            subprocess.run(["tmux", "-L", self.socket, "has-session", "-t", session], capture_output=True).returncode
            == 0
        )

    def kill(self) -> None:
        self.run("kill-server", check=False)


def _shows(text: str) -> Callable[[str], bool]:
    return lambda screen: text in screen


def tmux_runs(env: dict[str, str]) -> dict[str, list[float]]:
    """The real app and the grep reference in detached tmux sessions, timed from sending enter."""
    t = Tmux(env)
    out: dict[str, list[float]] = {
        "key": [],
        "app_shown": [],
        "app_first": [],
        "app_done": [],
        "grep_first": [],
        "grep_done": [],
    }
    try:
        t.new("ref", ["sh"])
        t.until("ref", lambda s: s.rstrip().endswith("$") or s.rstrip().endswith("#"), "the shell prompt", 0.05)
        for i in range(RUNS):
            t.run("send-keys", "-t", "ref", "clear", "Enter")
            t.until("ref", lambda s: RESULT_TEXT not in s and "grep-done" not in s, "a cleared pane", 0.02)
            # argv, not data: the command is this bench's own; grep""-done echoes as grep-done (the typed line
            # on screen keeps its quotes, so only the echo matches)
            t.run("send-keys", "-t", "ref", "-l", f'{SANDBENCH} exec {NAME} -- grep -rn {PATTERN} . ; echo grep""-done')
            t0 = time.perf_counter()
            t.run("send-keys", "-t", "ref", "Enter")
            first = t.until("ref", lambda s: RESULT_TEXT in s, "grep's first line")
            done = t.until("ref", lambda s: any(line.strip() == "grep-done" for line in s.splitlines()), "grep done")
            out["grep_first"].append((first - t0) * 1000)
            out["grep_done"].append((done - t0) * 1000)

            session = f"app{i}"
            t.new(session, [str(SANDBENCH), "open", NAME])
            t.until(session, lambda s: "No file open" in s and "$" in s, "the workspace", 0.05)
            t.run("send-keys", "-t", session, "F8")
            t.until(session, lambda s: "Search in files ·" in s, "the search screen", 0.02)
            # the app's key-to-screen latency on its own: F2 (match case) with an empty field redraws one toggle
            for mark in ("[x] Aa", "[ ] Aa"):
                t0 = time.perf_counter()
                t.run("send-keys", "-t", session, "F2")
                seen = t.until(session, _shows(mark), f"{mark} after F2")
                out["key"].append((seen - t0) * 1000)
            # typed and entered back to back: well inside the typing pause (DEBOUNCE), so enter starts the search
            t.run("send-keys", "-t", session, "-l", PATTERN)
            t0 = time.perf_counter()
            t.run("send-keys", "-t", session, "Enter")
            shown = t.until(session, lambda s: "searching" in s or RESULT_TEXT in s, "the search under way")
            first = t.until(session, lambda s: RESULT_TEXT in s, "the first result line")
            done = t.until(
                session,
                lambda s: any(DONE_TEXT in ln and "searching" not in ln for ln in s.splitlines()),
                "the final count",
            )
            out["app_shown"].append((shown - t0) * 1000)
            out["app_first"].append((first - t0) * 1000)
            out["app_done"].append((done - t0) * 1000)
            t.quit(session)
    finally:
        t.kill()
    return out


async def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-search-"))
    os.chmod(base, 0o711)  # as in the e2e tests: in root mode each sandbox's own uid traverses it
    home = base / "home"
    (base / "config.toml").write_text(f'identity = "{IDENTITY}"\n')
    config = Config(identity=IDENTITY, data_dir=home)
    service = SandboxService(LocalProvider(home, owner_label=config.owner_label), config)
    try:
        await run(service, config, {"SANDBENCH_HOME": str(home), "SANDBENCH_CONFIG": str(base / "config.toml")})
    finally:
        await service.close()
        stop_host(home)
        shutil.rmtree(base, ignore_errors=True)


async def run(service: SandboxService, config: Config, env: dict[str, str]) -> None:
    info = await service.create(SandboxSpec(name=NAME))
    script = (
        "for d in $(seq 0 199); do mkdir -p src/d$d; for f in $(seq 0 99); do "
        'if [ $((f % 10)) = 0 ]; then echo "line with needle $d $f" > src/d$d/f$f.py; '
        'else echo "plain text line $d $f" > src/d$d/f$f.py; fi; done; done'
    )
    r = await service.exec(info.id, ["sh", "-c", script], timeout=600)
    assert r.exit_code == 0, r.stdout
    ref, ref_first, ours, paint, ws_batch, ws_paint, ws_whole = [], [], [], [], [], [], []
    for _ in range(RUNS):
        out: list[float] = []

        def first_output(stream: str, _chunk: bytes, _out: list[float] = out) -> None:
            if stream == "stdout" and not _out:
                _out.append(time.perf_counter())

        t0 = time.perf_counter()
        await service.exec(info.id, ["grep", "-rn", PATTERN, "."], keep_output=0, on_output=first_output)
        ref.append((time.perf_counter() - t0) * 1000)
        ref_first.append((out[0] - t0) * 1000)
        t0 = time.perf_counter()
        summary = await search_files(service, info.id, SearchQuery(PATTERN), lambda *_: None)
        ours.append((time.perf_counter() - t0) * 1000)
        assert summary.matches == FILES // 10, summary
    view_whole: list[float] = []
    for _ in range(RUNS):
        first, whole = await view_search(service, info.id)
        paint.append(first)
        view_whole.append(whole)
    for _ in range(RUNS):
        for _attempt in range(3):
            try:
                batch, first, whole = await workspace_search(service, config)
                break
            except Typed:
                # the machine was so busy that typing outlasted the debounce: that run measured no enter
                print("#   a workspace run was discarded: the search started before enter", flush=True)
        else:
            raise RuntimeError("typing kept outlasting the search debounce: the machine is too busy to measure")
        ws_batch.append(batch)
        ws_paint.append(first)
        ws_whole.append(whole)
    grep = emit_runs("grep_rn_ms", ref)
    emit_runs("grep_first_output_ms", ref_first)
    emit_runs("search_whole_ms", ours)
    emit("search_ratio", statistics.median(ours) / grep, "x")
    emit_runs("search_first_paint_ms", paint)
    emit_runs("search_whole_view_ms", view_whole)
    emit_runs("search_first_batch_workspace_ms", ws_batch)
    emit_runs("search_first_paint_workspace_ms", ws_paint)
    emit("search_workspace_ratio", emit_runs("search_whole_workspace_ms", ws_whole) / grep, "x")
    if shutil.which("tmux") is None or not SANDBENCH.exists():
        print("# tmux figures skipped: tmux or the sandbench console script is missing", flush=True)
    else:
        seen = await asyncio.to_thread(tmux_runs, env)
        emit_runs("grep_first_visible_tmux_ms", seen["grep_first"])
        grep_done = emit_runs("grep_done_tmux_ms", seen["grep_done"])
        emit_runs("key_visible_tmux_ms", seen["key"])
        emit_runs("search_enter_visible_tmux_ms", seen["app_shown"])
        emit_runs("search_first_visible_tmux_ms", seen["app_first"])
        emit("search_tmux_ratio", emit_runs("search_done_visible_tmux_ms", seen["app_done"]) / grep_done, "x")
    await service.delete(info.id)


if __name__ == "__main__":
    asyncio.run(main())
