"""Pilot tests of how the editor types and saves, over the real SandboxService and LocalProvider: auto-indent,
indent settings from .editorconfig (read from the sandbox) and from the file, the final newline and line endings
on save (read back through the service), and alt keys that never type their letter (issue 11 §3)."""

from __future__ import annotations

import time

from textual import events
from textual._xterm_parser import XTermParser
from textual.constants import ESCAPE_DELAY

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.widgets.test_editor import EditorApp, open_file, tab_label
from widgets.editor import EditorTabs
from widgets.editor.tabs import DIRTY


async def type_text(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    """Type `text` key by key ("\\n" is Enter), as a user would."""
    await pilot.press(*["enter" if ch == "\n" else ch for ch in text])


async def terminal_bytes(pilot, data: str) -> None:  # type: ignore[no-untyped-def]
    """Send what a terminal would write for a key through Textual's own input parser (ESC-prefixed meta
    included), then deliver the keys it decodes the way the driver does."""
    parser = XTermParser()
    keys = list(parser.feed(data))
    deadline = time.monotonic() + ESCAPE_DELAY * 4
    while time.monotonic() < deadline:  # a lone ESC, or ESC + key, is only decided after ESCAPE_DELAY
        await pilot.pause(ESCAPE_DELAY / 4)
        keys.extend(parser.tick())
    app = pilot.app
    for key in keys:
        assert isinstance(key, events.Key)
        key.set_sender(app)
        app._driver.send_message(key)
        await pilot.pause()


async def saved(pilot, app: EditorApp, count: int) -> None:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: sum(isinstance(m, EditorTabs.Saved) for m in app.messages) >= count)


async def test_enter_keeps_and_adds_indent_and_closers_dedent(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "a.py", b"")
    await service.write_file(sandbox.id, "b.js", b"")
    await service.write_file(sandbox.id, "notes.txt", b"  indented\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "a.py")
        await type_text(pilot, "def f(x):\nreturn [\n1,\n]\n")
        # one level after ':' and '[', kept for '1,', the closer back at its opener's line, then that line's level
        assert editor.text == "def f(x):\n    return [\n        1,\n    ]\n    "
        await type_text(pilot, "\nx = 1")
        assert editor.text.endswith("    ]\n\n    x = 1")  # the blank line left no trailing blanks

        editor = await open_file(pilot, tabs, "b.js")
        await type_text(pilot, "function g() {\nif (a) {\ncall(\n1\n)\n}\n}")
        assert editor.text == "function g() {\n    if (a) {\n        call(\n            1\n        )\n    }\n}"
        # between a bracket pair, Enter puts the closer on its own line and the cursor on the indented one
        await pilot.press("enter", *"h(", ")", "left", "enter", "2")
        assert editor.text.endswith("}\nh(\n    2\n)")
        # ':' does not indent in a brace language
        await pilot.press("down", "end", "enter", *"a:", "enter", "b")
        assert editor.text.endswith(")\na:\nb")

        editor = await open_file(pilot, tabs, "notes.txt")  # plain text: the indent is kept, no more
        await pilot.press("end", *"(", "enter", "z")
        assert editor.text == "  indented(\n  z\n"


async def test_editorconfig_and_content_decide_tab_and_enter(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(
        sandbox.id, ".editorconfig", b"root = true\n[*]\ninsert_final_newline = true\n[*.{py,go}]\nindent_style = tab\n"
    )
    await service.mkdir(sandbox.id, "web")
    await service.write_file(sandbox.id, "web/.editorconfig", b"[*.js]\nindent_size = 2\n")
    await service.write_file(sandbox.id, "a.py", b"x = 1\n")
    await service.write_file(sandbox.id, "web/app.js", b"")
    await service.write_file(sandbox.id, "other.js", b"")
    await service.write_file(sandbox.id, "tabbed.c", b"int f() {\n\treturn 1;\n}\n\tint g;\n")
    await service.write_file(sandbox.id, "three.c", b"a {\n   b {\n      c;\n   }\n}\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "a.py")  # the root's [*.{py,go}]: tabs
        await pilot.press("end", "enter", *"if x:", "enter", "y", "enter", "tab", "z")
        assert editor.text == "x = 1\nif x:\n\ty\n\t\tz\n"

        editor = await open_file(pilot, tabs, "web/app.js")  # web/.editorconfig: indent_size = 2
        await pilot.press("tab", "a", "enter", *"{", "enter", "b")
        assert editor.text == "  a\n  {\n    b"

        editor = await open_file(pilot, tabs, "other.js")  # web/.editorconfig does not reach it: the default 4
        await pilot.press("tab", "a")
        assert editor.text == "    a"

        # no .editorconfig rule on indent_style for .c: detected from the content (mostly tabs → tabs)...
        editor = await open_file(pilot, tabs, "tabbed.c")
        await pilot.press("tab", "x")
        assert editor.text.startswith("\tx")
        # ...or the most common space step
        editor = await open_file(pilot, tabs, "three.c")
        await pilot.press("tab", "x")
        assert editor.text.startswith("   xa {")


async def test_save_adds_final_newline_and_keeps_line_endings(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "lf.txt", b"one\ntwo")
    await service.write_file(sandbox.id, "crlf.py", b"def f():\r\n    pass")
    await service.write_file(sandbox.id, "new.txt", b"")
    await service.mkdir(sandbox.id, "raw")
    await service.write_file(sandbox.id, "raw/.editorconfig", b"[*]\ninsert_final_newline = false\n")
    await service.write_file(sandbox.id, "raw/data.txt", b"a\nb")
    await service.write_file(sandbox.id, ".editorconfig", b"[new.txt]\nend_of_line = crlf\n[*.py]\nend_of_line = lf\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        editor = await open_file(pilot, tabs, "lf.txt")
        await pilot.press("x", "ctrl+s")
        await saved(pilot, app, 1)
        assert (await service.read_file(sandbox.id, "lf.txt")).data == b"xone\ntwo\n"
        assert editor.text == "xone\ntwo\n"  # the buffer is what was written: clean, nothing left to save
        assert tab_label(tabs, "lf.txt") == "lf.txt"

        # CRLF stays CRLF, new lines included, though the editorconfig says lf (it never converts a file)
        editor = await open_file(pilot, tabs, "crlf.py")
        await pilot.press("end", "enter", *"return 1", "ctrl+s")
        await saved(pilot, app, 2)
        assert (await service.read_file(sandbox.id, "crlf.py")).data == b"def f():\r\n    return 1\r\n    pass\r\n"

        # a file with no line endings yet gets the editorconfig's end_of_line
        editor = await open_file(pilot, tabs, "new.txt")
        await pilot.press("a", "enter", "b", "ctrl+s")
        await saved(pilot, app, 3)
        assert (await service.read_file(sandbox.id, "new.txt")).data == b"a\r\nb\r\n"

        # insert_final_newline = false: saved as typed
        editor = await open_file(pilot, tabs, "raw/data.txt")
        await pilot.press("z", "ctrl+s")
        await saved(pilot, app, 4)
        assert (await service.read_file(sandbox.id, "raw/data.txt")).data == b"za\nb"
        assert not tabs.has_unsaved()
        assert DIRTY not in tab_label(tabs, "raw/data.txt")


async def test_alt_letters_never_type_their_letter(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.write_file(sandbox.id, "a.txt", b"hello\n")
    await service.write_file(sandbox.id, "b.txt", b"other\n")
    app = EditorApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        tabs = app.query_one(EditorTabs)
        await open_file(pilot, tabs, "b.txt")
        editor = await open_file(pilot, tabs, "a.txt")
        assert not editor.soft_wrap
        # what tmux sends for M-z: ESC z in one write, which Textual decodes as key alt+z *with* character "z"
        await terminal_bytes(pilot, "\x1bz")
        assert editor.text == "hello\n"
        assert editor.soft_wrap
        await pilot.press("alt+z")  # Pilot's form (no character)
        assert not editor.soft_wrap
        # alt+letters with no binding type nothing either (alt+shift too)
        await terminal_bytes(pilot, "\x1bq")
        await terminal_bytes(pilot, "\x1bQ")
        assert editor.text == "hello\n"
        # ESC, a pause, then z: Escape leaves the editor (TextArea's tab behaviour), so z does not reach the file
        await terminal_bytes(pilot, "\x1b")
        await pilot.press("z")
        assert editor.text == "hello\n"

        # alt+s (save all) and alt+w (close tab), as a terminal sends them
        editor.focus()
        await pilot.press("x")
        await terminal_bytes(pilot, "\x1bs")
        await saved(pilot, app, 1)
        assert (await service.read_file(sandbox.id, "a.txt")).data == b"xhello\n"
        await terminal_bytes(pilot, "\x1bw")
        await wait_until(pilot, lambda: tabs.open_paths == ["b.txt"])
        assert (await service.read_file(sandbox.id, "a.txt")).data == b"xhello\n"
        # and their keys without alt
        editor = tabs.buffer("b.txt").editor  # type: ignore[union-attr]
        editor.focus()
        await pilot.press("y", "f12")
        await saved(pilot, app, 2)
        assert (await service.read_file(sandbox.id, "b.txt")).data == b"yother\n"
        await pilot.press("ctrl+f4")
        await wait_until(pilot, lambda: not tabs.open_paths)
