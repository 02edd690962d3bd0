"""The command palette's provider: the commands that apply now (DESIGN §7, after Posting).

It lists the active bindings of the screen under the palette — the focused widget and its pane, the screen and
the app — from the same binding data as the footer and the help screen, plus a couple of app commands that have no
key. Choosing a command runs the binding's action in its own namespace, exactly as pressing the key would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

SKIP_ACTIONS = {"command_palette", "app.command_palette", "app.focus_next", "app.focus_previous"}


@dataclass(frozen=True)
class Command:
    title: str
    help: str
    run: Callable[[], Any]


class PaneCommands(Provider):
    def commands(self) -> list[Command]:
        screen = self.screen
        app = self.app
        out: list[Command] = []
        seen: set[tuple[int, str]] = set()
        by_action: dict[tuple[int, str], list[str]] = {}
        active = list(screen.active_bindings.items())
        for key, item in active:
            by_action.setdefault((id(item.node), item.binding.action), []).append(key)
        for _key, item in active:
            binding = item.binding
            ident = (id(item.node), binding.action)
            if ident in seen or binding.action in SKIP_ACTIONS or not binding.description or not item.enabled:
                continue
            seen.add(ident)
            keys = ", ".join(app.get_key_display(binding.__class__(k, "")) for k in by_action[ident])
            help_text = f"{binding.tooltip}  ({keys})" if binding.tooltip else f"({keys})"
            out.append(Command(binding.description, help_text, partial(_run, app, binding.action, item.node)))
        out.append(Command("Change theme", "Pick one of Textual's themes", app.action_change_theme))
        return out

    async def discover(self) -> Hits:
        for command in self.commands():
            yield DiscoveryHit(Text(command.title), command.run, text=command.title, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.run, text=command.title, help=command.help)


async def _run(app: Any, action: str, namespace: DOMNode) -> None:
    await app.run_action(action, namespace)
