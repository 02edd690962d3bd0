"""CodeEditor's bounded bracket matching gives the stock TextArea's answer, walking either way."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import TextArea

from widgets.editor import CodeEditor

TEXT = "f(a[0], {b: (c)}) ] (\n  [x(y)]\n) {unclosed ( ] }\n"


class BracketApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CodeEditor(TEXT)
        yield TextArea(TEXT)


async def test_every_bracket_finds_the_partner_textarea_finds() -> None:
    app = BracketApp()
    async with app.run_test(size=(80, 24)):
        ours = app.query_one(CodeEditor)
        stock = next(w for w in app.query(TextArea) if type(w) is TextArea)
        checked = 0
        for row, line in enumerate(TEXT.splitlines()):
            for col, ch in enumerate(line):
                if ch not in "()[]{}":
                    continue
                got = ours.find_matching_bracket(ch, (row, col))
                assert got == TextArea.find_matching_bracket(stock, ch, (row, col)), (ch, row, col)
                checked += got is not None
        assert checked >= 10  # matches found both forward (openers) and backward (closers)
