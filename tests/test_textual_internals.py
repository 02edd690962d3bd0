"""Every private Textual name the app relies on, checked against the installed Textual, so an upgrade fails here,
loudly and by name, instead of somewhere in the editor, the key parser or the footer.

pyproject.toml pins Textual to the tested minor release; moving the pin means running this file first. The lists
below are the whole private surface: the scans at the bottom fail when code starts using a private name that is
not listed (add it, with where it is used), and the checks above them fail when an installed Textual lacks one.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import tomllib
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import textual
import textual.reactive
from pygments.lexers import PythonLexer
from textual._compositor import Compositor
from textual._xterm_parser import XTermParser
from textual.app import App
from textual.dom import DOMNode
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.signal import Signal
from textual.widget import Widget
from textual.widgets import Checkbox, DataTable, Footer, Input, TextArea
from textual.widgets.text_area import Document, EditHistory, WrappedDocument

REPO = Path(__file__).resolve().parents[1]
UI = ("tui", "widgets")

# module -> the names the app imports from it (private module, or a private name of a public one)
PRIVATE_IMPORTS: dict[str, set[str]] = {
    "textual._xterm_parser": {"XTermParser"},  # tui/meta_keys.py: MetaParser subclasses the input parser
    "textual._ansi_sequences": {"ANSI_SEQUENCES_KEYS"},  # tui/meta_keys.py: drops the ESC+char remaps
    "textual.widgets._footer": {"FooterKey"},  # widgets/footer.py
    "textual._cells": {"cell_len"},  # widgets/editor/document.py: TextArea's own width measure
    "textual._wrap": {"compute_wrap_offsets"},  # widgets/editor/document.py
    "textual.widgets._text_area": {"build_byte_to_codepoint_dict"},  # widgets/editor/rendering.py
    # tui/compositor.py: RowCroppedCompositor overrides `_render_chops`; tests/tui/test_partial_updates.py
    "textual._compositor": {"ChopsUpdate", "Compositor"},
}
# `from textual import _ansi_sequences` imports the module itself: listed above by its full name
SUBMODULE_IMPORTS = {("textual", "_ansi_sequences")}

# a Textual class -> (how to make one, the private members the app reads, writes or overrides on it)
PRIVATE_MEMBERS: dict[type, tuple[Callable[[], object], set[str]]] = {
    # tui/app.py `_on_key`: keys queued behind one that opened a dialog go to the dialog; widgets/toast_hold.py
    # holds toasts while a dialog is up (`_refresh_notifications`, `_notifications`)
    App: (
        App,
        {
            "_check_bindings",
            "_handle_exception",
            "_return_code",
            "_keymap",
            "_screen_stacks",
            "_css_update_count",
            "_on_key",
            "_notifications",
            "_refresh_notifications",
        },
    ),
    # tui/app.py: the priority-binding lookup while a terminal has focus; tui/workspaces.py: a new mode's screen
    # marked as styled (`styled_now`)
    Screen: (Screen, {"_binding_chain", "_css_update_count", "_compositor"}),  # and the workspace's compositor
    # tui/compositor.py: what a partial update renders (and the test's `_regions_to_spans`, as Textual makes spans)
    Compositor: (Compositor, {"_render_chops", "_regions_to_spans"}),
    DOMNode: (DOMNode, {"_bindings", "_query_one_cache"}),  # tui/registry.py, tui/heap.py, panes
    MessagePump: (MessagePump, {"_closing"}),  # tui/heap.py: a removed widget's leftover watchers
    # tui/heap.py: a container's cached layouts that still name removed children (the closed tabs' tab widgets)
    Widget: (Widget, {"_arrangement_cache"}),
    Signal: (lambda: Signal(DOMNode(), "s"), {"_subscriptions"}),  # tui/heap.py
    Footer: (Footer, {"_bindings_ready"}),  # widgets/footer.py
    XTermParser: (XTermParser, {"_sequence_to_key_events"}),  # tui/meta_keys.py: MetaParser overrides it
    Checkbox: (Checkbox, {"_button"}),  # widgets/tick.py draws its own box
    # tui/screens/processes.py, widgets/process_view.py: keys typed right behind a focus move reach the filter
    Input: (Input, {"_on_key"}),
    DataTable: (DataTable, {"_on_key", "_require_update_dimensions"}),  # and process_view.py sizes its last column
    # widgets/search_results.py: a batch of results updates the scrollbars without laying out the screen
    ScrollView: (ScrollView, {"_scroll_update"}),
    EditHistory: (lambda: TextArea().history, {"_undo_stack"}),  # widgets/editor/tabs.py: the saved-state marker
    Document: (lambda: Document(""), {"_lines"}),  # widgets/editor/document.py
    # widgets/editor/document.py (FastWrappedDocument fills these itself) and rendering.py (reads them)
    WrappedDocument: (
        lambda: WrappedDocument(Document("")),
        {"_line_index_to_offsets", "_offset_to_line_info", "_tab_width", "_tab_width_cache", "_width", "_wrap_offsets"},
    ),
    # widgets/editor/text_area.py, rendering.py: CodeEditor replaces TextArea's per-edit document-sized work
    TextArea: (
        TextArea,
        {
            "_app_theme_changed",
            "_build_highlight_map",
            "_draw_cursor",
            "_has_cursor",
            "_highlight_query",
            "_highlights",
            "_line_cache",
            "_matching_bracket_location",
            "_on_key",
            "_refresh_scrollbars",
            "_refresh_size",
            "_replace_via_keyboard",
            "_restart_blink",
            "_rewrap_and_refresh_virtual_size",
            "_scroll_update",
            "_set_document",
            "_set_theme",
            "_theme",
            "_watch_language",
            "_watch_selection",
            "_yield_character_locations",
            "_yield_character_locations_reverse",
        },
    ),
}
# private attributes of objects Pygments makes (not Textual's; the pin is `pygments<3`)
PYGMENTS_MEMBERS = {"_tokens"}  # widgets/editor/highlight.py: RegexLexer's compiled state table


def _has(obj: object, name: str) -> bool:
    """Defined on the class (a method or property: not evaluated) or set on a fresh instance."""
    return any(name in vars(k) for k in type(obj).__mro__) or name in getattr(obj, "__dict__", {})


def test_every_private_import_resolves() -> None:
    missing = []
    for module, names in PRIVATE_IMPORTS.items():
        mod = importlib.import_module(module)
        missing += [f"{module}.{n}" for n in names if not hasattr(mod, n)]
    assert not missing, f"this Textual lacks: {missing}"


def test_every_private_member_is_there() -> None:
    missing = [
        f"{cls.__module__}.{cls.__name__}.{name}"
        for cls, (make, names) in PRIVATE_MEMBERS.items()
        for name in sorted(names)
        if not _has(make(), name)
    ]
    assert not missing, f"this Textual lacks: {missing}"


def test_the_meta_key_driver_swap_still_has_its_targets() -> None:
    """tui/meta_keys.install() swaps the Linux drivers' parser class and edits the sequence table in place; its
    fallbacks are silent (the app then behaves like stock Textual), so the test is what says they moved."""
    from textual import _ansi_sequences
    from textual.drivers import linux_driver, linux_inline_driver

    for module in (linux_driver, linux_inline_driver):
        assert getattr(module, "XTermParser", None) in (XTermParser, _meta_parser()), module.__name__
    assert isinstance(_ansi_sequences.ANSI_SEQUENCES_KEYS, dict)
    params = list(inspect.signature(XTermParser._sequence_to_key_events).parameters)
    assert params == ["self", "sequence", "alt"], params  # MetaParser overrides it with this signature
    # the reactive system keeps a node's watchers under this attribute name (tui/heap.py reads it)
    assert '"__watchers"' in inspect.getsource(textual.reactive)


def _meta_parser() -> type:
    from tui.meta_keys import MetaParser

    return MetaParser


def test_pygments_lexers_keep_their_state_table() -> None:
    lexer = PythonLexer()
    assert all(hasattr(lexer, name) for name in PYGMENTS_MEMBERS)


# -- the scans: a private name used and not listed above fails here ---------------------------------------------


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for d in UI:
        for f in sorted((REPO / d).rglob("*.py")):
            yield ".".join(f.relative_to(REPO).with_suffix("").parts), ast.parse(f.read_text(encoding="utf-8"))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_every_private_textual_import_is_listed() -> None:
    found = set()
    for _module, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "textual":
                module = node.module or ""
                private_module = any(_private(part) for part in module.split("."))
                for alias in node.names:
                    if private_module or _private(alias.name):
                        found.add((module, alias.name))
            elif isinstance(node, ast.Import):
                found |= {(a.name, "") for a in node.names if a.name.startswith("textual.") and "._" in a.name}
    listed = {(m, n) for m, names in PRIVATE_IMPORTS.items() for n in names} | SUBMODULE_IMPORTS
    assert found, "the scan sees the imports"
    assert found <= listed, f"list these in PRIVATE_IMPORTS: {sorted(found - listed)}"


def _on_self(node: ast.Attribute) -> bool:
    v = node.value
    if isinstance(v, ast.Name):
        return v.id in ("self", "cls")
    return isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "super"


def test_every_private_member_our_subclasses_touch_is_listed() -> None:
    """A class of ours built on a Textual class: each `self._x` it uses and each `_x` it defines that the
    Textual class also has is a dependency (or a collision with Textual's own attribute: rename ours)."""
    unlisted = []
    for module, tree in _sources():
        mod = importlib.import_module(module)
        for cls_node in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            cls = getattr(mod, cls_node.name)
            textual_mro = [k for k in cls.__mro__[1:] if k.__module__.split(".")[0] == "textual"]
            if not textual_mro:
                continue
            names = {n.attr for n in ast.walk(cls_node) if isinstance(n, ast.Attribute) and _on_self(n)}
            names |= {n.name for n in ast.walk(cls_node) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            listed = set().union(*(PRIVATE_MEMBERS[k][1] for k in textual_mro if k in PRIVATE_MEMBERS))
            fresh = [make() for k, (make, _) in PRIVATE_MEMBERS.items() if k in textual_mro]
            for name in sorted(n for n in names if _private(n) and n not in listed):
                if any(name in vars(k) for k in textual_mro) or any(name in vars(o) for o in fresh):
                    unlisted.append(f"{module}.{cls_node.name}.{name}")
    assert not unlisted, f"private Textual members used but not in PRIVATE_MEMBERS: {unlisted}"


def test_every_private_attribute_read_off_another_object_is_listed() -> None:
    """`screen.app._keymap`, `editor.history._undo_stack`, `getattr(node, "_closing")`: the object's type is not
    known to a scan, so the name is checked against every private name Textual's own source uses."""
    src = "\n".join(p.read_text(encoding="utf-8") for p in Path(textual.__file__).parent.rglob("*.py"))
    textual_names = set(re.findall(r"\b(?:self|cls)\.(_[a-z]\w*)", src)) | set(re.findall(r"def (_[a-z]\w*)", src))
    listed = set().union(*(names for _, names in PRIVATE_MEMBERS.values())) | PYGMENTS_MEMBERS
    found = set()
    for module, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr) and not _on_self(node):
                found.add((module, node.attr))
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr", "setattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                found.add((module, node.args[1].value))
    unlisted = sorted(f"{m}: {n}" for m, n in found if n in textual_names and n not in listed)
    assert not unlisted, f"private Textual attributes read off objects, not in PRIVATE_MEMBERS: {unlisted}"


def test_the_pin_is_the_tested_minor_release() -> None:
    """The pin and this file go together: the installed Textual (the one these checks ran on) is the pinned minor."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    pin = next(d for d in deps if d.startswith("textual"))
    m = re.fullmatch(r"textual>=(\d+)\.(\d+)(?:\.\d+)?,<(\d+)\.(\d+)", pin)
    assert m, f"pin Textual to one minor release (textual>=X.Y.Z,<X.Y+1): {pin}"
    major, minor, upper_major, upper_minor = map(int, m.groups())
    assert (upper_major, upper_minor) == (major, minor + 1), pin
    assert version("textual").split(".")[:2] == [str(major), str(minor)], (pin, version("textual"))


def test_the_tests_pilot_idle_granule_is_still_read_at_call_time() -> None:
    """tests/conftest.py shortens `textual._wait`'s idle granule for Pilot's `press` and `pause`: that only works
    while `wait_for_idle` reads the module's globals when it runs (if it bound them as defaults, the suite would
    silently go back to 45 ms a key)."""
    import textual._wait as wait

    assert wait.SLEEP_GRANULARITY == 0.005 and wait.SLEEP_IDLE == 0.005 / 20  # conftest's
    names = wait.wait_for_idle.__code__.co_names
    assert "SLEEP_GRANULARITY" in names and "SLEEP_IDLE" in names
