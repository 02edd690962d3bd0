"""The charts of `code_run`: what serve makes of the chart channel `chart_hook.py` writes inside the sandbox.

The channel is sandbox output, so nothing in it is trusted: each line must be one JSON object, at most
`LINE_MAX` bytes, and only the fields of the SDK's `Chart`/`ChartElement` models are kept, each with the type the
SDK validates strictly (a number that is a bool, NaN or infinite is dropped; a bar's `value` is sent as text, as
the generated `ChartElement.value` is a string). A PNG that is not base64 of a PNG file of at most
`chart_hook.MAX_PNG` bytes is left out. At most `MAX_CHARTS` charts a run; the rest, and any line that does not
parse, are dropped without a word (the code's own output is elsewhere and unaffected).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

MAX_CHARTS = 16  # as chart_hook.MAX_CHARTS: the hook stops there, serve checks again
MAX_PNG = 2 * 1024 * 1024  # bytes of one decoded PNG (chart_hook.MAX_PNG)
MAX_ITEMS = 10_000  # elements of a chart, points of an element, ticks of an axis
LINE_MAX = 4 * 1024 * 1024  # bytes of one line of the channel
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

CHART_TEXT = ("type", "title", "x_label", "y_label", "x_scale", "y_scale")
CHART_NUMBERS = ("x_ticks", "y_ticks")
CHART_LABELS = ("x_tick_labels", "y_tick_labels")
ELEMENT_TEXT = ("label", "group", "type", "title", "x_label", "y_label")
ELEMENT_NUMBER = ("angle", "radius", "min", "max", "median", "first_quartile", "third_quartile")


def parse(channel: bytes) -> list[dict[str, Any]]:
    charts: list[dict[str, Any]] = []
    for line in channel.split(b"\n"):
        if len(charts) >= MAX_CHARTS:
            break
        if not line or len(line) > LINE_MAX:
            continue
        try:
            raw = json.loads(line)
        except ValueError:  # a line cut by the output cap, or not ours
            continue
        if isinstance(raw, dict):
            charts.append(_chart(raw, depth=0))
    return charts


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _numbers(value: Any) -> list[int | float] | None:
    if not isinstance(value, list):
        return None
    nums = [_number(v) for v in value[:MAX_ITEMS]]
    return [n for n in nums if n is not None]


def _png(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > (MAX_PNG + 2) // 3 * 4:
        return None
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return value if data.startswith(PNG_MAGIC) else None


def _chart(raw: dict[str, Any], *, depth: int) -> dict[str, Any]:
    chart: dict[str, Any] = {k: raw[k] for k in CHART_TEXT if isinstance(raw.get(k), str)}
    chart.setdefault("type", "unknown")
    for key in CHART_NUMBERS:
        if (nums := _numbers(raw.get(key))) is not None:
            chart[key] = nums
    for key in CHART_LABELS:
        if isinstance(labels := raw.get(key), list):
            chart[key] = [v for v in labels[:MAX_ITEMS] if isinstance(v, str)]
    if (png := _png(raw.get("png"))) is not None:
        chart["png"] = png
    elements = raw.get("elements")
    if not isinstance(elements, list):
        elements = []
    sub = chart["type"] == "composite_chart" and depth == 0
    chart["elements"] = [
        (_chart(e, depth=1) if sub else _element(e)) for e in elements[:MAX_ITEMS] if isinstance(e, dict)
    ]
    return chart


def _element(raw: dict[str, Any]) -> dict[str, Any]:
    element: dict[str, Any] = {k: raw[k] for k in ELEMENT_TEXT if isinstance(raw.get(k), str)}
    for key in ELEMENT_NUMBER:
        if (num := _number(raw.get(key))) is not None:
            element[key] = num
    value = raw.get("value")
    if (num := _number(value)) is not None:
        element["value"] = repr(num) if isinstance(num, float) else str(num)
    elif isinstance(value, str):
        element["value"] = value
    if (outliers := _numbers(raw.get("outliers"))) is not None:
        element["outliers"] = outliers
    if isinstance(points := raw.get("points"), list):
        element["points"] = [
            [p[0], p[1]]
            for p in points[:MAX_ITEMS]
            if isinstance(p, list) and len(p) == 2 and _number(p[0]) is not None and _number(p[1]) is not None
        ]
    if (png := _png(raw.get("png"))) is not None:
        element["png"] = png
    return element
