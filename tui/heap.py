"""Keeping the garbage collector's full passes short: the app's long-lived objects are frozen out of them."""

from __future__ import annotations

import gc

from textual.app import App
from textual.signal import Signal


def settle_heap(app: App[object] | None = None, *, release: bool = False) -> None:
    """Move what exists now (the app, the open files' documents and highlight state) out of the collector's way.

    A full collection walks every object in the process: with the app and a 20,000-line file loaded that is a
    ~100 ms pause every couple of seconds while typing, which is the editor's p99. Objects alive after start-up or
    after opening a file mostly live as long as the app; `gc.freeze()` parks them in the permanent generation
    so later passes only walk what is new.

    Frozen objects are never collected, though, and a closed tab (or a left workspace) was frozen while it was
    open. `release=True` — after something was closed — thaws everything first, so this one full pass frees what
    was closed before what is still alive is frozen again. It walks the whole heap once (at a close, not while
    typing); an open (`release=False`) only walks what is new since the last freeze. With `app`, the release also
    drops closed widgets from the app's and screens' watcher lists (below), which would keep them alive anyway.
    """
    if release:
        if app is not None:
            _drop_closed_watchers(app)
        gc.unfreeze()
    gc.collect()
    gc.freeze()


def _drop_closed_watchers(app: App[object]) -> None:
    """Textual's TextArea, for every editor, watches the app's theme and subscribes to its screen's
    `text_selection_started_signal`, and nothing undoes either when the widget is removed:
    - a watcher is a (widget, callback) pair in the app's list, pruned only when the theme next changes;
    - a signal keeps its subscribers in a WeakKeyDictionary whose value, a closure over the widget, holds the key
      strongly, so the entry never goes away.
    Until then every editor ever opened stays reachable. Drop the closed widgets from both, as Textual would."""
    for obj in (app, *app.screen_stack):
        watchers: dict[str, list[tuple[object, object]]] = getattr(obj, "__watchers", {})
        for entries in watchers.values():
            entries[:] = [(node, cb) for node, cb in entries if not getattr(node, "_closing", False)]
        for value in vars(obj).values():
            if isinstance(value, Signal):
                for node in [n for n in value._subscriptions if n._closing]:
                    value.unsubscribe(node)
