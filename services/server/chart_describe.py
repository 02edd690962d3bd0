"""How `chart_hook` describes a matplotlib figure: the chart Daytona's image answers, as a dict. Runs *inside the
sandbox*, never imported by serve.

The hook compiles this file's text only once the code imports matplotlib.pyplot (a run without matplotlib does not
pay for it), in a namespace that already holds the modules it uses (`math`, `binascii`, `io`, imported from the
standard library's folder by the hook) and `mpl`, the code's matplotlib; `describe(fig)` is the entry point.

Types: line and scatter (`points` of each line or point set, as matplotlib converted them: numbers, dates as day
numbers), bar (`label` from the category axis, `group` from the bar set's label, `value`), pie (`label`, `angle`,
`radius` of each wedge), box_and_whisker (boxes drawn with `patch_artist=True`: quartiles, median, whisker ends,
outliers), composite_chart for a figure of several axes (`elements` are the sub-charts), else unknown. Bounds:
a PNG of at most `MAX_PNG` bytes (redrawn at lower dpi, then left out), `MAX_ELEMENTS` elements, `MAX_POINTS`
points an element.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # at run time the hook puts these names in the namespace
    import binascii
    import io
    import math
    from typing import Any

    mpl: Any = None

MAX_PNG = 2 * 1024 * 1024
MAX_ELEMENTS = 256
MAX_POINTS = 10_000


def _num(value: Any) -> float | int | None:
    """A plain JSON number (numpy scalars, dates already converted by matplotlib); None for anything else."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return int(f) if f.is_integer() and abs(f) < 2**53 and not isinstance(value, float) else f


def _text(value: Any) -> str:
    return value.get_text() if hasattr(value, "get_text") else str(value)


def _is_grid_line(line: Any) -> bool:
    xs, ys = line.get_xdata(), line.get_ydata()
    return len(xs) == 2 and len(ys) == 2 and (xs[0] == xs[1] or ys[0] == ys[1])


def _points(xy: Any) -> list[list[float | int]]:
    out = []
    for x, y in list(xy)[:MAX_POINTS]:
        px, py = _num(x), _num(y)
        if px is not None and py is not None:
            out.append([px, py])
    return out


def _tick_label(ticks: Any, labels: list[str], at: float) -> str:
    for tick, label in zip(ticks, labels):  # noqa: B905 -- the sandbox's python3 may predate strict=
        if abs(float(tick) - at) < 1e-9 and label:
            return label
    return f"{at:g}"


def _chart_type(ax: Any) -> str:
    lines = [ln for ln in ax.lines if not _is_grid_line(ln)]
    patches, collections = list(ax.patches), list(ax.collections)
    if patches and all(isinstance(p, mpl.patches.Wedge) for p in patches) and not lines and not collections:
        return "pie"
    bars = [c for c in ax.containers if isinstance(c, mpl.container.BarContainer)]
    if bars and all(isinstance(p, mpl.patches.Rectangle) for p in patches) and not lines and not collections:
        return "bar"
    if patches and all(isinstance(p, mpl.patches.PathPatch) for p in patches) and not collections:
        return "box_and_whisker"
    if lines and not patches and not collections:
        return "line"
    if collections and all(isinstance(c, mpl.collections.PathCollection) for c in collections):
        if not lines and not patches:
            return "scatter"
    return "unknown"


def _bar_elements(ax: Any) -> tuple[list[dict[str, Any]], bool]:
    elements: list[dict[str, Any]] = []
    horizontal = False
    for container in ax.containers:
        if not isinstance(container, mpl.container.BarContainer):
            continue
        horizontal = getattr(container, "orientation", "vertical") == "horizontal"
        axis = ax.yaxis if horizontal else ax.xaxis
        ticks, labels = axis.get_ticklocs(), [_text(t) for t in axis.get_ticklabels()]
        group = container.get_label()
        for rect in list(container)[:MAX_ELEMENTS]:
            if horizontal:
                at, value = rect.get_y() + rect.get_height() / 2, rect.get_width()
            else:
                at, value = rect.get_x() + rect.get_width() / 2, rect.get_height()
            elements.append({"label": _tick_label(ticks, labels, at), "group": group, "value": _num(value)})
    return elements[:MAX_ELEMENTS], horizontal


def _pie_elements(ax: Any) -> list[dict[str, Any]]:
    wedges = [p for p in ax.patches if isinstance(p, mpl.patches.Wedge)]
    texts = [t.get_text() for t in ax.texts]
    # pie() adds one label text per wedge, then (with autopct) one percentage text per wedge
    labels = texts[0 : 2 * len(wedges) : 2] if len(texts) == 2 * len(wedges) else texts[: len(wedges)]
    return [
        {
            "label": labels[i] if i < len(labels) else "",
            "angle": _num(abs(w.theta2 - w.theta1)),
            "radius": _num(w.r),
        }
        for i, w in enumerate(wedges[:MAX_ELEMENTS])
    ]


def _box_elements(ax: Any) -> tuple[list[dict[str, Any]], bool]:
    boxes = []
    for patch in ax.patches[:MAX_ELEMENTS]:
        v = patch.get_path().vertices
        boxes.append((float(v[:, 0].min()), float(v[:, 0].max()), float(v[:, 1].min()), float(v[:, 1].max())))
    # a whisker runs along the box's centre line: upright boxes have a whisker at constant x, boxplot(vert=False)
    # ones at constant y
    horizontal = False
    if boxes:
        x0, x1, y0, y1 = boxes[0]
        for line in ax.lines:
            xs, ys = [float(v) for v in line.get_xdata()], [float(v) for v in line.get_ydata()]
            # from an edge of this box outwards: not a median or a cap, nor a line of another box
            beyond = bool(xs) and (abs(xs[0] - x0) < 1e-9 or abs(xs[0] - x1) < 1e-9) and not x0 <= xs[-1] <= x1
            if len(xs) == 2 and len(ys) == 2 and beyond and ys[0] == ys[1] == (y0 + y1) / 2:
                horizontal = True
                break
    axis = ax.yaxis if horizontal else ax.xaxis
    ticks, labels = axis.get_ticklocs(), [_text(t) for t in axis.get_ticklabels()]
    elements = []
    for x0, x1, y0, y1 in boxes:
        lo, hi, across0, across1 = (x0, x1, y0, y1) if horizontal else (y0, y1, x0, x1)
        center = (across0 + across1) / 2
        element: dict[str, Any] = {
            "label": _tick_label(ticks, labels, center),
            "first_quartile": _num(lo),
            "third_quartile": _num(hi),
            "outliers": [],
        }
        low, high = lo, hi
        for line in ax.lines:
            along, acr = (line.get_xdata(), line.get_ydata()) if horizontal else (line.get_ydata(), line.get_xdata())
            if len(along) == 0 or not all(across0 - 1e-9 <= float(a) <= across1 + 1e-9 for a in acr):
                continue
            vals = [float(a) for a in along]
            if len(vals) == 2 and vals[0] == vals[1] and lo <= vals[0] <= hi and len(set(map(float, acr))) == 2:
                if abs(float(acr[0]) - across0) < 1e-9 or abs(float(acr[1]) - across1) < 1e-9:
                    element["median"] = _num(vals[0])
            elif line.get_linestyle() == "None":  # the fliers: markers only
                element["outliers"] = [_num(v) for v in vals[:MAX_POINTS]]
            else:
                low, high = min(low, *vals), max(high, *vals)
        element["min"], element["max"] = _num(low), _num(high)
        elements.append(element)
    return elements, horizontal


def _ticks(axis: Any) -> tuple[list[Any], list[str]]:
    return [_num(t) for t in axis.get_ticklocs()], [_text(t) for t in axis.get_ticklabels()]


def _scale(axis: Any, scale: str, ticks: list[Any], labels: list[str]) -> str:
    dates = tuple(getattr(mpl.dates, n) for n in ("DateConverter", "_SwitchableDateConverter") if hasattr(mpl.dates, n))
    if isinstance(axis.converter, dates):
        return "datetime"
    if scale != "linear":
        return scale
    pairs = enumerate(zip(ticks, labels))  # noqa: B905 -- the sandbox's python3 may predate strict=
    categorical = bool(ticks) and all(t == i and str(i) != lab for i, (t, lab) in pairs)
    return "categorical" if categorical else "linear"


def _axes_data(ax: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"title": ax.get_title(), "x_label": ax.get_xlabel(), "y_label": ax.get_ylabel()}
    for name, axis, scale in (("x", ax.xaxis, ax.get_xscale()), ("y", ax.yaxis, ax.get_yscale())):
        ticks, labels = _ticks(axis)
        data[f"{name}_ticks"], data[f"{name}_tick_labels"] = ticks, labels
        data[f"{name}_scale"] = _scale(axis, scale, ticks, labels)
    kind = _chart_type(ax)
    elements: list[dict[str, Any]] = []
    swap = False
    if kind == "line":
        lines = [ln for ln in ax.lines if not _is_grid_line(ln)]
        elements = [{"label": ln.get_label(), "points": _points(ln.get_xydata())} for ln in lines[:MAX_ELEMENTS]]
    elif kind == "scatter":
        elements = [{"label": c.get_label(), "points": _points(c.get_offsets())} for c in ax.collections[:MAX_ELEMENTS]]
    elif kind == "bar":
        elements, swap = _bar_elements(ax)
    elif kind == "pie":
        elements = _pie_elements(ax)
    elif kind == "box_and_whisker":
        elements, swap = _box_elements(ax)
    if swap:  # Daytona names the category axis x and the value axis y, whatever way the bars point
        data["x_label"], data["y_label"] = data["y_label"], data["x_label"]
    data["type"], data["elements"] = kind, elements
    return data


def _png(fig: Any) -> str | None:
    for dpi in (100, 50, 25):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight", dpi=dpi)
        if buf.tell() <= MAX_PNG:
            return binascii.b2a_base64(buf.getvalue(), newline=False).decode("ascii")
    return None


def describe(fig: Any) -> dict[str, Any]:
    png = _png(fig)  # drawing first also fills in the tick labels read below
    axes = [
        ax
        for ax in fig.axes
        if not (ax.get_subplotspec() is not None and not ax.has_data())  # an empty subplot
        and not any(isinstance(c, mpl.colorbar._ColorbarSpine) for c in ax.get_children())  # a colorbar
    ]
    subplots = [_axes_data(ax) for ax in axes[:MAX_ELEMENTS]]
    if len(subplots) > 1:
        title = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
        chart: dict[str, Any] = {"type": "composite_chart", "title": title, "elements": subplots}
    else:
        chart = subplots[0] if subplots else {"type": "unknown", "title": "", "elements": []}
    if png is not None:
        chart["png"] = png
    return chart
