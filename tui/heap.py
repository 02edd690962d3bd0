"""Keeping the garbage collector's full passes short: the app's long-lived objects are frozen out of them."""

from __future__ import annotations

import gc

from textual.app import App
from textual.dom import DOMNode
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
    drops what Textual keeps of removed widgets (below), which would keep them alive anyway.
    """
    if release:
        if app is not None:
            _drop_closed_watchers(app)
        gc.unfreeze()
    gc.collect()
    gc.freeze()


def _drop_closed_watchers(app: App[object]) -> None:
    """Drop what Textual keeps of removed widgets in the nodes that are still mounted; nothing undoes these when a
    widget is removed, so every editor, tab and footer key ever shown would stay reachable:
    - a watcher is a (widget, callback) pair in the watched node's list, pruned only when that value next changes:
      every TextArea watches the app's theme, and every `FooterKey` the footer rebuilds (tens at each focus or
      tab change) binds to its footer's `compact`;
    - a signal keeps its subscribers in a WeakKeyDictionary whose value, a closure over the widget, holds the key
      strongly, so the entry never goes away (TextArea subscribes to its screen's `text_selection_started_signal`);
    - `query_one` by id caches its result per node, keyed by the children's generation, in an LRU of 1,024
      entries: a stale entry still holds the widget it found (e.g. the tab bar's closed tabs). It is only a
      cache, so it is emptied."""
    nodes: list[DOMNode] = [app]
    for screen in app.screen_stack:
        nodes += [screen, *screen.walk_children(with_self=False)]
    for node in nodes:
        watchers: dict[str, list[tuple[object, object]]] = getattr(node, "__watchers", {})
        for entries in watchers.values():
            entries[:] = [(owner, cb) for owner, cb in entries if not getattr(owner, "_closing", False)]
        for value in vars(node).values():
            if isinstance(value, Signal):
                for owner in [n for n in value._subscriptions if n._closing]:
                    value.unsubscribe(owner)
        node._query_one_cache.clear()
