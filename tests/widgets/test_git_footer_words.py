"""The git panel's diff and stash screens say one thing about a key: the footer's words for space follow what it does
(unstage in a staged diff), and the screens' hint lines use the footer's keys."""

from __future__ import annotations

from rich.text import Text
from textual.app import App
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from services.git_parse import DiffFile, FileStatus, parse_diff
from tests.conftest import wait_until
from widgets.footer import FittedFooter
from widgets.git.diff_screen import GitDiffScreen
from widgets.git.stash import StashScreen

ONE = parse_diff(b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")


class _FakeGit:
    async def diff_for(self, entry: FileStatus, *, staged: bool) -> list[DiffFile]:
        return ONE

    async def stashes(self) -> list[object]:
        return []


def footer_words(app: App[None]) -> dict[str, str]:
    """key → description of the modal screen's own footer."""
    return {k.key_display: k.description for k in app.screen.query_one(FittedFooter).query(FooterKey)}


def hint(app: App[None], selector: str) -> str:
    rendered = app.screen.query_one(selector, Static).render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


async def test_the_footer_says_unstage_hunk_in_a_staged_diff_and_stage_hunk_otherwise() -> None:
    entry = FileStatus(path="x", kind="changed", index="M", worktree="M")
    for staged, words in ((True, "Unstage hunk"), (False, "Stage hunk")):
        app = App[None]()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.push_screen(GitDiffScreen(_FakeGit(), entry, staged=staged))  # type: ignore[arg-type]
            await wait_until(pilot, lambda app=app: "space" in footer_words(app), "the diff screen's footer")
            assert footer_words(app)["space"] == words
            assert f"space {words.lower()}" in hint(app, "#diff-hint")


async def test_the_stash_hint_names_the_footer_s_key_for_apply() -> None:
    app = App[None]()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(StashScreen(_FakeGit()))  # type: ignore[arg-type]
        await wait_until(pilot, lambda: "space" in footer_words(app), "the stash screen's footer")
        assert footer_words(app)["space"] == "Apply"
        assert "space apply" in hint(app, "#stash-hint")
