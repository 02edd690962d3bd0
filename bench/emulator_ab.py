"""The terminal emulator alone, this tree against a git revision, alternately: `python -m bench.emulator_ab`.

For a change to the emulator's code that must not cost throughput (a refactor, a split): the revision given by
`--ref` (default `main`) is unpacked with `git archive` into a temporary folder; each of `--rounds` fresh processes
loads both trees' emulators and times every workload `--runs` times per tree, the two alternately, in CPU seconds
(`time.process_time`, so other processes on a busy machine count less). Printed: the best for each tree, in ms, and
this tree's time over the reference's (`metric=value unit`). On a busy machine CPU time still swings by several %
between runs of the same code; `--instructions` counts instructions under valgrind instead (each tree and workload in
a process of its own, on the quick data, minus what loading costs), which the machine's load does not change.

Workloads, the paths `bench/terminal.py` measures through the pane, on the emulator alone:

* `seq`, `colour_200x50`, `colour_80x24`, `json_80x24`: floods fed as the pane feeds them (512 KiB bursts in 64 KiB
  slices, `more=True` but for a burst's last) — the flood path, wrapped rows, one long run;
* `narrow_78x18`, `text_78x18`: floods of short lines at the as-seen pane's size (78x18): the colour log whose
  lines fit the pane (`bench.terminal.narrow_log`), and lines of accented, CJK and Greek text, some coloured
  (`text_lines`: the flood path keeps them raw since issue 14's fourth pass);
* `colour_reads`: the colour log in 4 KiB reads without `more` (the exact line path, scrolling, packing);
* `unicode`: lines of accented, CJK and emoji text with SGR (the per-character path: widths and clusters);
* `reflow`: 10,000 lines of colour scrollback resized 200 → 120 → 200 → 80 columns.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.terminal import colour_log, minified_json, narrow_log, tty_bytes

ROOT = Path(__file__).resolve().parents[1]

# `time`: one interpreter holds both trees' emulators (each module keeps its own globals: styles, caches) and times
# them alternately, workload by workload, so the machine's load changes between them as little as it can. `count`:
# one tree, one workload (or none, for what loading costs), run once under valgrind. A tree's emulator is found
# under its own name (`Screen` in widgets/terminal/screen.py before issue 15).
CHILD = r"""
import json, sys, time, types
from pathlib import Path
mode = sys.argv[1]
if mode == "time":
    trees, data, runs = sys.argv[2:4], Path(sys.argv[4]), int(sys.argv[5])
else:
    trees, data, only = sys.argv[2:3], Path(sys.argv[3]), sys.argv[4]

def load(tree):
    for name in [m for m in sys.modules if m.split(".")[0] == "widgets"]:
        del sys.modules[name]
    # the packages without their __init__ (the terminal's imports the Textual widgets): the emulator and its imports
    for name, sub in (("widgets", "widgets"), ("widgets.terminal", "widgets/terminal")):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(Path(tree) / sub)]
        sys.modules[name] = pkg
    try:
        from widgets.terminal.emulator import Emulator
    except ImportError:
        from widgets.terminal.screen import Screen as Emulator
    where = Path(sys.modules[Emulator.__module__].__file__).resolve()
    assert where.is_relative_to(Path(tree).resolve()), where
    return Emulator

emulators = [load(tree) for tree in trees]

def flood(Emulator, raw, cols, rows):
    e = Emulator(cols, rows, scrollback=10_000)
    burst, piece = 512 * 1024, 64 * 1024
    t0 = time.process_time()
    for b in range(0, len(raw), burst):
        part = raw[b : b + burst]
        for i in range(0, len(part), piece):
            e.feed(part[i : i + piece], more=i + piece < len(part))
    return time.process_time() - t0

def reads(Emulator, raw, cols, rows, chunk=4096):
    e = Emulator(cols, rows, scrollback=10_000)
    t0 = time.process_time()
    for i in range(0, len(raw), chunk):
        e.feed(raw[i : i + chunk])
    return time.process_time() - t0

def reflow(Emulator, raw):
    e = Emulator(200, 50, scrollback=10_000)
    e.feed(raw)
    t0 = time.process_time()
    for cols in (120, 200, 80):
        e.resize(cols, 50)
    return time.process_time() - t0

seq, colour, blob, uni, small, narrow, text = (
    (data / n).read_bytes() for n in ("seq", "colour", "json", "unicode", "small", "narrow", "text")
)
works = {
    "seq": lambda E: flood(E, seq, 200, 50),
    "colour_200x50": lambda E: flood(E, colour, 200, 50),
    "colour_80x24": lambda E: flood(E, colour, 80, 24),
    "json_80x24": lambda E: flood(E, blob, 80, 24),
    "narrow_78x18": lambda E: flood(E, narrow, 78, 18),
    "text_78x18": lambda E: flood(E, text, 78, 18),
    "colour_reads": lambda E: reads(E, small, 200, 50),
    "unicode": lambda E: reads(E, uni, 120, 40),
    "reflow": lambda E: reflow(E, small),
}
if mode == "count":
    if only != "none":
        works[only](emulators[0])
    sys.exit(0)
best = [{}, {}]
for name, work in works.items():
    for r in range(runs):
        for k in (0, 1) if r % 2 == 0 else (1, 0):  # (who goes first alternates too)
            t = work(emulators[k])
            best[k][name] = min(t, best[k].get(name, t))
print(json.dumps(best))
"""
VALGRIND = "valgrind"
WORKS = (
    "seq",
    "colour_200x50",
    "colour_80x24",
    "json_80x24",
    "narrow_78x18",
    "text_78x18",
    "colour_reads",
    "unicode",
    "reflow",
)


def unicode_lines(n: int) -> bytes:
    parts = ["café", "漢字テキスト", "👨‍👩‍👧", "e\u0301", "\x1b[31mrød\x1b[0m", "naïve", "🇫🇷", "plain ascii words"]
    lines = [" ".join(parts[(i + k) % len(parts)] for k in range(6)) + f" {i}" for i in range(n)]
    return tty_bytes(("\n".join(lines) + "\n").encode())


def text_lines(n: int) -> bytes:
    """Short lines of ordinary non-ASCII text (each character a cell or two of its own), every third coloured."""
    words = ["café", "naïve", "Ærøskøbing", "漢字テキスト", "中文", "한국어", "straße", "Ωμέγα", "—", "plain", "ascii"]
    lines = []
    for i in range(n):
        text = " ".join(words[(i * 7 + k) % len(words)] for k in range(2 + i % 5))
        lines.append(f"{i} \x1b[3{i % 7}m{text}\x1b[0m" if i % 3 == 0 else f"{i} {text}")
    return tty_bytes(("\n".join(lines) + "\n").encode())


def write_data(folder: Path, quick: bool) -> None:
    scale = 4 if quick else 1
    # the floods are sized to take 100-300 ms each: shorter ones swing by several % on a busy machine
    seq = "".join(f"{i}\n" for i in range(1, 1_500_000 // scale))
    (folder / "seq").write_bytes(tty_bytes(seq.encode()))
    (folder / "colour").write_bytes(tty_bytes(colour_log(10_000_000 // scale)))
    (folder / "json").write_bytes(tty_bytes(minified_json(10_000_000 // scale)))
    (folder / "unicode").write_bytes(unicode_lines(40_000 // scale))
    (folder / "small").write_bytes(tty_bytes(colour_log(3_000_000 // scale, seed=3)))
    (folder / "narrow").write_bytes(tty_bytes(narrow_log(10_000_000 // scale)))
    (folder / "text").write_bytes(text_lines(200_000 // scale))


def run_pair(ref_tree: Path, head_tree: Path, data: Path, runs: int) -> list[dict[str, float]]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "time", str(ref_tree), str(head_tree), str(data), str(runs)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def instructions(tree: Path, data: Path, work: str) -> int:
    """Instructions the process ran (valgrind's callgrind, `Collected`): the same on a busy machine as on an idle
    one, so a difference of 1 % is a difference in the code."""
    argv = [sys.executable, "-c", CHILD, "count", str(tree), str(data), work]
    done = subprocess.run(
        [VALGRIND, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        check=True,
        capture_output=True,
        text=True,
        cwd=tree,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    assert found, done.stderr[-2000:]
    return int(found.group(1))


def unpack(rev: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="main", help="the git revision to measure against (default: main)")
    ap.add_argument("--head", help="a git revision to measure instead of this working tree")
    ap.add_argument("--rounds", type=int, default=3, help="processes, each timing both trees (best is kept)")
    ap.add_argument("--runs", type=int, default=5, help="runs of each workload per tree in one process (best kept)")
    ap.add_argument("--quick", action="store_true", help="a quarter of the data")
    ap.add_argument(
        "--instructions", action="store_true", help="count instructions under valgrind instead (quick data, slow)"
    )
    ap.add_argument("--works", help=f"comma-separated workloads for --instructions (default: all of {','.join(WORKS)})")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="emulator-ab-") as tmp:
        ref_tree, data = Path(tmp) / "ref", Path(tmp) / "data"
        ref_tree.mkdir()
        data.mkdir()
        unpack(args.ref, ref_tree)
        head_tree = ROOT
        if args.head:
            head_tree = Path(tmp) / "head"
            head_tree.mkdir()
            unpack(args.head, head_tree)
        write_data(data, args.quick or args.instructions)
        head_name = args.head or "this working tree"
        if args.instructions:
            base = {t: instructions(t, data, "none") for t in (ref_tree, head_tree)}
        if args.instructions:
            print(f"# emulator alone, instructions (valgrind), quick data; reference {args.ref}, head {head_name}")
            for work in args.works.split(",") if args.works else WORKS:
                ref_n, head_n = (instructions(t, data, work) - base[t] for t in (ref_tree, head_tree))
                print(f"emulator_ab.{work}.ref_instructions={ref_n / 1e6:.1f} M")
                print(f"emulator_ab.{work}.head_instructions={head_n / 1e6:.1f} M")
                print(f"emulator_ab.{work}.head_over_ref_instructions={head_n / ref_n:.4f} x")
            return
        best: list[dict[str, float]] = [{}, {}]
        for _ in range(args.rounds):
            for k, times in enumerate(run_pair(ref_tree, head_tree, data, args.runs)):
                for work, t in times.items():
                    best[k][work] = min(t, best[k].get(work, t))
    runs = f"{args.rounds} processes x {args.runs} runs, the two trees alternately"
    print(f"# emulator alone, CPU, best of {runs}; reference {args.ref}, head {head_name}")
    for work, ref_t in best[0].items():
        head_t = best[1][work]
        print(f"emulator_ab.{work}.ref={ref_t * 1000:.0f} ms")
        print(f"emulator_ab.{work}.head={head_t * 1000:.0f} ms")
        print(f"emulator_ab.{work}.head_over_ref={head_t / ref_t:.3f} x")


if __name__ == "__main__":
    main()
