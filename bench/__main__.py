"""`make bench`: run every benchmark module in bench/ that exists, each in its own process, one after another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ORDER = ["service", "startup", "editor", "explorer", "terminal", "git", "search", "daytona"]


def main() -> int:
    here = Path(__file__).parent
    names = [n for n in ORDER if (here / f"{n}.py").exists()]
    names += sorted(p.stem for p in here.glob("*.py") if p.stem not in ORDER and not p.stem.startswith("_"))
    failed = 0
    for name in names:
        print(f"## bench.{name}", flush=True)
        failed |= subprocess.call([sys.executable, "-m", f"bench.{name}"]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
