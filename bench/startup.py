"""Cold start to the first painted frame of the sandbox list, against a bare Textual app with four panes.

    .venv/bin/python -m bench.startup

Each run is a fresh interpreter (headless, 120x40); the parent times from spawn to the line the child prints
right after the first frame is painted (`call_after_refresh`), so interpreter start-up, imports, config and the
first paint count. The app is started as `run_app` starts it: the provider is built after the first frame (issue 14),
so the first frame is the list's "loading sandboxes…" state; the time until the listing is painted too is reported
as `startup_sandbench_listed_p50`. The two apps alternate run by run, so both see the same machine state. The
sandbench child also reports which heavy modules were loaded by the first frame (the bar is: none of them).

Also times `import tui.app` against `import textual.app`, each in a fresh interpreter, alternating.

Prints `metric=value unit` lines; bar (issue 14): startup_ratio <= 1.1. Also the CPU each child had used when it
painted (interpreter start-up included), steadier than wall on a loaded machine.
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
from pathlib import Path

RUNS = 9
REPO = Path(__file__).resolve().parents[1]
HEAVY = (
    "pygments",
    "pyte",
    "daytona",
    "aiohttp",
    "services.sandbox_service",
    "services.local",
    "services.local.provider",
    "tui.list_metrics",
    "tui.screens.workspace",
    "widgets.editor",
    "widgets.terminal",
)
BAR = 1.1

SANDBENCH_CHILD = r"""
import sys, time
from services import config as config_mod
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen

HEAVY = __HEAVY__

class Bench(SandbenchApp):
    def on_mount(self) -> None:  # Textual runs SandbenchApp.on_mount too (handlers run per class in the MRO)
        self._framed = False
        self._heavy = ["build-not-started"]
        self._poll = self.set_interval(0.002, self._check)

    def _check(self) -> None:
        screen = self.screen
        if not isinstance(screen, SandboxListScreen):
            return
        if not self._framed:
            self._framed = True
            self.call_after_refresh(self._first_frame)
        elif screen.loaded:
            self._poll.stop()
            self.call_after_refresh(self._listed)

    def _build_service(self) -> None:
        # the app starts the provider's build after the first frame's refresh: what is loaded now, the frame had
        self._heavy = [m for m in HEAVY if m in sys.modules]
        super()._build_service()

    def _first_frame(self) -> None:
        print("FRAME", time.process_time(), ",".join(self._heavy) or "-", flush=True)

    def _listed(self) -> None:
        print("LISTED", self.screen.table.row_count, flush=True)
        self.exit(0)

def build():
    from services.factory import make_service  # as run_app: the provider is built after the first frame

    return make_service(cfg)

cfg = config_mod.load()
app = Bench(None, cfg, build=build)
app.run(headless=True, size=(120, 40))
""".replace("__HEAVY__", repr(HEAVY))

BARE_CHILD = r"""
import time
from textual.app import App
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, DirectoryTree, Static, TextArea

class Bare(App):
    def compose(self):
        with Horizontal():
            yield DirectoryTree(".")
            with Vertical():
                yield TextArea("hello")
                yield Static("terminal")
            yield DataTable()

    def on_mount(self):
        self.query_one(DataTable).add_columns("a", "b")
        self.call_after_refresh(self._painted)

    def _painted(self):
        print("FRAME", time.process_time(), flush=True)
        self.exit(0)

Bare().run(headless=True, size=(120, 40))
"""


def _seed(home: Path) -> None:
    from services.config import Config
    from services.local.provider import LocalProvider
    from services.models import SandboxSpec
    from services.sandbox_service import SandboxService

    async def seed() -> None:
        cfg = Config(data_dir=home)
        provider = LocalProvider(home, owner_label=cfg.owner_label)
        service = SandboxService(provider, cfg)
        for name in ("api", "lab", "scratch"):
            await service.create(SandboxSpec(name=name))
        await service.close()

    asyncio.run(seed())


def _time(code: str, env: dict[str, str], cwd: Path, *, listed: bool = False) -> tuple[float, float, str]:
    """Seconds to the FRAME line (and to the LISTED line when `listed`), and the FRAME line (`FRAME cpu ...`: the
    child's CPU seconds, interpreter start-up included, when it painted)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    until = elapsed
    if listed:
        second = proc.stdout.readline()
        until = time.perf_counter() - t0
        if not second.startswith("LISTED"):
            raise RuntimeError(f"child did not list: {second!r} {proc.stderr.read() if proc.stderr else ''}")
        line = f"{line.strip()} {second.split()[1]}"
    proc.wait(timeout=30)
    if not line.startswith("FRAME"):
        raise RuntimeError(f"child did not paint: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return elapsed, until, line.strip()


IMPORT_CHILD = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"


def _import_time(module: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_CHILD.format(module)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
    )
    return float(out.stdout.strip())


def child_env() -> tuple[Path, Path, dict[str, str]]:
    """A fresh data dir for the app's children (base, home) and their environment, as an installed app starts."""
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-", dir="/tmp"))
    os.chmod(base, 0o711)
    home = base / "home"
    env = {**os.environ, "SANDBENCH_HOME": str(home), "SANDBENCH_CONFIG": str(base / "none.toml")}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    # As an installed app starts: with its modules' bytecode cached (the warm-up run writes it). This machine sets
    # PYTHONDONTWRITEBYTECODE=1, which made every child compile the project's modules from source (~30 ms more
    # per start, none of it in the bare app, whose Textual is compiled at install) — the Makefile unexports it too.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["SANDBENCH_HOME"] = str(home)
    return base, home, env


def main() -> int:
    base, home, env = child_env()
    try:
        _seed(home)
        bare_dir = base / "tree"
        bare_dir.mkdir()
        for i in range(20):
            (bare_dir / f"file{i}.txt").write_text("x")
        sandbench: list[float] = []
        listed: list[float] = []
        bare: list[float] = []
        cpu_sandbench: list[float] = []
        cpu_bare: list[float] = []
        imp_app: list[float] = []
        imp_textual: list[float] = []
        last = ""
        _time(SANDBENCH_CHILD, env, REPO, listed=True)  # warm the OS page cache and .pyc files once for both
        _time(BARE_CHILD, env, bare_dir)
        for _ in range(RUNS):
            t, t_listed, last = _time(SANDBENCH_CHILD, env, REPO, listed=True)
            sandbench.append(t)
            listed.append(t_listed)
            cpu_sandbench.append(float(last.split()[1]))
            t, _, line = _time(BARE_CHILD, env, bare_dir)
            bare.append(t)
            cpu_bare.append(float(line.split()[1]))
            imp_app.append(_import_time("tui.app", env))
            imp_textual.append(_import_time("textual.app", env))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    s50 = statistics.median(sandbench) * 1000
    b50 = statistics.median(bare) * 1000
    _, _, heavy, rows = last.split(" ", 3)
    c50, cb50 = statistics.median(cpu_sandbench) * 1000, statistics.median(cpu_bare) * 1000
    i_app = statistics.median(imp_app) * 1000
    i_textual = statistics.median(imp_textual) * 1000
    print(f"startup_sandbench_first_frame_p50={s50:.0f} ms")
    print(f"startup_bare_four_panes_p50={b50:.0f} ms")
    print(f"startup_ratio={s50 / b50:.2f} x")
    # CPU to the first frame (interpreter start-up included): steadier than wall on a loaded machine
    print(f"startup_sandbench_first_frame_cpu_p50={c50:.0f} ms")
    print(f"startup_bare_four_panes_cpu_p50={cb50:.0f} ms")
    print(f"startup_cpu_ratio={c50 / cb50:.2f} x")
    print(f"startup_sandbench_listed_p50={statistics.median(listed) * 1000:.0f} ms")
    print(f"startup_rows_listed={rows} rows")
    print(f"startup_heavy_modules_loaded={0 if heavy == '-' else len(heavy.split(','))} modules ({heavy})")
    print(f"import_tui_app_p50={i_app:.0f} ms")
    print(f"import_textual_app_p50={i_textual:.0f} ms")
    print(f"import_ratio={i_app / i_textual:.2f} x")
    print(f"load_average={os.getloadavg()[0]:.2f}")
    return 0 if s50 / b50 <= BAR and heavy == "-" else 1


if __name__ == "__main__":
    sys.exit(main())
