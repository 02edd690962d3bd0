"""The explorer pane, driven with Pilot over a real local sandbox (no processes run: no bubblewrap needed)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Static

from services.local.provider import LocalProvider
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from widgets.dialogs import ConfirmDialog, InputDialog
from widgets.explorer import Explorer
from widgets.fuzzy_finder import FuzzyFinder
from widgets.messages import ErrorRoute


class ExplorerApp(ErrorRoute, App[None]):  # failures take the real app's one error route
    def __init__(self, service: SandboxService, sandbox_id: str, **kwargs: Any) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.kwargs = kwargs
        self.opened: list[str] = []
        self.copied: list[str] = []
        self.notes: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Explorer(self.service, self.sandbox_id, **self.kwargs)

    def on_mount(self) -> None:
        self.query_one(Explorer).focus()

    def on_explorer_file_open_requested(self, message: Explorer.FileOpenRequested) -> None:
        self.opened.append(message.path)

    def copy_to_clipboard(self, text: str) -> None:
        self.copied.append(text)

    def notify(self, message: str, *, severity: Any = "information", **kwargs: Any) -> None:
        self.notes.append((severity, message))
        super().notify(message, severity=severity, **kwargs)


def ws(provider: LocalProvider, sandbox: SandboxInfo) -> Path:
    return provider._workspace(sandbox.id)


def write_burst(folder: Path, n: int = 5000) -> None:
    for i in range(n):
        os.close(os.open(folder / f"f{i:04}.txt", os.O_CREAT | os.O_WRONLY, 0o644))


def allowed_batches(took: float) -> int:
    """A burst is one or two refreshes. The watcher still reports at least every 2 s while changes keep coming (a
    long build should show progress), so on a loaded machine where writing 5,000 files takes longer, one more
    per 2 s of writing."""
    return 2 + int(took // 2.0)


def names(ex: Explorer) -> list[str]:
    return [row.entry.path for row in ex.rows]


def lines(ex: Explorer, n: int | None = None) -> list[str]:
    return [ex.render_line(y).text for y in range(n if n is not None else len(ex.rows))]


async def cursor_to(pilot: Pilot[None], ex: Explorer, path: str) -> None:
    await wait_until(pilot, lambda: path in names(ex), show=lambda: repr((path, names(ex))))
    ex.move_cursor(names(ex).index(path))
    await pilot.pause()


def test_bindings_have_ids_and_tooltips() -> None:
    from textual.binding import Binding

    bindings = [b for b in Explorer.BINDINGS if isinstance(b, Binding)]
    assert all(b.id and b.id.startswith("explorer.") for b in bindings)
    ids = {b.id for b in bindings}
    for wanted in (
        "explorer.open",
        "explorer.new_file",
        "explorer.new_folder",
        "explorer.rename",
        "explorer.move",
        "explorer.delete",
        "explorer.copy_path",
        "explorer.refresh",
        "explorer.toggle_hidden",
    ):
        assert wanted in ids
    assert all(b.tooltip for b in bindings if b.show)


async def test_tree_lists_folders_first(service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo) -> None:
    root = ws(provider, sandbox)
    for d in ("zeta", "Alpha"):
        (root / d).mkdir()
    for f in ("b.txt", "A.txt"):
        (root / f).write_text("x")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await wait_until(pilot, lambda: len(ex.rows) == 4)
        assert names(ex) == ["Alpha", "zeta", "A.txt", "b.txt"]
        assert lines(ex, 1)[0].startswith("▸ Alpha")


async def test_folders_are_listed_lazily(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("x")
    (root / "src" / "main.py").write_text("x")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await cursor_to(pilot, ex, "src")
        assert "src" not in ex._listings
        await pilot.press("enter")
        await wait_until(pilot, lambda: names(ex) == ["src", "src/pkg", "src/main.py"])
        assert "src/pkg" not in ex._listings  # not opened, not listed
        await pilot.press("down", "right")
        await wait_until(pilot, lambda: "src/pkg/mod.py" in names(ex))
        assert lines(ex, 3)[2].startswith("    ") and "mod.py" in lines(ex, 3)[2]
        await pilot.press("left")  # collapses src/pkg
        await wait_until(pilot, lambda: "src/pkg/mod.py" not in names(ex))
        await pilot.press("left")  # on a collapsed folder: go to its parent
        assert ex.cursor_entry is not None and ex.cursor_entry.path == "src"
        await pilot.press("space")
        await wait_until(pilot, lambda: names(ex) == ["src"])


async def test_open_file_posts_a_message(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    (ws(provider, sandbox) / "readme.md").write_text("x")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await cursor_to(pilot, ex, "readme.md")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.opened == ["readme.md"])


async def test_create_file_and_folder(service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo) -> None:
    root = ws(provider, sandbox)
    (root / "docs").mkdir()
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await wait_until(pilot, lambda: names(ex) == ["docs"])
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        await pilot.press(*"notes.txt", "enter")
        await wait_until(pilot, lambda: "notes.txt" in names(ex))
        assert (root / "notes.txt").read_bytes() == b""
        assert ex.cursor_entry is not None and ex.cursor_entry.path == "notes.txt"

        await pilot.press("N")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        await pilot.press(*"new/deeper", "enter")
        await wait_until(pilot, lambda: "new/deeper" in names(ex))
        assert (root / "new" / "deeper").is_dir()
        assert ex.cursor_entry is not None and ex.cursor_entry.path == "new/deeper"

        # a path the policy refuses, and an existing name, are refused in the dialog, not with a traceback
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        app.screen.query_one(Input).value = "../notes.txt"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, InputDialog)  # the path policy rejects '..' in the dialog itself
        app.screen.query_one(Input).value = "/notes.txt"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, InputDialog)
        await pilot.press("escape")
        await cursor_to(pilot, ex, "notes.txt")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        await pilot.press(*"notes.txt", "enter")
        # an existing name comes back into the dialog: inline, the field focused and still holding it
        dialog = app.screen
        await wait_until(pilot, lambda: "already exists" in str(dialog.query_one("#error", Static).render()))
        assert app.screen is dialog and dialog.query_one(Input).value == "notes.txt"
        assert app.focused is dialog.query_one(Input)
        await pilot.press("backspace", "backspace", "backspace", *"md", "enter")  # fixed in place: made
        await wait_until(pilot, lambda: "notes.md" in names(ex))


async def test_dialog_cancel_changes_nothing(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    (root / "keep.txt").write_text("x")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await cursor_to(pilot, ex, "keep.txt")
        for key in ("n", "N", "r", "m", "d"):
            await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, InputDialog | ConfirmDialog))
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.screen_stack[0])
        assert sorted(os.listdir(root)) == ["keep.txt"]
        assert not [n for n in app.notes if n[0] == "error"]


async def test_rename(service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo) -> None:
    root = ws(provider, sandbox)
    (root / "old.txt").write_text("content")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await cursor_to(pilot, ex, "old.txt")
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        field = app.screen.query_one(Input)
        assert field.value == "old.txt"
        field.value = "new.txt"
        await pilot.press("enter")
        await wait_until(pilot, lambda: names(ex) == ["new.txt"])
        assert (root / "new.txt").read_text() == "content" and not (root / "old.txt").exists()
        # a name with a slash is not a name
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        app.screen.query_one(Input).value = "a/b"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, InputDialog)
        await pilot.press("escape")


async def test_move_into_a_folder_and_to_a_new_path(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    (root / "dest").mkdir()
    (root / "a.txt").write_text("a")
    (root / "b.txt").write_text("b")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await cursor_to(pilot, ex, "a.txt")
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        app.screen.query_one(Input).value = "dest"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "dest/a.txt" in names(ex))
        assert (root / "dest" / "a.txt").read_text() == "a"
        assert ex.cursor_entry is not None and ex.cursor_entry.path == "dest/a.txt"

        await cursor_to(pilot, ex, "b.txt")
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        app.screen.query_one(Input).value = "other/place/b2.txt"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "other/place/b2.txt" in names(ex))
        assert (root / "other" / "place" / "b2.txt").read_text() == "b"

        # a folder cannot go inside itself
        await cursor_to(pilot, ex, "dest")
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        app.screen.query_one(Input).value = "dest/inner"
        await pilot.press("enter")
        dialog = app.screen
        await wait_until(pilot, lambda: "into itself" in str(dialog.query_one("#error", Static).render()))
        assert dialog.query_one(Input).value == "dest/inner" and app.focused is dialog.query_one(Input)
        await pilot.press("escape")
        assert (root / "dest" / "a.txt").exists()


async def test_delete_asks_and_cancel_keeps(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    (root / "tree" / "sub").mkdir(parents=True)
    (root / "tree" / "sub" / "f.txt").write_text("x")
    (root / "single.txt").write_text("x")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await cursor_to(pilot, ex, "tree")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        shown = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "tree" in shown and "everything in it" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert (root / "tree" / "sub" / "f.txt").exists()
        await pilot.press("delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")  # y confirms (a dangerous dialog focuses Cancel)
        await wait_until(pilot, lambda: "tree" not in names(ex))
        assert not (root / "tree").exists()
        await cursor_to(pilot, ex, "single.txt")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: names(ex) == [])
        assert os.listdir(root) == []


async def test_copy_path(service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo) -> None:
    root = ws(provider, sandbox)
    (root / "dir").mkdir()
    (root / "dir" / "file.py").write_text("x")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        ex.reveal("dir/file.py")
        await wait_until(pilot, lambda: ex.cursor_entry is not None and ex.cursor_entry.path == "dir/file.py")
        await pilot.press("y")
        assert app.copied == ["dir/file.py"]


async def test_external_change_appears_without_refresh(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    (root / "sub").mkdir()
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await cursor_to(pilot, ex, "sub")
        await pilot.press("enter")
        await pilot.pause(0.4)  # the watcher is in place
        (root / "from-terminal.txt").write_text("x")
        (root / "sub" / "inner.txt").write_text("x")
        await wait_until(pilot, lambda: {"from-terminal.txt", "sub/inner.txt"} <= set(names(ex)), timeout=3.0)
        assert ex.cursor_entry is not None and ex.cursor_entry.path == "sub"  # cursor kept
        assert "sub" in ex.expanded  # expansion kept
        (root / "sub" / "inner.txt").unlink()
        await wait_until(pilot, lambda: "sub/inner.txt" not in names(ex), timeout=3.0)


async def test_burst_of_5000_files_refreshes_at_most_twice(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    (root / "burst").mkdir()
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await cursor_to(pilot, ex, "burst")
        await pilot.press("enter")
        await pilot.pause(0.4)
        before = ex.watch_refreshes

        t = threading.Thread(target=write_burst, args=(root / "burst",))
        t0 = time.monotonic()
        t.start()
        while t.is_alive():
            await pilot.pause(0.05)
        took = time.monotonic() - t0
        await wait_until(pilot, lambda: len(ex.rows) == 5001, timeout=5.0)
        await pilot.pause(0.5)
        assert 1 <= ex.watch_refreshes - before <= allowed_batches(took)


async def test_hidden_toggle_and_git_stays_hidden(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    (root / ".git").mkdir()
    (root / ".env").write_text("x")
    (root / "visible.txt").write_text("x")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await wait_until(pilot, lambda: names(ex) == ["visible.txt"])
        await pilot.press("full_stop")
        await wait_until(pilot, lambda: names(ex) == [".env", "visible.txt"])
        await pilot.press("h")
        await wait_until(pilot, lambda: names(ex) == ["visible.txt"])
    app = ExplorerApp(service, sandbox.id, show_git=True)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await wait_until(pilot, lambda: names(ex) == ["visible.txt"])
        await pilot.press("full_stop")
        await wait_until(pilot, lambda: names(ex) == [".git", ".env", "visible.txt"])


async def test_refresh_relists_open_folders(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    app = ExplorerApp(service, sandbox.id, watch=False)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await pilot.pause(0.2)
        (root / "late.txt").write_text("x")
        await pilot.pause(0.3)
        assert "late.txt" not in names(ex)  # no watcher in this one
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "late.txt" in names(ex))
        (root / "later.txt").write_text("x")
        await pilot.press("R")
        await wait_until(pilot, lambda: "later.txt" in names(ex))


@pytest.mark.serial  # a wall-clock bar: alone under xdist
async def test_ten_thousand_entries_open_fast_and_stay_responsive(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    (root / "big").mkdir()
    for i in range(10_000):
        (root / "big" / f"file{i:05}.txt").touch()
    app = ExplorerApp(service, sandbox.id, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        ex = app.query_one(Explorer)
        await cursor_to(pilot, ex, "big")
        t0 = time.perf_counter()
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(ex.rows) == 10_001, timeout=5.0)
        opened = time.perf_counter() - t0
        assert opened < 2.0  # the real bar (100 ms) is measured by bench/explorer.py; this guards against 10x
        t0 = time.perf_counter()
        await pilot.press("end")
        await pilot.press(*["pageup"] * 5, *["up"] * 20)
        keys = time.perf_counter() - t0
        assert keys < 6.0  # 26 keys through Pilot (which waits for idle after each) on a loaded 2-core box
        assert ex.cursor_entry is not None and ex.cursor_entry.path.startswith("big/file")
        visible = lines(ex, 22)
        assert any(ex.cursor_entry.name in line for line in visible)


async def test_hostile_names_render_literally(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    hostile = {
        b"[bold]x": "[bold]x",
        b"\x1b[31mred": "\\x1b[31mred",
        b"bad\xff\xfename": "bad\\xff\\xfename",
        b"evil\xe2\x80\xaetxt.exe": "evil\\u202etxt.exe",
        b"tab\there": "tab\\there",
    }
    for raw in hostile:
        with open(os.path.join(os.fsencode(root), raw), "wb"):
            pass
    long_name = "L" * 255
    (root / long_name).touch()
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test(size=(100, 24)) as pilot:
        ex = app.query_one(Explorer)
        await wait_until(pilot, lambda: len(ex.rows) == len(hostile) + 1)
        shown = lines(ex)
        for expected in hostile.values():
            assert any(line.strip() == expected for line in shown), (expected, shown)
        assert all("\x1b" not in line for line in shown)
        assert any(line.startswith("  " + "L" * 90) for line in shown)
        # the whole screen renders (markup in names would raise or vanish here)
        screen = app.export_screenshot()
        assert "[bold]x" in screen
        # copying a name that is not valid UTF-8 does not crash
        await cursor_to(pilot, ex, os.fsdecode(b"bad\xff\xfename"))
        await pilot.press("y")
        assert app.copied == ["bad\ufffd\ufffdname"]
        # the delete dialog names it literally too
        await cursor_to(pilot, ex, "[bold]x")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "[bold]x" in app.export_screenshot()
        await pilot.press("escape")


async def test_git_status_markers(service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo) -> None:
    root = ws(provider, sandbox)
    (root / "src").mkdir()
    (root / "src" / "changed.py").write_text("x")
    (root / "clean.txt").write_text("x")
    (root / "new.txt").write_text("x")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test(size=(60, 10)) as pilot:
        ex = app.query_one(Explorer)
        await wait_until(pilot, lambda: len(ex.rows) == 3)
        ex.set_git_status({"src/changed.py": "M", "new.txt": "?", "gone.txt": "D"})
        ex.reveal("src/changed.py")
        await wait_until(pilot, lambda: "src/changed.py" in names(ex))
        by_path = dict(zip(names(ex), lines(ex), strict=True))
        assert by_path["src"].rstrip().endswith("•")
        assert by_path["src/changed.py"].rstrip().endswith("M")
        assert by_path["new.txt"].rstrip().endswith("?")
        assert by_path["clean.txt"].rstrip() == "  clean.txt"
        ex.set_git_status({})
        await pilot.pause()
        assert not ex.render_line(0).text.rstrip().endswith("•")


async def test_a_rename_the_service_refuses_stays_in_the_dialog(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    (root / "a.txt").write_text("a")
    (root / "b.txt").write_text("b")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await cursor_to(pilot, ex, "a.txt")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        app.screen.query_one(Input).value = "b.txt"
        await pilot.press("enter")
        dialog = app.screen
        await wait_until(pilot, lambda: "exists" in str(dialog.query_one("#error", Static).render()))
        assert dialog.query_one(Input).value == "b.txt" and app.focused is dialog.query_one(Input)
        assert (root / "a.txt").read_text() == "a" and (root / "b.txt").read_text() == "b"
        assert app.is_running and not any("Traceback" in msg for _, msg in app.notes)
        await pilot.press("escape")


async def test_fuzzy_finder_opens_the_match(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    root = ws(provider, sandbox)
    (root / "src" / "deep").mkdir(parents=True)
    (root / "src" / "deep" / "module_name.py").write_text("x")
    for i in range(200):
        (root / "src" / f"other_{i}.txt").write_text("x")
    (root / ".git").mkdir()
    (root / ".git" / "mdnm_in_git").write_text("x")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        ex = app.query_one(Explorer)
        await wait_until(pilot, lambda: len(ex.rows) == 1)
        ex.action_find()  # the workspace's ctrl+o (workspace.find_file) runs this from any pane
        await wait_until(pilot, lambda: isinstance(app.screen, FuzzyFinder))
        finder = app.screen
        assert isinstance(finder, FuzzyFinder)
        await pilot.press(*"mdnm")
        await wait_until(pilot, lambda: bool(finder.results) and finder.matcher is not None)
        assert finder.results[0].path == "src/deep/module_name.py"
        assert all(not m.path.startswith(".git/") for m in finder.results)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.opened == ["src/deep/module_name.py"])
        await wait_until(
            pilot, lambda: ex.cursor_entry is not None and ex.cursor_entry.path == "src/deep/module_name.py"
        )


async def test_fuzzy_finder_escape_cancels(
    service: SandboxService, provider: LocalProvider, sandbox: SandboxInfo
) -> None:
    (ws(provider, sandbox) / "file.txt").write_text("x")
    app = ExplorerApp(service, sandbox.id)
    async with app.run_test() as pilot:
        ex = app.query_one(Explorer)
        await wait_until(pilot, lambda: len(ex.rows) == 1)
        ex.action_find()  # the workspace's ctrl+o (workspace.find_file) runs this from any pane
        await wait_until(pilot, lambda: isinstance(app.screen, FuzzyFinder))
        await pilot.press("f", "escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, FuzzyFinder))
        await asyncio.sleep(0.1)
        assert app.opened == []
