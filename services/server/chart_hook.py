"""The matplotlib hook of `code_run`: runs *inside the sandbox*, never imported by serve.

serve runs `python3 -c BOOT HOOK DESCRIBE CODE ARGV...` (see `toolbox_process.code_run`): `BOOT` is a constant one-liner
that executes this file's text (argv[1]) in a private namespace, so the user's `__main__` gets no extra names and
no file in the sandbox can stand in for the hook; DESCRIBE is the text of `chart_describe.py`, compiled only when
needed. The hook then runs CODE as `python3 -c CODE ARGV...` would: in the real `__main__`, compiled as "<string>",
with `sys.argv == ["-c", *ARGV]`, an uncaught exception printed by `sys.excepthook` without the hook's own frames,
exit status 1.

When (and only when) the code imports `matplotlib.pyplot`, its `show()` is replaced: each open figure is rendered
(Agg backend, unless the code's environment names one in MPLBACKEND) to a PNG and described as Daytona's image
does (`chart_describe.describe`), one JSON object a line on file descriptor 3, which serve reads as the chart
channel; the code's own stdout and stderr (both on fd 1/2) never carry a chart. Without matplotlib nothing
changes. At most `MAX_CHARTS` charts a run; serve checks every line again (it trusts nothing the sandbox writes).

The standard-library modules the hook needs are imported with `sys.path` cut down to the standard library's own
folder, so a `json.py` in the sandbox's working directory or on its PYTHONPATH is not picked up in their place;
then they are taken out of `sys.modules` again, so the code's own imports resolve as they would without the hook.
All of them only once the code imports matplotlib.pyplot (a module matplotlib has loaded by then is shared with it):
a run without matplotlib costs the hook the compile of this file and nothing else.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_os = sys.modules["os"]  # imported by the interpreter's start-up, before any user folder is on the path


def _stdlib(name: str) -> Any:
    """Module `name` from the standard library's own folder, whatever the code's path holds; forgotten again by
    `sys.modules` if this import loaded it (the hook keeps its reference), so the code's own imports resolve as
    they would without the hook."""
    path, loaded = sys.path[:], set(sys.modules)
    stdlib = _os.path.dirname(_os.__file__)
    sys.path[:] = [p for p in path if p == stdlib or p.startswith(stdlib + _os.sep)]
    try:
        __import__(name)
        return sys.modules[name]
    finally:
        sys.path[:] = path
        for new in set(sys.modules) - loaded:
            if new not in sys.builtin_module_names:
                del sys.modules[new]


MAX_CHARTS = 16
CHART_FD = 3

_state: dict[str, Any] = {"sent": 0, "channel": None, "json": None, "describe_source": "", "describe": None}


def _send(chart: dict[str, Any]) -> None:
    channel = _state["channel"]
    if channel is None:
        return
    try:
        channel.write(_state["json"].dumps(chart, allow_nan=False, default=str) + "\n")
        channel.flush()
    except (OSError, ValueError):
        _state["channel"] = None  # serve went away or the fd was closed by the code: charts stop, the code runs on


def _patched_show(pyplot: Any) -> Any:
    def show(*args: Any, **kwargs: Any) -> None:
        """Daytona's show(): every open figure becomes a chart of the run, then the figures are closed (as a GUI
        show() that returns has them closed); nothing is drawn on a screen."""
        for num in pyplot.get_fignums():
            if _state["sent"] >= MAX_CHARTS:
                break
            try:
                chart = _state["describe"](pyplot.figure(num))
            except Exception:  # noqa: S112 -- a figure the description cannot read is left out; the code goes on
                continue
            _state["sent"] += 1
            _send(chart)
        pyplot.close("all")

    return show


class _PyplotLoader:
    def __init__(self, loader: Any):
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        mpl = sys.modules["matplotlib"]
        if "MPLBACKEND" not in _os.environ:
            mpl.rcParams["backend"] = "agg"
        self.loader.exec_module(module)
        for sub in ("collections", "colorbar", "container", "dates", "patches"):  # what the description reads
            __import__(f"matplotlib.{sub}")
        # after pyplot: the modules matplotlib loaded itself are shared, not loaded twice
        names = {"__name__": "_charts_describe", "mpl": mpl}
        names.update((m, _stdlib(m)) for m in ("binascii", "io", "math"))
        source, _state["describe_source"] = _state["describe_source"], ""
        exec(compile(source, "<sandbench-charts>", "exec"), names)  # noqa: S102 -- chart_describe.py, from serve
        _state["json"], _state["describe"] = _stdlib("json"), names["describe"]
        module.show = _patched_show(module)


class _PyplotFinder:
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "matplotlib.pyplot":
            return None
        sys.meta_path.remove(self)  # once: the real finders locate the real module
        spec = _stdlib("importlib.util").find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _PyplotLoader(spec.loader)
        return spec


def main() -> None:
    _state["describe_source"], code = sys.argv.pop(1), sys.argv.pop(1)
    try:
        _os.set_inheritable(CHART_FD, False)  # the code's own child processes never see the chart channel
        _state["channel"] = open(CHART_FD, "w", encoding="utf-8", closefd=True)
    except OSError:
        pass  # started without the channel: the code runs, charts are not sent
    sys.meta_path.insert(0, _PyplotFinder())
    main_module = sys.modules["__main__"]
    try:
        exec(compile(code, "<string>", "exec"), main_module.__dict__)  # noqa: S102 -- running the code is the point
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as e:
        tb = e.__traceback__.tb_next if e.__traceback__ is not None else None  # this frame is not the user's
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        raise SystemExit(1) from None


main()
