"""The command palette's provider: every command that applies anywhere on the screen (issue 11 §4).

It lists what `tui.registry.for_context(screen, "palette")` answers — the focused pane's actions first, then
every other pane's, the screen's and the app's; cursor movement never — grouped by the names people know
("Git", "Terminal tabs"), each with its key. Choosing one runs it where it lives (`tui.registry.run`): "Commit"
from the editor focuses the git panel and opens its commit box; "Snapshot" snapshots the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from tui import registry

SKIP_ACTIONS = {"command_palette", "app.command_palette", "app.focus_next", "app.focus_previous"}


@dataclass(frozen=True)
class Command:
    title: str
    group: str
    keys: str
    help: str
    run: Callable[[], Any]

    def prompt(self, title: Content | None = None) -> Content:
        """The title (highlighted where a query matched), then the key, dim."""
        shown = title if title is not None else Content(self.title)
        return shown + Content.styled("  " + self.keys, "dim") if self.keys else shown

    @property
    def search_text(self) -> str:
        return f"{self.group} {self.title}"

    @property
    def about(self) -> str:
        """The words a command is also found by, after its title: its tooltip ("restore" finds Checkpoints)."""
        return self.help


def _words(matcher: Any, text: str) -> float:
    """A match of the query as a whole word of `text` (a fuzzy match in a long tooltip would match anything)."""
    query = matcher.query.strip().lower()
    if not query or query not in text.lower():
        return 0.0
    return 1.0 if any(word.startswith(query) for word in text.lower().split()) else 0.0


class PaneCommands(Provider):
    def commands(self) -> list[Command]:
        app = self.app
        grouped: dict[str, list[Command]] = {}
        for entry in registry.for_context(self.screen, "palette"):
            if entry.key.action in SKIP_ACTIONS:
                continue
            tip = entry.key.tooltip
            grouped.setdefault(entry.group, []).append(
                Command(
                    entry.key.description,
                    entry.group,
                    entry.keys_label,
                    f"{entry.group} · {tip}" if tip else entry.group,
                    partial(registry.run, app, entry),
                )
            )
        # groups in the order they first appear: the focused pane's first
        out = [command for commands in grouped.values() for command in commands]
        out.append(Command("Change theme", "App", "", "App · Pick one of Textual's themes", app.action_change_theme))
        return out

    async def discover(self) -> Hits:
        for command in self.commands():
            yield DiscoveryHit(command.prompt(), command.run, text=command.title, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            # the title first, then group and title, then what it does: "restore" finds the commands that restore
            score = max(
                matcher.match(command.title),
                matcher.match(command.search_text) * 0.9,
                _words(matcher, command.about) * 0.6,
            )
            if score > 0:
                prompt = command.prompt(matcher.highlight(command.title))
                yield Hit(score, prompt, command.run, text=command.title, help=command.help)
