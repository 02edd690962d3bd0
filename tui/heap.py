"""Keeping the garbage collector's full passes short: the app's long-lived objects are frozen out of them."""

from __future__ import annotations

import gc

from textual.app import App
from textual.dom import DOMNode
from textual.signal import Signal
from textual.widget import Widget


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
            _drop_removed_widgets(app)
        gc.unfreeze()
    gc.collect()
    gc.freeze()


def _drop_removed_widgets(app: App[object]) -> None:
    """Drop what Textual keeps of removed widgets in the nodes that are still mounted; nothing undoes these when a
    widget is removed, so every editor, tab and footer key ever shown would stay reachable:
    - a watcher is a (widget, callback) pair in the watched node's list, pruned only when that value next changes:
      every TextArea watches the app's theme, and every `FooterKey` the footer rebuilds (tens at each focus or
      tab change) binds to its footer's `compact`;
    - a signal keeps its subscribers in a WeakKeyDictionary whose value, a closure over the widget, holds the key
      strongly, so the entry never goes away (TextArea subscribes to its screen's `text_selection_started_signal`);
    - `query_one` by id caches its result per node, keyed by the children's generation, in an LRU of 1,024
      entries: a stale entry still holds the widget it found (e.g. the tab bar's closed tabs). It is only a
      cache, so it is emptied;
    - a container keeps its last four layouts (`Widget._arrangement_cache`, keyed by the children's generation:
      a removal makes a new key, it evicts nothing) and its last list of displayed children (`displayed_children`,
      recomputed only when next read); each holds the children of then. The editor's tab strip is hidden once
      its last tab is closed and never laid out again, so the closed tabs' `ContentTab`s stayed alive — as many
      as it had shown (Textual 8.2.8). A container's layouts are dropped when one names a removed widget (the
      next frame lays it out again: at a close, not while typing), and the displayed list is read afresh."""
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
        if isinstance(node, Widget):
            layouts = node._arrangement_cache
            if any(child._closing for key in layouts.keys() for child in layouts[key].widgets):
                layouts.clear()
        # read for its effect: a stale cached list (the children changed since) is rebuilt without the removed
        node.displayed_children  # noqa: B018
