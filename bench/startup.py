"""Cold start to the first painted frame of the sandbox list, against a bare Textual app with four panes.

    .venv/bin/python -m bench.startup

Each run is a fresh interpreter (headless, 120x40); the parent times from spawn to the line the child prints
right after the frame is painted (`call_after_refresh`), so interpreter start-up, imports, config, the provider's
listing and the first paint all count. The two apps alternate run by run, so both see the same machine state.
The sandbench child also reports which heavy modules were loaded by then (the bar is: none of pygments, pyte,
daytona or the workspace screen).

Prints `metric=value unit` lines; bar: startup_ratio <= 1.3.
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
HEAVY = ("pygments", "pyte", "daytona", "tui.screens.workspace", "widgets.editor", "widgets.terminal")

SANDBENCH_CHILD = r"""
import sys
from services import config as config_mod
from services.factory import make_service
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen

HEAVY = __HEAVY__

class Bench(SandbenchApp):
    def on_mount(self) -> None:  # Textual runs SandbenchApp.on_mount too (handlers run per class in the MRO)
        self._poll = self.set_interval(0.002, self._check)

    def _check(self) -> None:
        screen = self.screen
        if isinstance(screen, SandboxListScreen) and screen.loaded:
            self._poll.stop()
            self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        heavy = [m for m in HEAVY if m in sys.modules]
        print("FRAME", screen_rows(self), ",".join(heavy) or "-", flush=True)
        self.exit(0)

def screen_rows(app):
    return app.screen.table.row_count

cfg = config_mod.load()
app = Bench(make_service(cfg), cfg)
app.run(headless=True, size=(120, 40))
""".replace("__HEAVY__", repr(HEAVY))

BARE_CHILD = r"""
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
        print("FRAME", flush=True)
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


def _time(code: str, env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    proc.wait(timeout=30)
    if not line.startswith("FRAME"):
        raise RuntimeError(f"child did not paint: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return elapsed, line.strip()


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-", dir="/tmp"))
    os.chmod(base, 0o711)
    home = base / "home"
    env = {**os.environ, "SANDBENCH_HOME": str(home), "SANDBENCH_CONFIG": str(base / "none.toml")}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    os.environ["SANDBENCH_HOME"] = str(home)
    try:
        _seed(home)
        bare_dir = base / "tree"
        bare_dir.mkdir()
        for i in range(20):
            (bare_dir / f"file{i}.txt").write_text("x")
        sandbench: list[float] = []
        bare: list[float] = []
        last = ""
        _time(SANDBENCH_CHILD, env, REPO)  # warm the OS page cache and .pyc files once for both
        _time(BARE_CHILD, env, bare_dir)
        for _ in range(RUNS):
            t, last = _time(SANDBENCH_CHILD, env, REPO)
            sandbench.append(t)
            t, _ = _time(BARE_CHILD, env, bare_dir)
            bare.append(t)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    s50 = statistics.median(sandbench) * 1000
    b50 = statistics.median(bare) * 1000
    _, rows, heavy = last.split(" ", 2)
    print(f"startup_sandbench_first_frame_p50={s50:.0f} ms")
    print(f"startup_bare_four_panes_p50={b50:.0f} ms")
    print(f"startup_ratio={s50 / b50:.2f} x")
    print(f"startup_rows_painted={rows} rows")
    print(f"startup_heavy_modules_loaded={0 if heavy == '-' else len(heavy.split(','))} modules ({heavy})")
    return 0 if s50 / b50 <= 1.3 and heavy == "-" else 1


if __name__ == "__main__":
    sys.exit(main())
