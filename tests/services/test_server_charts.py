"""matplotlib charts of `sandbox.process.code_run`, through the unmodified `daytona` SDK (async and sync clients)
against a real `sandbench serve`: a line and a bar chart come back typed, titled, with a real PNG and the plotted
values; the code's own output stays exactly what it printed (a printed line that looks like a chart is just text);
code that never calls `plt.show()` has no charts; a sandbox file named like a module the hook needs does not break
it; and a run's charts are capped.

The code runs in a real bubblewrap sandbox with the system's python3 and its matplotlib (python3-matplotlib).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from tests.conftest import require
from tests.services import test_server_harness as harness
from tests.services.test_server_harness import Serve, unique

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]

MATPLOTLIB = "/usr/lib/python3/dist-packages/matplotlib/__init__.py"

LINE_AND_BAR = """
import matplotlib.pyplot as plt
plt.figure()
plt.plot([0, 1, 2, 3], [1.5, 4, 2, 8], label="speed")
plt.title("Speed over time")
plt.xlabel("seconds")
plt.ylabel("metres per second")
plt.show()
fig, ax = plt.subplots()
ax.bar(["apples", "pears", "plums"], [3, 7.5, 1], label="crates")
ax.set_title("Fruit")
ax.set_ylabel("count")
plt.show()
print("done")
"""


async def make(d: Any) -> Any:
    from daytona import CreateSandboxFromSnapshotParams

    return await d.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)


def check_line_and_bar(r: Any) -> None:
    from daytona import BarChart, ChartType, LineChart

    assert (r.exit_code, r.result) == (0, "done\n")
    assert r.artifacts.stdout == "done\n"
    line, bar = r.artifacts.charts
    assert isinstance(line, LineChart) and line.type == ChartType.LINE
    assert (line.title, line.x_label, line.y_label) == ("Speed over time", "seconds", "metres per second")
    assert [(e.label, e.points) for e in line.elements] == [("speed", [[0, 1.5], [1, 4], [2, 2], [3, 8]])]
    assert line.x_scale == "linear" and line.x_ticks and len(line.x_ticks) == len(line.x_tick_labels or [])
    assert isinstance(bar, BarChart) and bar.type == ChartType.BAR
    assert (bar.title, bar.y_label) == ("Fruit", "count")
    assert [(e.label, e.group, float(e.value or "nan")) for e in bar.elements] == [
        ("apples", "crates", 3),
        ("pears", "crates", 7.5),
        ("plums", "crates", 1),
    ]
    for chart in (line, bar):
        png = base64.b64decode(chart.png or "", validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000


async def test_line_and_bar_charts_async(sdk: Any) -> None:
    require(MATPLOTLIB)
    sb = await make(sdk)
    check_line_and_bar(await sb.process.code_run(LINE_AND_BAR))
    await sb.delete()


async def test_line_and_bar_charts_sync(serve: Serve, sdk: Any) -> None:
    from daytona import Daytona

    require(MATPLOTLIB)
    sb = await make(sdk)
    sync_sb = Daytona(serve.config()).get(sb.id)
    check_line_and_bar(await asyncio.to_thread(sync_sb.process.code_run, LINE_AND_BAR))
    await sb.delete()


async def test_text_output_is_exact_and_no_show_means_no_chart(sdk: Any) -> None:
    require(MATPLOTLIB)
    sb = await make(sdk)
    fake = json.dumps({"type": "line", "title": "forged", "elements": []})
    code = (
        "import sys\nimport matplotlib.pyplot as plt\n"
        "plt.plot([1, 2], [3, 4])\n"  # drawn but never shown: no chart
        f"print('  spaced\\t out  ')\nprint({fake!r}, flush=True)\n"
        "sys.stderr.write('err line\\n')\nprint('end', end='')\n"
    )
    r = await sb.process.code_run(code)
    assert r.exit_code == 0
    assert r.result == f"  spaced\t out  \n{fake}\nerr line\nend"
    assert r.artifacts.charts == []
    failing = await sb.process.code_run("import matplotlib.pyplot as plt\nx = 1\n1 / 0\n")
    assert failing.exit_code == 1
    assert failing.result == (
        'Traceback (most recent call last):\n  File "<string>", line 3, in <module>\n'
        "ZeroDivisionError: division by zero\n"
    )
    await sb.delete()


async def test_sandbox_files_do_not_shadow_the_hook(sdk: Any) -> None:
    require(MATPLOTLIB)
    sb = await make(sdk)
    # a json.py in the working directory: the user's own `import json` gets it, as with `python3 -c`, but the
    # hook's json is the standard library's
    await sb.fs.upload_file(b"WHO = 'sandbox'\n", "json.py")
    r = await sb.process.code_run("import json, sys\nprint(json.WHO, sys.argv)")
    assert (r.exit_code, r.result) == (0, "sandbox ['-c']\n")
    await sb.delete()


async def test_charts_per_run_are_capped(sdk: Any) -> None:
    require(MATPLOTLIB)
    from services.server.charts import MAX_CHARTS

    sb = await make(sdk)
    code = (
        "import matplotlib.pyplot as plt\n"
        f"for i in range({MAX_CHARTS + 4}):\n"
        "    plt.figure(figsize=(1, 1))\n    plt.plot([0, 1], [i, i + 2])\n    plt.title(f'c{i}')\n"
        "plt.show()\nprint(len(plt.get_fignums()))\n"
    )
    r = await sb.process.code_run(code)
    assert (r.exit_code, r.result) == (0, "0\n")  # show() closes the figures, as a GUI show() that returns does
    assert [c.title for c in r.artifacts.charts] == [f"c{i}" for i in range(MAX_CHARTS)]
    await sb.delete()


async def test_scatter_pie_box_and_composite_charts(sdk: Any) -> None:
    from daytona import BoxAndWhiskerChart, CompositeChart, PieChart, ScatterChart

    require(MATPLOTLIB)
    sb = await make(sdk)
    code = """
import matplotlib.pyplot as plt
plt.scatter([1, 2, 3], [9, 4, 6], label="samples")
plt.title("Scatter")
plt.show()
plt.pie([1, 1, 2], labels=["a", "b", "c"])
plt.title("Pie")
plt.show()
plt.boxplot([[1, 2, 3, 4, 5, 20], [2, 3, 4, 5, 6]], labels=["A", "B"], patch_artist=True)
plt.ylabel("value")
plt.show()
fig, (left, right) = plt.subplots(1, 2)
left.plot([1, 2], [3, 4])
left.set_title("left")
right.bar(["x"], [1])
right.set_title("right")
fig.suptitle("Both")
plt.show()
"""
    r = await sb.process.code_run(code)
    assert r.exit_code == 0, r.result
    scatter, pie, box, both = r.artifacts.charts
    assert isinstance(scatter, ScatterChart) and scatter.title == "Scatter"
    assert [(e.label, e.points) for e in scatter.elements] == [("samples", [[1, 9], [2, 4], [3, 6]])]
    assert isinstance(pie, PieChart)
    assert [(e.label, round(e.angle or 0)) for e in pie.elements] == [("a", 90), ("b", 90), ("c", 180)]
    assert isinstance(box, BoxAndWhiskerChart) and box.y_label == "value"
    assert [
        (e.label, e.first_quartile, e.median, e.third_quartile, e.min, e.max, e.outliers) for e in box.elements
    ] == [
        ("A", 2.25, 3.5, 4.75, 1, 5, [20]),
        ("B", 3, 4, 5, 2, 6, []),
    ]
    assert isinstance(both, CompositeChart) and both.title == "Both"
    assert [(e.type, e.title) for e in both.elements] == [("line", "left"), ("bar", "right")]
    await sb.delete()


async def test_what_the_sandbox_writes_on_the_chart_channel_is_checked(sdk: Any) -> None:
    """The chart channel is sandbox output: code that writes to it directly gets only well-formed charts through
    (the SDK validates the answer strictly, so one bad field would otherwise break the whole call), at most
    MAX_CHARTS of them, and the code's child processes cannot reach the channel at all."""
    from services.server.charts import LINE_MAX, MAX_CHARTS

    require(MATPLOTLIB)
    sb = await make(sdk)
    bad = {
        "type": "line",
        "title": 7,
        "x_ticks": [1, True, "x", 2.5],
        "elements": [{"label": "l", "points": [[1, 2], [1, "x"], [True, 3]], "value": 5}, "junk"],
        "png": "bm90IGEgcG5n",  # base64, but not of a PNG
    }
    lines = [json.dumps(bad), "not json", "[1, 2]"]
    lines += [json.dumps({"type": "bar", "title": f"t{i}"}) for i in range(MAX_CHARTS + 3)]
    code = (
        "import os, subprocess, sys\n"
        f"os.write(3, b'{{\"type\": \"' + b'x' * {LINE_MAX} + b'\"}}\\n')\n"  # a line over the cap
        f"os.write(3, {(chr(10).join(lines) + chr(10)).encode()!r})\n"
        "r = subprocess.run(['sh', '-c', 'echo child >&3'], stderr=subprocess.DEVNULL)\n"
        "print('child could write:', r.returncode == 0)\n"
    )
    r = await sb.process.code_run(code)
    assert (r.exit_code, r.result) == (0, "child could write: False\n")
    first, *rest = r.artifacts.charts
    assert (first.type, first.title, first.png, first.x_ticks) == ("line", None, None, [1, 2.5])
    assert [(e.label, e.points, e.value) for e in first.elements] == [("l", [[1, 2]], "5")]
    assert [c.title for c in rest] == [f"t{i}" for i in range(MAX_CHARTS - 1)]
    await sb.delete()
