"""The terminal emulator alone, this tree against a git revision, alternately: `python -m bench.emulator_ab`.

For a change to the emulator's code that must not cost throughput (a refactor, a split): the revision given by
`--ref` (default `main`) is unpacked with `git archive` into a temporary folder, and each round runs one fresh
process per tree (the reference first, then this tree, then the reference ...), each timing every workload
`--runs` times in CPU seconds (`time.process_time`, so other processes on a busy machine count less). Printed: the
best for each tree, in ms, and this tree's time over the reference's (`metric=value unit`).

Workloads, the paths `bench/terminal.py` measures through the pane, on the emulator alone:

* `seq`, `colour_200x50`, `colour_80x24`, `json_80x24`: floods fed as the pane feeds them (512 KiB bursts in 64 KiB
  slices, `more=True` but for a burst's last) — the flood path, wrapped rows, one long run;
* `colour_reads`: the colour log in 4 KiB reads without `more` (the exact line path, scrolling, packing);
* `unicode`: lines of accented, CJK and emoji text with SGR (the per-character path: widths and clusters);
* `reflow`: 10,000 lines of colour scrollback resized 200 → 120 → 200 → 80 columns.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.terminal import colour_log, minified_json, tty_bytes

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter with the tree under test first on sys.path (ahead of the editable install's finder);
# either tree's emulator is found under its own name (`Screen` in widgets/terminal/screen.py before issue 15).
CHILD = r"""
import json, sys, time
from pathlib import Path
tree, data = sys.argv[1], Path(sys.argv[2])  # and argv[3]: runs of each workload
sys.path.insert(0, tree)
try:
    from widgets.terminal.emulator import Emulator
except ImportError:
    from widgets.terminal.screen import Screen as Emulator
import widgets
assert Path(widgets.__file__).resolve().is_relative_to(Path(tree).resolve()), widgets.__file__

def flood(raw, cols, rows):
    e = Emulator(cols, rows, scrollback=10_000)
    burst, piece = 512 * 1024, 64 * 1024
    t0 = time.process_time()
    for b in range(0, len(raw), burst):
        part = raw[b : b + burst]
        for i in range(0, len(part), piece):
            e.feed(part[i : i + piece], more=i + piece < len(part))
    return time.process_time() - t0

def reads(raw, cols, rows, chunk=4096):
    e = Emulator(cols, rows, scrollback=10_000)
    t0 = time.process_time()
    for i in range(0, len(raw), chunk):
        e.feed(raw[i : i + chunk])
    return time.process_time() - t0

def reflow(raw):
    e = Emulator(200, 50, scrollback=10_000)
    e.feed(raw)
    t0 = time.process_time()
    for cols in (120, 200, 80):
        e.resize(cols, 50)
    return time.process_time() - t0

seq, colour, blob, uni, small = (
    (data / n).read_bytes() for n in ("seq", "colour", "json", "unicode", "small")
)
works = {
    "seq": lambda: flood(seq, 200, 50),
    "colour_200x50": lambda: flood(colour, 200, 50),
    "colour_80x24": lambda: flood(colour, 80, 24),
    "json_80x24": lambda: flood(blob, 80, 24),
    "colour_reads": lambda: reads(small, 200, 50),
    "unicode": lambda: reads(uni, 120, 40),
    "reflow": lambda: reflow(small),
}
# the best of a few in one process: the pane is a long-lived process, its caches (SGR, widths) warm
print(json.dumps({name: min(work() for _ in range(int(sys.argv[3]))) for name, work in works.items()}))
"""


def unicode_lines(n: int) -> bytes:
    parts = ["café", "漢字テキスト", "👨‍👩‍👧", "e\u0301", "\x1b[31mrød\x1b[0m", "naïve", "🇫🇷", "plain ascii words"]
    lines = [" ".join(parts[(i + k) % len(parts)] for k in range(6)) + f" {i}" for i in range(n)]
    return tty_bytes(("\n".join(lines) + "\n").encode())


def write_data(folder: Path, quick: bool) -> None:
    scale = 4 if quick else 1
    seq = "".join(f"{i}\n" for i in range(1, 300_000 // scale))
    (folder / "seq").write_bytes(tty_bytes(seq.encode()))
    (folder / "colour").write_bytes(tty_bytes(colour_log(3_000_000 // scale)))
    (folder / "json").write_bytes(tty_bytes(minified_json(1_250_000 // scale)))
    (folder / "unicode").write_bytes(unicode_lines(40_000 // scale))
    (folder / "small").write_bytes(tty_bytes(colour_log(3_000_000 // scale, seed=3)))


def run_tree(tree: Path, data: Path, runs: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), str(data), str(runs)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tree,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="main", help="the git revision to measure against (default: main)")
    ap.add_argument("--rounds", type=int, default=5, help="processes per tree, alternately (best is kept)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each workload in one process (best is kept)")
    ap.add_argument("--quick", action="store_true", help="a quarter of the data")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="emulator-ab-") as tmp:
        ref_tree, data = Path(tmp) / "ref", Path(tmp) / "data"
        ref_tree.mkdir()
        data.mkdir()
        archive = subprocess.run(["git", "archive", args.ref], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(ref_tree)], input=archive, check=True)
        write_data(data, args.quick)
        best: dict[str, dict[str, float]] = {"ref": {}, "head": {}}
        for _ in range(args.rounds):
            for name, tree in (("ref", ref_tree), ("head", ROOT)):
                for work, t in run_tree(tree, data, args.runs).items():
                    best[name][work] = min(t, best[name].get(work, t))
    runs = f"{args.rounds} alternating processes x {args.runs} runs"
    print(f"# emulator alone, CPU, best of {runs}; reference {args.ref}")
    for work, ref_t in best["ref"].items():
        head_t = best["head"][work]
        print(f"emulator_ab.{work}.ref={ref_t * 1000:.0f} ms")
        print(f"emulator_ab.{work}.head={head_t * 1000:.0f} ms")
        print(f"emulator_ab.{work}.head_over_ref={head_t / ref_t:.3f} x")


if __name__ == "__main__":
    main()
