"""Rules of the UI layers checked on the source (AST), so a new call cannot slip past review (DESIGN §5.7, §7).

- Sandbox text is never markup: every notification goes through `widgets.messages.tell` (the only `notify(` call,
  with `markup=False`), and no widget that parses a `str` as markup (`Static`, `Label`, `update`, `Option`, ...)
  is given an f-string.
- An unexpected exception never closes the app: every worker (`@work`, `run_worker`) has `exit_on_error=False`, and
  every class that runs workers carries `ReportWorkerErrors`, so its failures reach the app's one error route.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

from widgets.messages import ReportWorkerErrors

REPO = Path(__file__).resolve().parents[1]
UI_DIRS = ("widgets", "tui")
HELPER = Path("widgets/messages.py")  # the one place allowed to call notify()
RENDERS_STR = {"Static", "Label", "update", "Option", "Button", "Tab", "TabPane"}  # parse a str as markup


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for d in UI_DIRS:
        for f in sorted((REPO / d).rglob("*.py")):
            yield f.relative_to(REPO), ast.parse(f.read_text(encoding="utf-8"))


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_false(call: ast.Call, keyword: str) -> bool:
    value = next((k.value for k in call.keywords if k.arg == keyword), None)
    return isinstance(value, ast.Constant) and value.value is False


def _calls(name: str) -> Iterator[tuple[Path, ast.Call]]:
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) == name:
                yield path, node


def test_every_notification_goes_through_the_one_helper_without_markup() -> None:
    bad = [f"{p}:{c.lineno}" for p, c in _calls("notify") if p != HELPER or not _is_false(c, "markup")]
    assert not bad, f"notify() outside widgets.messages.tell or without markup=False: {bad}"


def test_no_fstring_is_rendered_as_markup() -> None:
    bad = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _name(node.func) in RENDERS_STR) or _is_false(node, "markup"):
                continue
            if any(isinstance(a, ast.JoinedStr) for a in node.args):
                bad.append(f"{path}:{node.lineno}")
    assert not bad, f"f-string given to a widget that parses str as markup: wrap it in Text or Content: {bad}"


def test_every_worker_reports_instead_of_closing_the_app() -> None:
    bad = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for dec in node.decorator_list:
                    target = dec.func if isinstance(dec, ast.Call) else dec
                    if _name(target) == "work" and not (isinstance(dec, ast.Call) and _is_false(dec, "exit_on_error")):
                        bad.append(f"{path}:{node.lineno} @work {node.name}")
            if isinstance(node, ast.Call) and _name(node.func) == "run_worker" and not _is_false(node, "exit_on_error"):
                bad.append(f"{path}:{node.lineno} run_worker")
    assert not bad, f"workers without exit_on_error=False (an exception would close the app): {bad}"


def _runs_workers(cls: ast.ClassDef) -> bool:
    for node in ast.walk(cls):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            _name(d.func if isinstance(d, ast.Call) else d) == "work" for d in node.decorator_list
        ):
            return True
        if isinstance(node, ast.Call) and _name(node.func) == "run_worker" and not _on_the_app(node.func):
            return True
    return False


def _on_the_app(func: ast.expr) -> bool:
    """`self.app.run_worker(...)` / `self._app.run_worker(...)`: the app owns that worker, and the app's own
    route (checked in test_the_app_reports_its_own_workers) reports it."""
    owner = func.value if isinstance(func, ast.Attribute) else None
    return isinstance(owner, ast.Attribute) and owner.attr in ("app", "_app")


def test_the_app_reports_its_own_workers() -> None:
    from tui.app import SandbenchApp

    assert issubclass(SandbenchApp, ReportWorkerErrors)


def test_every_class_running_workers_reports_their_failures() -> None:
    owners = []
    for path, tree in _sources():
        module = ".".join(path.with_suffix("").parts)
        owners += [(module, n.name) for n in tree.body if isinstance(n, ast.ClassDef) and _runs_workers(n)]
    assert len(owners) > 10  # the scan sees the panes and screens (git panel, explorer, editor, finder, ...)
    bad = [f"{m}.{c}" for m, c in owners if not issubclass(getattr(importlib.import_module(m), c), ReportWorkerErrors)]
    assert not bad, f"classes whose failed workers would be silently dropped (add ReportWorkerErrors): {bad}"
