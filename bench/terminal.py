"""Terminal pane benchmark: `python bench/terminal.py` (add `--quick` for a smaller run). Headless, one command.

Measures, printing `metric=value unit` lines:

1. Drain time of (a) `seq 1 2000000` and (b) `cat` of a generated 20 MB file of colourful log lines (~220 bytes a
   line: 16/256/truecolour SGR, bold, underline, resets; deterministic) — each run on a real PTY of 200x50:
   * through the pane: a headless Textual app with a `TerminalView`; the session is the production
     `services.local.pty.LocalTerminal` read path around a host process (no sandbox, so the number is the pane's);
     timed from opening the terminal to the pane having consumed EOF;
   * through tmux: a detached session of the same size running the same command, timed to `wait-for` after it;
   * through plain pyte (`Screen` + `ByteStream`) on a prefix of the same bytes (pyte is too slow for the whole
     stream; the rate is extrapolated, and said so);
   and the pane's final screen compared with tmux's (`capture-pane`, text). Streams: `seq`; the colour log; the
   same with ~330-column lines (`colour_wide`: at 200 columns every line wraps); a 5 MB single-line minified JSON
   (`json`). `--runs 3` drains each three times, pane and tmux alternately, and prints medians and the range of
   the per-run ratio pane time / tmux time; the emulator alone (`Emulator.feed` in the pane's slices, no PTY) is
   timed at 200x50 and at 80x24 too.
2. Keystroke echo at 80x24: key event → xterm encoding → PTY write → bash (readline) echoes → the pane reads and
   feeds the emulator → the cursor row's strip is rebuilt (`render_line`). Textual's own compositor paint (at most
   60 Hz) is not included; it adds up to one frame on top. Measured idle, and while a second terminal in the same
   app floods output.
3. Memory of 10,000 lines of scrollback at 200 columns (tracemalloc), colourful lines.
4. Reflow on resize with that scrollback: 200 → 120 → 200 → 80 columns, against tmux on the same stream.
5. As a person sees it (`--only seen`, not in a default run): the real app (`sandbench open` on a local sandbox)
   in a detached outer tmux at 80x24 with its terminal pane focused, against a plain tmux pane of the pane's size
   running bash on the host, alternately, `--runs` times: seconds from Enter on `COMMAND; echo DONE` until a row
   reading DONE is on the screen, for `seq`, a colour log whose lines wrap in the pane, one whose lines fit, the
   single-line JSON, `yes | head -c 100M` and `find /usr`; the app's time over tmux's, median and range. Also the
   lag: from the shell's wall-time marker written right after the workload (`$EPOCHREALTIME`, no fork) to the
   capture that first showed DONE (bar: 50 ms), and whether the final screens equal tmux's. Then keystroke echo as
   seen (send-keys of one character → the prompt row showing it), idle and while a second tab of the app (tmux: a
   second window) floods; `--streams echo` picks it alone.

`--only drain|echo|memory|seen` runs one section; `--streams a,b` picks streams.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Horizontal

from services.local.host_client import stop_host
from services.local.pty import LocalTerminal, set_winsize
from tui.heap import settle_heap
from widgets.terminal.emulator import Emulator
from widgets.terminal.pane import TerminalView

COLS, ROWS = 200, 50
SGR_BYTES_RE = re.compile(rb"\x1b\[[0-9;:]*m")


def colour_log(size: int, seed: int = 7, words_per_line: int = 8) -> bytes:
    """~220-byte log lines full of SGR: 16-colour levels, 256-colour tags, truecolour messages, bold, underline.
    `words_per_line=40`: ~420-byte lines, ~330 columns wide (they wrap at 200 columns, as build logs do)."""
    rnd = random.Random(seed)
    levels = [("\x1b[32m", "INFO "), ("\x1b[33;1m", "WARN "), ("\x1b[31;1;4m", "ERROR"), ("\x1b[36m", "DEBUG")]
    words = "alpha beta gamma delta request response cache worker shard queue retry timeout".split()
    out: list[str] = []
    n = i = 0
    while n < size:
        colour, level = levels[rnd.randrange(4)]
        r, g, b = rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)
        msg = " ".join(rnd.choice(words) for _ in range(words_per_line))
        line = (
            f"\x1b[2m2026-11-23 10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}\x1b[0m {colour}{level}\x1b[0m "
            f"\x1b[38;5;{rnd.randrange(256)}m[svc-{rnd.randrange(100):02d}]\x1b[0m "
            f"\x1b[38;2;{r};{g};{b}m{msg}\x1b[0m \x1b[1mid=\x1b[22m{rnd.randrange(10**8):08d} "
            f"\x1b[4;34mhttp://x/{rnd.randrange(10**6)}\x1b[24;39m \x1b[48;5;236m {rnd.random() * 100:.2f}ms \x1b[m\n"
        )
        out.append(line)
        n += len(line)
        i += 1
    return "".join(out).encode()


# -- a host PTY behind the production LocalTerminal read path ----------------------------------------------------
@dataclass
class _HostLaunched:
    process: asyncio.subprocess.Process
    closed: bool = field(default=False)

    async def cleanup(self) -> None:
        self.closed = True


class HostService:
    """Stands in for SandboxService.open_terminal: runs `argv` on a fresh host PTY (benchmarks only)."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv

    async def open_terminal(self, sandbox_id: str, cols: int = 80, rows: int = 24, **_: Any) -> LocalTerminal:
        master, slave = pty.openpty()
        set_winsize(slave, cols, rows)
        env = {**os.environ, "TERM": "xterm-256color", "PS1": "$ ", "LC_ALL": "C.UTF-8"}
        proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        return LocalTerminal(_HostLaunched(proc), master)  # type: ignore[arg-type]


class BenchApp(App[None]):
    def __init__(self, views: list[TerminalView]) -> None:
        super().__init__()
        self.views = views

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield from self.views


class SnapshotView(TerminalView):
    """Keeps the screen as it was when the program ended, before the pane adds its "exited" banner."""

    final: list[str] | None = None

    def _show_banner(self, text: str) -> None:
        self.final = [ln.text().rstrip() for ln in self.screen_model.lines]
        super()._show_banner(text)


async def drain_pane(argv: list[str]) -> tuple[float, list[str], int]:
    view = SnapshotView(HostService(argv), "bench", autostart=False)  # type: ignore[arg-type]
    app = BenchApp([view])
    async with app.run_test(size=(COLS, ROWS)) as pilot:
        await pilot.pause()
        t0 = time.perf_counter()
        view.start()
        while view._pump_task is None or not view._pump_task.done():
            await asyncio.sleep(0.005)
        dt = time.perf_counter() - t0
        await pilot.pause()
        return dt, view.final or [], len(view.screen_model.history)


_runs = iter(range(1_000_000))


def drain_tmux(cmd: str) -> tuple[float, list[str]]:
    sock = f"sbbench-{os.getpid()}-{next(_runs)}"  # a fresh server each time: a dying one cannot take a session
    tm = ["tmux", "-L", sock, "-f", "/dev/null"]
    try:
        t0 = time.perf_counter()
        shell = f"{cmd}; tmux -L {sock} wait-for -S done; sleep 60"
        subprocess.run([*tm, "new-session", "-d", "-x", str(COLS), "-y", str(ROWS), shell], check=True)
        subprocess.run([*tm, "wait-for", "done"], check=True, timeout=600)
        dt = time.perf_counter() - t0
        text = subprocess.run([*tm, "capture-pane", "-p"], check=True, capture_output=True, text=True).stdout
        return dt, [ln.rstrip() for ln in text.split("\n")[:ROWS]]
    finally:
        subprocess.run([*tm, "kill-server"], capture_output=True, check=False)


def drain_pyte(data: bytes, limit: int) -> tuple[float, int]:
    import pyte

    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    part = data[:limit]
    t0 = time.perf_counter()
    for i in range(0, len(part), 65536):
        stream.feed(part[i : i + 65536])
    return time.perf_counter() - t0, len(part)


def minified_json(size: int, seed: int = 5) -> bytes:
    """One line of minified JSON (an API response piped to the terminal), `size` bytes, then a newline."""
    rnd = random.Random(seed)
    items: list[str] = []
    n = 0
    while n < size:
        item = json.dumps(
            {
                "id": rnd.randrange(10**9),
                "name": f"item-{rnd.randrange(10**6)}",
                "tags": ["alpha", "beta", "gamma"][: rnd.randrange(4)],
                "price": round(rnd.random() * 1000, 2),
                "ok": rnd.random() < 0.5,
            },
            separators=(",", ":"),
        )
        items.append(item)
        n += len(item) + 1
    return ("[" + ",".join(items) + "]\n").encode()


def drain_emulator(data: bytes, cols: int, rows: int) -> float:
    """CPU seconds for `Emulator` alone to take `data` as the pane feeds a flood: bursts of 512 KiB in 64 KiB
    slices, all but a burst's last with `more=True` (no PTY, no event loop: the emulator's share of the pane's
    time; CPU time, so that other processes on a busy machine count less)."""
    screen = Emulator(cols, rows, scrollback=10_000)
    burst, piece = 512 * 1024, 64 * 1024
    t0 = time.process_time()
    for b in range(0, len(data), burst):
        part = data[b : b + burst]
        for i in range(0, len(part), piece):
            screen.feed(part[i : i + piece], more=i + piece < len(part))
    return time.process_time() - t0


def tty_bytes(data: bytes) -> bytes:
    """What a program's output looks like after the PTY's onlcr: LF → CR LF."""
    return data.replace(b"\n", b"\r\n")


# -- echo ---------------------------------------------------------------------------------------------------------
async def echo_latency(keys: int, flood: bool, gap: tuple[float, float] = (0.001, 0.001)) -> tuple[list[float], str]:
    """Per-key echo times in ms, and a line on what the flooding terminal did meanwhile. `gap`: the pause between
    keys is drawn from this range (seconds), like a person typing."""
    views = [TerminalView(HostService(["bash", "--norc", "--noprofile", "-i"]), "bench")]  # type: ignore[arg-type]
    if flood:
        # the second terminal prints colourful lines for as long as the measurement runs
        script = "while :; do printf '\\033[31mflood\\033[0m %0100d \\033[1;38;5;33mline\\033[0m\\n' $RANDOM; done"
        views.append(TerminalView(HostService(["bash", "--norc", "-c", script]), "bench"))  # type: ignore[arg-type]
    app = BenchApp(views)
    view = views[0]
    samples: list[float] = []
    async with app.run_test(size=(160 if flood else 80, 24)) as pilot:
        view.focus()
        fired = asyncio.Event()
        view.on_output = fired.set
        screen = view.screen_model
        deadline = time.monotonic() + 10
        while "$" not in "".join(ln.text() for ln in screen.lines) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await pilot.pause()
        settle_heap()  # as the app does once a workspace is on screen
        rnd = random.Random(11)
        flood_note = ""
        if flood:
            other = views[1].screen_model
            p0 = other.scrolled_lines
            await asyncio.sleep(1.0)
            before_rate = other.scrolled_lines - p0
            p0, t_start = other.scrolled_lines, time.perf_counter()
        for i in range(keys):
            if i and i % 50 == 0:
                fired.clear()
                await view.on_key(events.Key("ctrl+u", None))  # keep the line short; not measured
                await asyncio.sleep(0.02)
            ch = "abcdefghij"[i % 10]
            x_before = screen.x
            fired.clear()
            t0 = time.perf_counter()
            await view.on_key(events.Key(ch, ch))
            while True:
                await fired.wait()
                fired.clear()
                if screen.x != x_before:
                    break
            view.render_line(screen.y)
            samples.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(rnd.uniform(*gap))
        if flood:
            during = (other.scrolled_lines - p0) / (time.perf_counter() - t_start)
            flood_note = f"flood scrolled {before_rate:.0f} lines/s before typing, {during:.0f} lines/s while typing"
        for v in views:
            await v.stop()
    return samples, flood_note


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


# -- memory -------------------------------------------------------------------------------------------------------
def scrollback_memory(data: bytes, chunk: int) -> tuple[float, int]:
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    screen = Emulator(COLS, ROWS, scrollback=10_000)
    for i in range(0, len(data), chunk):
        screen.feed(data[i : i + chunk])
    screen.pack_history()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / 1e6, len(screen.history)


def reflow_times(data: bytes) -> tuple[list[float], list[float]]:
    """Resize 200 → 120 → 200 → 80 columns with 10,000 lines of colourful scrollback: ours (`Emulator.resize`,
    which reflows) against tmux's `resize-window` on the same stream (its history-limit set to 10,000), in ms."""
    screen = Emulator(COLS, ROWS, scrollback=10_000)
    screen.feed(data)
    widths = (120, COLS, 80)
    ours = []
    for cols in widths:
        t0 = time.perf_counter()
        screen.resize(cols, ROWS)
        ours.append((time.perf_counter() - t0) * 1000)
    sock = f"sbbench-reflow-{os.getpid()}"
    tm = ["tmux", "-L", sock, "-f", "/dev/null"]
    theirs = []
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        try:
            subprocess.run([*tm, "start-server", ";", "set", "-g", "history-limit", "10000"], check=True)
            shell = f"stty raw -echo; cat {f.name}; tmux -L {sock} wait-for -S done; sleep 600"
            subprocess.run([*tm, "new-session", "-d", "-x", str(COLS), "-y", str(ROWS), shell], check=True)
            subprocess.run([*tm, "wait-for", "done"], check=True, timeout=600)
            for cols in widths:
                t0 = time.perf_counter()
                subprocess.run([*tm, "resize-window", "-x", str(cols), "-y", str(ROWS)], check=True)
                # the reply to a query comes after the resize is done
                subprocess.run([*tm, "display-message", "-p", "#{history_size}"], check=True, capture_output=True)
                theirs.append((time.perf_counter() - t0) * 1000)
        finally:
            subprocess.run([*tm, "kill-server"], capture_output=True, check=False)
    return ours, theirs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller streams and fewer keys")
    ap.add_argument(
        "--only",
        choices=["drain", "echo", "memory", "seen"],
        help="one section: drain (the streams), echo (keystrokes), memory (scrollback and reflow), seen (the real"
        " app in an outer tmux; not part of a default run)",
    )
    ap.add_argument("--runs", type=int, default=1, help="drain each stream this many times (medians and ranges)")
    ap.add_argument(
        "--streams",
        help="comma-separated subset of: seq,colour,colour_wide,json (seen: seq,colour_wrap,colour_narrow,json,yes,"
        "find_usr,echo)",
    )
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is required")
    seq_n = 400_000 if args.quick else 2_000_000
    log_size = 4_000_000 if args.quick else 20_000_000
    keys = 200 if args.quick else 1000
    tmp = Path(tempfile.mkdtemp(prefix="sbbench-"))
    try:
        if args.only in (None, "drain"):
            drain_streams(tmp, seq_n, log_size, args.runs, args.streams)
        if args.only in (None, "echo"):
            echo_section(keys)
        if args.only in (None, "memory"):
            memory_section()
        if args.only == "seen":
            as_seen_section(tmp, seq_n, log_size, args.runs, args.streams)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def drain_streams(tmp: Path, seq_n: int, log_size: int, runs: int, only: str | None) -> None:
    """Section 1: each stream through the pane and through tmux, alternately, `runs` times (medians, ranges)."""
    log = colour_log(log_size)
    (tmp / "colour.log").write_bytes(log)
    wide = colour_log(log_size, seed=8, words_per_line=40)
    (tmp / "colour_wide.log").write_bytes(wide)
    blob = minified_json(log_size // 4)
    (tmp / "min.json").write_bytes(blob)
    seq_bytes = subprocess.run(["seq", "1", str(seq_n)], capture_output=True, check=True).stdout
    streams = {
        "seq": (["seq", "1", str(seq_n)], f"seq 1 {seq_n}", tty_bytes(seq_bytes)),
        "colour": (["cat", str(tmp / "colour.log")], f"cat {tmp / 'colour.log'}", tty_bytes(log)),
        "colour_wide": (["cat", str(tmp / "colour_wide.log")], f"cat {tmp / 'colour_wide.log'}", tty_bytes(wide)),
        "json": (["cat", str(tmp / "min.json")], f"cat {tmp / 'min.json'}", tty_bytes(blob)),
    }
    if only:
        streams = {k: v for k, v in streams.items() if k in only.split(",")}

    def widest(data: bytes) -> int:
        return max(map(len, SGR_BYTES_RE.sub(b"", data).split(b"\n")))

    log_line = len(log) / log.count(b"\n")
    wide_line = len(wide) / wide.count(b"\n")
    print(
        f"# streams through a PTY, {COLS}x{ROWS}: seq 1 {seq_n} ({len(tty_bytes(seq_bytes)) / 1e6:.1f} MB); "
        f"colour log {len(tty_bytes(log)) / 1e6:.1f} MB, {log_line:.0f} B/line, "
        f"widest {widest(log)} columns; colour_wide {len(tty_bytes(wide)) / 1e6:.1f} MB, "
        f"{wide_line:.0f} B/line, widest {widest(wide)} columns (lines wrap); "
        f"json: one line of {len(blob) / 1e6:.1f} MB; {runs} run(s) each, pane and tmux alternately"
    )
    for name, (argv, cmd, raw) in streams.items():
        mb = len(raw) / 1e6
        pane_ts: list[float] = []
        tmux_ts: list[float] = []
        same = True
        hist = 0
        diff = ""
        for _ in range(runs):
            pane_t, pane_lines, hist = asyncio.run(drain_pane(argv))
            tmux_t, tmux_lines = drain_tmux(cmd)
            pane_ts.append(pane_t)
            tmux_ts.append(tmux_t)
            if pane_lines != tmux_lines:
                same = False
                for y, (a, b) in enumerate(zip(pane_lines, tmux_lines, strict=False)):
                    if a != b:
                        diff = f"#   first difference at row {y}: pane {a!r} tmux {b!r}"
                        break
        pane_t, tmux_t = statistics.median(pane_ts), statistics.median(tmux_ts)
        ratios = sorted(p / t for p, t in zip(pane_ts, tmux_ts, strict=True))
        pyte_t, pyte_n = drain_pyte(raw, 1_000_000)
        pyte_rate = pyte_n / pyte_t / 1e6
        spread = f" (runs {', '.join(f'{t:.2f}' for t in pane_ts)})" if runs > 1 else ""
        print(f"terminal.{name}.pane.drain={pane_t:.2f} s{spread}")
        print(f"terminal.{name}.pane.rate={mb / pane_t:.2f} MB/s")
        spread = f" (runs {', '.join(f'{t:.2f}' for t in tmux_ts)})" if runs > 1 else ""
        print(f"terminal.{name}.tmux.drain={tmux_t:.2f} s{spread}")
        print(f"terminal.{name}.tmux.rate={mb / tmux_t:.2f} MB/s")
        print(f"terminal.{name}.pyte.rate={pyte_rate:.2f} MB/s (first {pyte_n / 1e6:.1f} MB, extrapolated)")
        print(f"terminal.{name}.pyte.drain_extrapolated={mb / pyte_rate:.1f} s")
        print(f"terminal.{name}.pane_vs_tmux={tmux_t / pane_t * 100:.0f} %")
        spread = f" (range {ratios[0]:.2f}-{ratios[-1]:.2f})" if runs > 1 else ""
        print(f"terminal.{name}.pane_time_over_tmux={statistics.median(ratios):.2f} x{spread}")
        print(f"terminal.{name}.pane_vs_pyte={mb / pane_t / pyte_rate:.1f} x")
        for cols, rows in ((COLS, ROWS), (80, 24)):
            em = min(drain_emulator(raw, cols, rows) for _ in range(runs))
            print(f"terminal.{name}.emulator_{cols}x{rows}.rate={mb / em:.1f} MB/s (Emulator.feed alone, CPU, best)")
        print(f"terminal.{name}.final_screen_equal_to_tmux={int(same)} bool")
        print(f"terminal.{name}.scrollback_lines={hist} lines")
        if diff:
            print(diff)


def echo_section(keys: int) -> None:
    """Section 2: keystroke echo, idle and while another terminal floods."""
    # keys back to back (1 ms apart), then like a fast typist (15-60 ms apart) while the other terminal floods
    for tag, flood, gap in (
        ("echo", False, (0.001, 0.001)),
        ("echo_flood", True, (0.001, 0.001)),
        ("echo_flood_typing", True, (0.015, 0.06)),
    ):
        samples, note = asyncio.run(echo_latency(keys, flood, gap))
        print(f"terminal.{tag}.p50={pct(samples, 50):.2f} ms")
        print(f"terminal.{tag}.p99={pct(samples, 99):.2f} ms")
        print(f"terminal.{tag}.mean={statistics.mean(samples):.2f} ms ({len(samples)} keys)")
        if note:
            print(f"# {tag}: {note}")


# -- as seen: the real app in an outer tmux -----------------------------------------------------------------------
SEEN_COLS, SEEN_ROWS = 80, 24  # the outer terminal a person has the app in
PANE_SIZE_RE = re.compile(r"(\d+)x(\d+) ─╯")


def narrow_log(size: int, seed: int = 9) -> bytes:
    """Colourful log lines of at most ~70 columns (they fit an 80-column window's terminal pane)."""
    rnd = random.Random(seed)
    words = "alpha beta gamma delta cache worker shard queue retry".split()
    out: list[str] = []
    n = i = 0
    while n < size:
        msg = " ".join(rnd.choice(words) for _ in range(rnd.randrange(1, 6)))
        line = (
            f"\x1b[2m10:{i // 60 % 60:02d}:{i % 60:02d}\x1b[0m \x1b[3{rnd.randrange(1, 7)}mINFO\x1b[0m "
            f"\x1b[38;5;{rnd.randrange(256)}m[svc-{rnd.randrange(100):02d}]\x1b[0m {msg} "
            f"\x1b[1m{rnd.randrange(10**6)}\x1b[m\n"
        )
        out.append(line)
        n += len(line)
        i += 1
    return "".join(out).encode()


class Outer:
    """A private tmux server holding one session (the app, or a plain shell), read with capture-pane."""

    def __init__(self, tag: str) -> None:
        self.sock = f"sbseen-{os.getpid()}-{tag}"

    def tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", *args], capture_output=True, text=True)
        return out.stdout

    def lines(self) -> list[str]:
        return self.tmux("capture-pane", "-p", "-t", "s").split("\n")

    def wait(self, cond: Any, what: str, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.lines()
            if cond(lines):
                return lines
            time.sleep(0.05)
        raise SystemExit(f"as seen: never saw {what}; screen:\n" + "\n".join(self.lines()))

    def close(self) -> None:
        self.tmux("kill-server")


def _inner(line: str) -> str:
    return line.strip().strip("│").rstrip()


def _done(lines: list[str]) -> bool:
    return any(_inner(line) == "DONE" for line in lines)


# the shell writes the wall time the workload ended (bash's $EPOCHREALTIME, no fork), then DONE; typed as `DO""NE`
# so that the command line itself, wherever it wraps, never shows a row reading DONE
MARKER = ".seen_done_at"
TAIL = f'; echo $EPOCHREALTIME > {MARKER}; echo DO""NE'


@dataclass
class Seen:
    """One timed workload: Enter → DONE on screen, the writer's end → DONE on screen, and the final screen."""

    to_done: float  # seconds from Enter until a row reading DONE is on the outer screen
    seen_at: float  # wall time (time.time) of the capture that first showed DONE
    screen: list[str]  # the terminal's rows once the prompt is back after DONE


def _rows_at_prompt(lines: list[str]) -> bool:
    """DONE on screen, and the prompt after it."""
    rows = [_inner(line) for line in lines]
    return "DONE" in rows and rows[rows.index("DONE") + 1 :].count("$") >= 1


def time_to_done(outer: Outer, command: str, rows_of: Any) -> Seen:
    """Seconds from Enter on `command` + TAIL until a row reading DONE is on the outer screen."""
    outer.tmux("send-keys", "-t", "s", "-l", "clear")
    outer.tmux("send-keys", "-t", "s", "Enter")
    outer.wait(lambda lines: not _done(lines), "the screen cleared")
    outer.tmux("send-keys", "-t", "s", "-l", command + TAIL)
    t0 = time.perf_counter()
    outer.tmux("send-keys", "-t", "s", "Enter")
    while not _done(outer.lines()):
        if time.perf_counter() - t0 > 600:
            raise SystemExit(f"as seen: {command} did not finish in 10 minutes")
    seen_at = time.time()  # the end of the capture that showed it: an upper bound of when it became visible
    took = time.perf_counter() - t0
    final = outer.wait(_rows_at_prompt, "the prompt after DONE", timeout=30)
    return Seen(took, seen_at, rows_of(final))


def app_rows(lines: list[str], rows: int, cols: int) -> list[str]:
    """The terminal pane's rows on the app's outer screen: under the frame's top edge and the tab bar."""
    top = next(i for i, line in enumerate(lines) if line.startswith("╭─ Terminal")) + 2
    return [line[1 : 1 + cols].rstrip() for line in lines[top : top + rows]]


def plain_rows(lines: list[str], rows: int) -> list[str]:
    return [line.rstrip() for line in lines[:rows]]


def echo_times(outer: Outer, keys: int, gap: float) -> list[float]:
    """Milliseconds from send-keys of one character until the prompt row on the outer screen shows it (each key
    alone, `gap` seconds apart; capture-pane polled, so its own ~3-5 ms is in every figure, both sides alike)."""
    out: list[float] = []
    typed = ""
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    for i in range(keys):
        if len(typed) >= 40:  # keep the line short: clear it and wait for the bare prompt
            outer.tmux("send-keys", "-t", "s", "C-u")
            outer.wait(lambda lines: any(_inner(ln) == "$" for ln in lines), "the cleared prompt")
            typed = ""
        ch = alphabet[i % 26]
        want = "$ " + typed + ch
        t0 = time.perf_counter()
        outer.tmux("send-keys", "-t", "s", "-l", ch)
        while not any(_inner(ln) == want for ln in outer.lines()):
            if time.perf_counter() - t0 > 10:
                raise SystemExit(f"as seen: the echo of {ch!r} never showed")
        out.append((time.perf_counter() - t0) * 1000)
        typed += ch
        time.sleep(gap)
    outer.tmux("send-keys", "-t", "s", "C-u")
    outer.wait(lambda lines: any(_inner(ln) == "$" for ln in lines), "the cleared prompt")
    return out


def as_seen_section(tmp: Path, seq_n: int, log_size: int, runs: int, only: str | None) -> None:
    """Section 5: the real app (`sandbench open` on a local sandbox) in a detached outer tmux at 80x24, its
    terminal pane focused, against a plain tmux pane of the pane's size running bash on the host, the same
    commands alternately: seconds from Enter until DONE is on the screen (tmux's own capture-pane, polled), the
    lag from the writer's end (a wall-time marker the shell writes) to DONE on screen, the final screens compared;
    then keystroke echo idle and while another tab (tmux: another window) floods."""
    sandbench = Path(sys.executable).parent / "sandbench"
    files = {
        "colour_wrap.log": colour_log(log_size),  # ~140 columns: every line wraps in the pane
        "colour_narrow.log": narrow_log(log_size),
        "min.json": minified_json(log_size // 4),
    }
    workloads = {
        "seq": f"seq 1 {seq_n}",
        "colour_wrap": "cat colour_wrap.log",
        "colour_narrow": "cat colour_narrow.log",
        "json": "cat min.json",
        "yes": f"yes | head -c {log_size * 5}",
        "find_usr": "find /usr",
        "echo": "",  # keystroke echo, idle and while another tab floods
    }
    bars = {"seq": 1.0, "colour_wrap": 1.0, "colour_narrow": 1.0, "json": 1.25, "yes": 1.25, "find_usr": 1.25}
    if only:
        workloads = {k: v for k, v in workloads.items() if k in only.split(",")}
    home = tmp / "seen"
    home.mkdir(mode=0o711)
    env = {**os.environ, "SANDBENCH_HOME": str(home / "home"), "SANDBENCH_CONFIG": str(home / "config.toml")}
    box = "bench-seen"
    app, plain = Outer("app"), Outer("plain")
    print(f"# load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        subprocess.run([str(sandbench), "create", box], env=env, check=True, capture_output=True, timeout=120)
        for name, data in files.items():
            (tmp / name).write_bytes(data)
            subprocess.run([str(sandbench), "cp", str(tmp / name), f"{box}:{name}"], env=env, check=True, timeout=120)
        argv = ["env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color"]
        argv += [f"{k}={env[k]}" for k in ("SANDBENCH_HOME", "SANDBENCH_CONFIG")]
        argv.append(f"PYTHONPATH={Path(__file__).resolve().parents[1]}")  # the app of this tree, not the venv's
        argv += [str(sandbench), "open", box]
        app.tmux("new-session", "-d", "-s", "s", "-x", str(SEEN_COLS), "-y", str(SEEN_ROWS), *argv)
        app.wait(lambda lines: any("alt+3" in line for line in lines), "the workspace", timeout=120)
        app.tmux("send-keys", "-t", "s", "M-3")
        app.wait(lambda lines: any("$ " in line for line in lines), "the terminal pane's prompt")
        # the pane's size is on its frame ("78x18 ─╯"); the shell may have started before the pane settled on it,
        # so ask `stty size` until the PTY agrees; the prompt is made the plain shell's, so final screens compare
        label = app.wait(lambda lines: any(PANE_SIZE_RE.search(ln) for ln in lines), "the pane's size on its frame")
        cols, rows = next(m.groups() for ln in label if (m := PANE_SIZE_RE.search(ln)))
        for _ in range(50):
            app.tmux("send-keys", "-t", "s", "-l", "PS1='$ '; clear; stty size")
            app.tmux("send-keys", "-t", "s", "Enter")
            time.sleep(0.2)
            if any(_inner(ln) == f"{rows} {cols}" for ln in app.lines()):
                break
        else:
            raise SystemExit(f"as seen: the terminal's PTY never reported {rows} {cols}")
        shell = ["env", "PS1=$ ", "TERM=xterm-256color", "bash", "--norc", "--noprofile", "-i"]
        plain.tmux("new-session", "-d", "-s", "s", "-x", cols, "-y", rows, "-c", str(tmp), *shell)
        plain.wait(lambda lines: any("$" in line for line in lines), "the plain shell's prompt")
        n_cols, n_rows = int(cols), int(rows)
        print(
            f"# as seen: the app at {SEEN_COLS}x{SEEN_ROWS} in an outer tmux (terminal pane {cols}x{rows}, a local "
            f"sandbox) vs a plain tmux pane of {cols}x{rows}; time from Enter to DONE on screen, {runs} run(s), "
            "alternately; lag: the shell's wall-time marker after the workload → the capture showing DONE"
        )
        for name, command in workloads.items():
            if name == "echo":
                continue
            ratios, app_ts, plain_ts, app_lag, plain_lag = [], [], [], [], []
            same = True
            for _ in range(runs):
                a = time_to_done(app, command, lambda lines: app_rows(lines, n_rows, n_cols))
                a_end = float(
                    subprocess.run(
                        [str(sandbench), "cp", f"{box}:{MARKER}", "-"], env=env, capture_output=True, check=True
                    ).stdout
                )
                b = time_to_done(plain, command, lambda lines: plain_rows(lines, n_rows))
                b_end = float((tmp / MARKER).read_text())
                app_ts.append(a.to_done)
                plain_ts.append(b.to_done)
                ratios.append(a.to_done / b.to_done)
                app_lag.append((a.seen_at - a_end) * 1000)
                plain_lag.append((b.seen_at - b_end) * 1000)
                if a.screen != b.screen:
                    same = False
                    print(f"# {name}: final screens differ\n# app:   {a.screen}\n# tmux:  {b.screen}")
            ratios.sort()
            print(f"terminal.seen.{name}.app={statistics.median(app_ts):.2f} s (runs {fmt(app_ts)})")
            print(f"terminal.seen.{name}.tmux={statistics.median(plain_ts):.2f} s (runs {fmt(plain_ts)})")
            print(
                f"terminal.seen.{name}.app_over_tmux={statistics.median(ratios):.2f} x "
                f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}; bar <= {bars[name]})"
            )
            print(f"terminal.seen.{name}.lag_app={statistics.median(app_lag):.0f} ms (runs {fmt0(app_lag)}; bar <= 50)")
            print(f"terminal.seen.{name}.lag_tmux={statistics.median(plain_lag):.0f} ms (runs {fmt0(plain_lag)})")
            print(f"terminal.seen.{name}.final_screen_equal={'yes' if same else 'NO'}")
        if "echo" in workloads:
            echo_seen(app, plain, tmp, runs)
    finally:
        app.close()
        plain.close()
        subprocess.run([str(sandbench), "rm", "--force", box], env=env, capture_output=True, timeout=60, check=False)
        stop_host(Path(env["SANDBENCH_HOME"]))  # the session host the app started holds the terminals


SEEN_KEYS = 30
SEEN_GAP = 0.12  # seconds between keys: a person typing
FLOOD = "while :; do cat colour_narrow.log; done"  # what the other tab (tmux: window) prints meanwhile


def _in_bar(lines: list[str]) -> bool:
    return any("n new" in ln for ln in lines)  # the tab bar has focus: its keys are shown


def _in_term(lines: list[str]) -> bool:
    return any("leaves the terminal" in ln for ln in lines)  # a terminal has focus


def echo_seen(app: Outer, plain: Outer, tmp: Path, runs: int) -> None:
    """Keystroke echo as seen: idle, then while a second tab of the app (tmux: a second window, not shown)
    floods; `runs` rounds of SEEN_KEYS keys each side, alternately."""
    for tag, flood in (("idle", False), ("flood", True)):
        if flood:
            # the app: a new tab (ctrl+] leaves the terminal, n opens one, focused) floods; back to tab 1
            app.tmux("send-keys", "-t", "s", "C-]")
            app.wait(_in_bar, "the tab bar")
            app.tmux("send-keys", "-t", "s", "n")
            app.wait(lambda lines: any("2:shell" in ln for ln in lines) and _in_term(lines), "the second tab")
            app.wait(lambda lines: any(_inner(ln).endswith("$") for ln in lines), "the second tab's prompt")
            app.tmux("send-keys", "-t", "s", "-l", FLOOD)
            app.tmux("send-keys", "-t", "s", "Enter")
            time.sleep(1.0)
            app.tmux("send-keys", "-t", "s", "C-]")
            app.wait(_in_bar, "the tab bar")
            app.tmux("send-keys", "-t", "s", "h")
            app.wait(lambda lines: any(_inner(ln) == "$" for ln in lines), "tab 1's prompt")
            app.tmux("send-keys", "-t", "s", "Enter")
            app.wait(_in_term, "tab 1's terminal focused")
            plain.tmux("new-window", "-d", "-t", "s", "-c", str(tmp), f"bash -c '{FLOOD}'")
            time.sleep(1.0)
        a_ts: list[float] = []
        b_ts: list[float] = []
        pid = int(app.tmux("display-message", "-p", "-t", "s", "#{pane_pid}").strip())
        written = 0
        for _ in range(runs):
            before = _written(pid)
            a_ts += echo_times(app, SEEN_KEYS, SEEN_GAP)
            written += _written(pid) - before
            b_ts += echo_times(plain, SEEN_KEYS, SEEN_GAP)
        for side, ts in (("app", a_ts), ("tmux", b_ts)):
            print(
                f"terminal.seen.echo_{tag}.{side}_p50={pct(ts, 50):.1f} ms p90={pct(ts, 90):.1f} ms "
                f"max={max(ts):.1f} ms ({len(ts)} keys)"
            )
        # what the app wrote (its terminal, and a few bytes a key to the session host) per key typed, line clears
        # included: what an SSH link carries for each echo
        print(f"terminal.seen.echo_{tag}.app_bytes_per_key={written / len(a_ts):.0f} B")
        print(
            f"terminal.seen.echo_{tag}.app_over_tmux=p50 {pct(a_ts, 50) / pct(b_ts, 50):.2f} x, "
            f"p90 {pct(a_ts, 90) / pct(b_ts, 90):.2f} x (bar: flood <= 1.5x; idle p50 <= tmux + 2 ms: "
            f"{pct(a_ts, 50) - pct(b_ts, 50):+.1f} ms)"
        )


def _written(pid: int) -> int:
    """Bytes process `pid` has written so far (/proc/PID/io `wchar`: terminal, sockets and files alike)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def fmt0(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def memory_section() -> None:
    """Sections 3 and 4: reflow of 10,000 lines of scrollback against tmux, and its memory."""
    mem_lines = colour_log(3_000_000, seed=3)
    ours, theirs = reflow_times(tty_bytes(mem_lines))
    for cols, a, b in zip((120, COLS, 80), ours, theirs, strict=True):
        print(f"terminal.reflow_10k.to_{cols}.pane={a:.0f} ms")
        print(f"terminal.reflow_10k.to_{cols}.tmux={b:.0f} ms (resize-window and a query, from another process)")
    flood_mb, n1 = scrollback_memory(tty_bytes(mem_lines), 1 << 20)
    slow_mb, n2 = scrollback_memory(tty_bytes(mem_lines), 2048)
    print(f"terminal.scrollback_10k.flood_path={flood_mb:.1f} MB ({n1} lines)")
    print(f"terminal.scrollback_10k.line_path={slow_mb:.1f} MB ({n2} lines)")


if __name__ == "__main__":
    main()
