"""Pilot tests of EditorTabs over the real SandboxService and LocalProvider (no exec, so no bubblewrap needed)."""

from __future__ import annotations

import asyncio
import time

from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from widgets.dialogs import ChoiceDialog, InputDialog
from widgets.diff_view import DiffView
from widgets.editor import CodeEditor, EditorTabs
from widgets.editor.disk_diff import DiskDiffScreen
from widgets.editor.tabs import DIRTY
from widgets.messages import ErrorRoute
from widgets.unsaved_dialog import UnsavedDialog


class EditorApp(ErrorRoute, App[None]):  # failures take the real app's one error route
    def __init__(self, service: SandboxService, sandbox_id: str) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.messages: list[object] = []

    def compose(self) -> ComposeResult:
        yield EditorTabs(self.service, self.sandbox_id)

    def on_editor_tabs_saved(self, event: EditorTabs.Saved) -> None:
        self.messages.append(event)

    def on_editor_tabs_active_file_changed(self, event: EditorTabs.ActiveFileChanged) -> None:
        self.messages.append(event)


async def open_file(pilot, tabs: EditorTabs, path: str) -> CodeEditor:  # type: ignore[no-untyped-def]
    worker = tabs.open_file(path)
    if worker is not None:
        await worker.wait()
    await wait_until(pilot, lambda: path in tabs.open_paths)
    await pilot.pause()
    buf = tabs.buffer(path)
    assert buf is not None
    return buf.editor


def tab_label(tabs: EditorTabs, path: str) -> str:
    buf = tabs.buffer(path)
    assert buf is not None
    return tabs.query_one("#editor-tabs").get_tab(buf.pane_id).label.plain  # type: ignore[attr-defined]


def banner(tabs: EditorTabs, path: str) -> str:
    buf = tabs.buffer(path)
    assert buf is not None
    pane = tabs.query_one("#editor-tabs").get_pane(buf.pane_id)  # type: ignore[attr-defined]
    return " ".join(str(s.render()) for s in pane.query(".editor-banner").results(Static))


async def test_open_edit_save_reopen(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "src")
    await service.write_file(sandbox.id, "src/hello.py", b"def hello():\n    return 1\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "src/hello.py")
        assert tab_label(tabs, "src/hello.py") == "hello.py"
        assert any(isinstance(m, EditorTabs.ActiveFileChanged) and m.path == "src/hello.py" for m in app.messages)
        await pilot.press("x", "y")
        assert editor.text.startswith("xydef hello")
        assert tab_label(tabs, "src/hello.py") == f"{DIRTY} hello.py"
        assert tabs.has_unsaved() == ["src/hello.py"]
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: any(isinstance(m, EditorTabs.Saved) for m in app.messages))
        assert tab_label(tabs, "src/hello.py") == "hello.py"
        assert tabs.has_unsaved() == []
        data = await service.read_file(sandbox.id, "src/hello.py")
        assert data.data == b"xydef hello():\n    return 1\n"
        # close and reopen: the edit is there
        await pilot.press("alt+w")
        await wait_until(pilot, lambda: not tabs.open_paths)
        editor = await open_file(pilot, tabs, "src/hello.py")
        assert editor.text == "xydef hello():\n    return 1\n"


async def test_undo_redo_and_dirty_marker(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "a.txt", b"hello\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "a.txt")
        await pilot.press("a", "b")
        assert editor.text == "abhello\n"
        assert tab_label(tabs, "a.txt").startswith(DIRTY)
        await pilot.press("ctrl+z")
        assert editor.text == "hello\n"
        assert tab_label(tabs, "a.txt") == "a.txt"  # back at the saved text: clean again
        await pilot.press("ctrl+y")
        assert editor.text == "abhello\n"
        assert tab_label(tabs, "a.txt").startswith(DIRTY)


async def test_external_change_while_clean_reloads(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "a.txt", b"one\ntwo\nthree\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "a.txt")
        await asyncio.sleep(0.01)
        await service.write_file(sandbox.id, "a.txt", b"one\nTWO\nthree\nfour\n")
        await tabs.file_changed("a.txt")
        await wait_until(pilot, lambda: editor.text == "one\nTWO\nthree\nfour\n")
        assert tabs.has_unsaved() == []
        # and saving afterwards is not a conflict
        await pilot.press("x", "ctrl+s")
        await wait_until(pilot, lambda: tabs.has_unsaved() == [])
        assert (await service.read_file(sandbox.id, "a.txt")).data == b"xone\nTWO\nthree\nfour\n"


async def _dirty_then_external(service: SandboxService, sandbox: SandboxInfo, pilot, tabs) -> CodeEditor:  # type: ignore[no-untyped-def]
    await service.write_file(sandbox.id, "c.txt", b"base\n")
    editor = await open_file(pilot, tabs, "c.txt")
    await pilot.press("m", "e", " ")
    await asyncio.sleep(0.01)
    await service.write_file(sandbox.id, "c.txt", b"theirs\n")
    await tabs.file_changed("c.txt")
    assert editor.text == "me base\n"  # dirty: not reloaded
    await pilot.press("ctrl+s")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ChoiceDialog))
    return editor


async def test_conflict_overwrite(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        await _dirty_then_external(service, sandbox, pilot, tabs)
        await pilot.click("#choice-overwrite")
        await wait_until(pilot, lambda: tabs.has_unsaved() == [])
        assert (await service.read_file(sandbox.id, "c.txt")).data == b"me base\n"


async def test_conflict_reload(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await _dirty_then_external(service, sandbox, pilot, tabs)
        await pilot.click("#choice-reload")
        await wait_until(pilot, lambda: editor.text == "theirs\n")
        assert tabs.has_unsaved() == []
        assert (await service.read_file(sandbox.id, "c.txt")).data == b"theirs\n"
        # the reload is undoable: the user's text is not lost
        editor.focus()
        await pilot.press("ctrl+z")
        assert editor.text == "me base\n"


async def test_conflict_diff_then_cancel(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        await _dirty_then_external(service, sandbox, pilot, tabs)
        await pilot.click("#choice-diff")
        await wait_until(pilot, lambda: isinstance(app.screen, DiskDiffScreen))
        view = app.screen.query_one(DiffView)  # the git panel's diff view: highlighted, hunk by hunk, read-only
        rows = [(row.kind, row.text) for row in view.rows]
        assert ("del", "-theirs") in rows and ("add", "+me base") in rows
        assert any(kind == "file" and "c.txt" in text for kind, text in rows)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))  # asked again
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ChoiceDialog))
        assert tabs.has_unsaved() == ["c.txt"]
        assert (await service.read_file(sandbox.id, "c.txt")).data == b"theirs\n"


async def test_close_dirty_tab_prompts(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "d.txt", b"keep\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        await open_file(pilot, tabs, "d.txt")
        await pilot.press("z", "alt+w")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.press("escape")  # cancel: still open
        await wait_until(pilot, lambda: not isinstance(app.screen, UnsavedDialog))
        assert tabs.open_paths == ["d.txt"]
        await pilot.press("alt+w")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.click("#choice-discard")
        await wait_until(pilot, lambda: tabs.open_paths == [])
        assert (await service.read_file(sandbox.id, "d.txt")).data == b"keep\n"
        # save from the prompt
        await open_file(pilot, tabs, "d.txt")
        await pilot.press("q", "alt+w")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.click("#choice-save")
        await wait_until(pilot, lambda: tabs.open_paths == [])
        assert (await service.read_file(sandbox.id, "d.txt")).data == b"qkeep\n"


async def test_binary_file_is_read_only_notice(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "img.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "img.bin")
        assert editor.read_only
        assert "Binary file, 272 bytes" in banner(tabs, "img.bin")
        assert editor.text.startswith("00000000  89 50 4e 47")
        await pilot.press("a", "ctrl+s")
        assert tabs.has_unsaved() == []


async def test_over_limit_file_opens_head(sandbench_home, sandbox: SandboxInfo, provider: LocalProvider) -> None:  # type: ignore[no-untyped-def]
    small = SandboxService(provider, Config(identity="tester", data_dir=sandbench_home, read_limit=1024))
    body = "".join(f"line {i}\n" for i in range(1000)).encode()
    await small.write_file(sandbox.id, "big.log", body)
    app = EditorApp(small, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "big.log")
        assert editor.read_only
        text = banner(tabs, "big.log")
        assert f"{len(body):,} bytes" in text and "1,024-byte limit" in text
        assert len(editor.text.encode()) <= 1024
        assert editor.text.startswith("line 0\nline 1\n")
    small.audit.close()


async def test_invalid_utf8_is_never_saved_lossy(service: SandboxService, sandbox: SandboxInfo) -> None:
    raw = b"name = 'caf\xe9'\nok\n"
    await service.write_file(sandbox.id, "latin1.py", raw)
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "latin1.py")
        assert editor.read_only
        assert "Not valid UTF-8" in banner(tabs, "latin1.py")
        assert "\ufffd" in editor.text
        await tabs.save("latin1.py")
        assert (await service.read_file(sandbox.id, "latin1.py")).data == raw


async def test_mixed_newlines_open_read_only(service: SandboxService, sandbox: SandboxInfo) -> None:
    raw = b"a\r\nb\nc\x0cd\n"
    await service.write_file(sandbox.id, "mixed.txt", raw)
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "mixed.txt")
        assert editor.read_only
        assert await tabs.save("mixed.txt") is False
        assert (await service.read_file(sandbox.id, "mixed.txt")).data == raw


async def test_huge_single_line_opens_without_freezing(service: SandboxService, sandbox: SandboxInfo) -> None:
    raw = b"x" * (5 * 1024 * 1024)
    await service.write_file(sandbox.id, "one.min.js", raw)
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        start = time.perf_counter()
        editor = await open_file(pilot, tabs, "one.min.js")
        assert editor.read_only
        assert "folded" in banner(tabs, "one.min.js")
        # the UI answers promptly afterwards: a repaint-inducing key round trip
        t0 = time.perf_counter()
        await pilot.press("pagedown")
        await pilot.pause()
        assert time.perf_counter() - t0 < 1.0
        assert time.perf_counter() - start < 10


async def test_go_to_line(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "n.txt", "".join(f"{i}\n" for i in range(1, 201)).encode())
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "n.txt")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        await pilot.press("9", "9", "9")  # out of range: the dialog says so and stays
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, InputDialog)
        app.screen.query_one(Input).value = "150:2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, InputDialog))
        assert editor.cursor_location == (149, 1)
        assert editor.document[149] == "150"


async def test_find_and_replace(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "f.txt", b"alpha beta\ngamma Beta\ndelta\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "f.txt")
        await pilot.press("ctrl+f")
        await pilot.press(*"beta")
        await pilot.press("enter")
        assert editor.selection == ((0, 6), (0, 10))
        await pilot.press("f3")
        assert editor.selection == ((1, 6), (1, 10))  # smart case: "beta" matches "Beta"
        await pilot.press("f3")
        assert editor.selection == ((0, 6), (0, 10))  # wraps around
        await pilot.press("shift+f3")
        assert editor.selection == ((1, 6), (1, 10))
        # replace
        await pilot.press("escape")
        await pilot.press("ctrl+r")
        bar = tabs.query_one("#editor-find")
        bar.query_one("#find", Input).value = "a"
        bar.query_one("#replace", Input).value = "4"
        await pilot.click("#replace-all")
        await pilot.pause()
        assert editor.text == "4lph4 bet4\ng4mm4 Bet4\ndelt4\n"
        editor.focus()
        await pilot.press("ctrl+z")  # undo works on replacements
        assert editor.text != "4lph4 bet4\ng4mm4 Bet4\ndelt4\n"


async def test_python_def_is_a_keyword(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "k.py", b"def f(x):\n    return 'hi'  # note\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "k.py")
        assert editor.lexer is not None and editor.lexer.name == "Python"
        assert (0, 3, "keyword") in editor._highlights[0]
        names = {name for _, _, name in editor._highlights[1]}
        assert {"keyword", "string", "comment"} <= names
        # and it is painted with the theme's keyword style
        keyword_style = editor._theme.syntax_styles["keyword"]
        strip = editor.render_line(0)
        # (the cursor sits on the "d")
        def_segments = [seg for seg in strip if seg.text.startswith("ef")]
        assert def_segments and def_segments[0].style is not None
        assert def_segments[0].style.color == keyword_style.color


async def test_edit_relexes_from_edited_line(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "s.py", b"x = 1\ny = 2\nz = 3\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "s.py")
        await pilot.press("quotation_mark", "quotation_mark", "quotation_mark")  # opens a string to the end
        await wait_until(pilot, lambda: not editor.highlighter.pending)
        assert {n for _, _, n in editor._highlights[2]} == {"string"}


async def test_unknown_extension_is_plain(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "notes.zzqx", b"def f():\n    pass\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "notes.zzqx")
        assert editor.lexer is None
        assert not editor._highlights


async def test_shebang_is_sniffed(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "bin")
    await service.write_file(sandbox.id, "bin/tool", b"#!/usr/bin/env python3\nimport os\nprint(os.name)\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "bin/tool")
        assert editor.lexer is not None and "python" in editor.lexer.aliases
        assert (0, 6, "include") in editor._highlights[1]


async def test_markup_and_escapes_show_literally(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "[bold]x[red].txt", b"[bold]x[/] [red]y\n\x1b[31mred\x1b[0m\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "[bold]x[red].txt")
        assert tab_label(tabs, "[bold]x[red].txt") == "[bold]x[red].txt"
        line0 = "".join(seg.text for seg in editor.render_line(0))
        assert "[bold]x[/] [red]y" in line0
        line1 = "".join(seg.text for seg in editor.render_line(1))
        assert "\x1b" not in line1 and "\u241b[31mred" in line1
        assert editor.text == "[bold]x[/] [red]y\n\x1b[31mred\x1b[0m\n"  # the document itself is unchanged


async def test_indentation_detected(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "t.go", b"func f() {\n\tif x {\n\t\treturn\n\t}\n}\n")
    await service.write_file(sandbox.id, "two.js", b"function f() {\n  if (x) {\n    return;\n  }\n}\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        go = await open_file(pilot, tabs, "t.go")
        assert go.indent_type == "tabs"
        js = await open_file(pilot, tabs, "two.js")
        assert js.indent_type == "spaces" and js.indent_width == 2


async def test_soft_wrap_toggle_and_tabs(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "a.txt", b"a" * 300 + b"\n")
    await service.write_file(sandbox.id, "b.txt", b"b\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        a = await open_file(pilot, tabs, "a.txt")
        assert not a.soft_wrap
        await pilot.press("alt+z")
        assert a.soft_wrap
        await pilot.pause()
        assert a.wrapped_document.height > 1
        await open_file(pilot, tabs, "b.txt")
        assert tabs.active_path == "b.txt"
        await pilot.press("ctrl+pageup")
        assert tabs.active_path == "a.txt"
        assert EditorTabs.ActiveFileChanged in {type(m) for m in app.messages}


async def test_missing_file_is_one_line_error(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        worker = tabs.open_file("nope.txt")
        assert worker is not None
        await worker.wait()
        await pilot.pause()
        assert tabs.open_paths == []
        notes = list(app._notifications)
        assert notes and notes[-1].severity == "error" and "\n" not in notes[-1].message


def test_bindings_have_ids_and_tooltips() -> None:
    from widgets.editor.find import FindBar
    from widgets.keys import REGISTRY

    for cls in (EditorTabs, CodeEditor, FindBar, DiskDiffScreen):
        for binding in cls.BINDINGS:
            assert binding.id and binding.id.startswith("editor."), binding  # type: ignore[union-attr]
            key = REGISTRY.get(binding.id)  # type: ignore[union-attr]
            assert key is not None and binding.description, binding  # type: ignore[union-attr]
            # the help screen lists it: it says what it does (cursor movement is not listed)
            assert binding.tooltip or not key.help, binding  # type: ignore[union-attr]


def test_disk_diff_is_the_git_panels_diff_with_the_real_name() -> None:
    from widgets.diff_view import build_rows
    from widgets.editor.disk_diff import disk_diff

    assert disk_diff("a.txt", "same\n", "same\n") == []  # DiffView then says "no changes"
    files = disk_diff("we\x1b[31ird name.txt", "one\ntwo\n", "one\n2\n")
    assert [f.path for f in files] == ["we\x1b[31ird name.txt"]
    rows = [(r.kind, r.text) for r in build_rows(files)]
    assert ("del", "-two") in rows and ("add", "+2") in rows and ("ctx", " one") in rows
    assert "\x1b" not in "".join(text for _, text in rows)  # the name is shown made visible, never as an escape
