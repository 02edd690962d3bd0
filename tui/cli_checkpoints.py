"""The checkpoint verbs of the `sandbench` CLI: checkpoint, checkpoints (and --delete), changes, restore, fork, and
`config` (a sandbox's own settings: automatic checkpoints) (docs/cli.md).

Thin: parsing lives in tui/cli.py, the work in services/checkpoints; this module only turns results into text
(names from the sandbox escaped with `safe_text`) or the stable `--json` shapes documented in docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from services.text import content, safe_text

if TYPE_CHECKING:  # the parser is built on every start of the app: the store's modules load when a verb runs
    from services.checkpoints import Checkpoint
    from services.checkpoints.changes import Change

VERBS = ("checkpoint", "checkpoints", "changes", "restore", "fork", "config")
SETTINGS = ("auto-checkpoint",)


def add_parsers(sub: Any) -> None:
    ck = sub.add_parser("checkpoint", help="checkpoint a sandbox's files (costs what changed since the last one)")
    ck.add_argument("name")
    ck.add_argument("-m", "--message", default="")
    ck.add_argument("--json", action="store_true")
    cks = sub.add_parser("checkpoints", help="list a sandbox's checkpoints as a tree")
    cks.add_argument("name")
    cks.add_argument("--json", action="store_true")
    cks.add_argument(
        "--delete", metavar="CKPT", help="delete one checkpoint (its children are re-based; unused blobs freed)"
    )
    ch = sub.add_parser(
        "changes", help="what changed in a sandbox's files since a checkpoint (default: the one its files are at)"
    )
    ch.add_argument("name")
    ch.add_argument(
        "--since",
        metavar="CKPT",
        help="the checkpoint to compare with (default: the one the files are at — the latest taken, or the one last "
        "restored in full, so after a restore not its before-restore checkpoint)",
    )
    ch.add_argument("--json", action="store_true")
    ch.add_argument("--diff", action="store_true", help="print a unified diff (binary files named as such)")
    rs = sub.add_parser("restore", help="restore a sandbox's files (or some paths) to a checkpoint; undoable")
    rs.add_argument("name")
    rs.add_argument("checkpoint", help="the checkpoint: its id or a unique prefix of it (4+ characters), or latest")
    rs.add_argument(
        "paths", nargs="*", default=[], metavar="PATH", help="only these files or folders (default: everything)"
    )
    rs.add_argument("--json", action="store_true")
    fk = sub.add_parser("fork", help="a new sandbox whose files are a checkpoint of this one")
    fk.add_argument("name")
    fk.add_argument("new", help="the new sandbox's name (one no sandbox has)")
    fk.add_argument("--at", metavar="CKPT", help="default: a checkpoint taken now")
    fk.add_argument("--json", action="store_true")
    cf = sub.add_parser("config", help="a sandbox's own settings: auto-checkpoint on|off|default")
    cf.add_argument("name")
    cf.add_argument("setting", nargs="?", choices=SETTINGS)
    cf.add_argument("value", nargs="?", choices=("on", "off", "default"))
    cf.add_argument("--json", action="store_true")


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def checkpoint_json(c: Checkpoint) -> dict[str, Any]:
    return {
        "id": c.id,
        "parent": c.parent,
        "parent_sandbox": c.parent_sandbox if c.parent_sandbox != c.sandbox else None,
        "time": _when(c.created_at),
        "message": c.message,
        "who": c.who,
        "kind": c.kind,
        "name": c.name,  # a named snapshot's name (sandbench snapshot, or the SDK's create_snapshot); else null
        "files": c.files,
        "bytes": c.bytes,
        "files_added": c.files_added,
        "bytes_added": c.bytes_added,
        "files_hashed": c.hashed_files,
        "bytes_hashed": c.hashed_bytes,
    }


def _size(n: int | None) -> str:
    from tui.cli import human_size

    return human_size(n)


def _line(c: Checkpoint, head: str | None) -> str:
    msg = f"  {safe_text(c.message)}" if c.message else ""
    mark = "  (HEAD)" if c.id == head else ""
    return f"{c.id}  {_when(c.created_at)}  {safe_text(c.who)}  {c.kind}  {c.files} files {_size(c.bytes)}{msg}{mark}"


def print_tree(ckpts: list[Checkpoint], head: str | None, names: dict[str, str]) -> None:
    """The tree as the app draws it (widgets/checkpoint_tree.py `checkpoint_rows`): newest first, a child above its
    parent, a branch left by a restore indented; each line starts with what the checkpoint added to the store."""
    from widgets.checkpoint_tree import ADDED_CELLS, LEGEND, added_text, checkpoint_rows

    print(f"{'+files size':>{ADDED_CELLS}}  newest first, child above parent · {LEGEND}")
    for row in checkpoint_rows(ckpts, head, names):
        c = row.ckpt
        added = added_text(c)  # as the app says it
        pad = "  " * row.depth
        print(f"{added:>{ADDED_CELLS}}  {pad}{_line(c, head)}")
        if row.origin is not None:
            origin = names.get(c.parent_sandbox or "", c.parent_sandbox or "?")
            print(f"{'':>{ADDED_CELLS}}  {pad}(forked from {safe_text(origin)} at {c.parent})")


def _mode(m: int | None) -> str:
    return "-" if m is None else f"{m:o}"


def change_line(ch: Change) -> str:
    tag = {"added": "A", "deleted": "D", "modified": "M", "mode-changed": "m"}[ch.status]
    slash = "/" if ch.kind == "dir" else ""
    if ch.status == "added":
        detail = _size(ch.new_size) if ch.kind != "dir" else "folder"
    elif ch.status == "deleted":
        detail = _size(ch.old_size) if ch.kind != "dir" else "folder"
    elif ch.status == "modified":
        detail = f"{_size(ch.old_size)} -> {_size(ch.new_size)}"
        if ch.old_kind != ch.kind:
            detail += f" (was a {ch.old_kind})"
    else:
        detail = f"mode {_mode(ch.old_mode)} -> {_mode(ch.new_mode)}"
    return f"{tag}  {safe_text(ch.path)}{slash}  {detail}"


async def dispatch(args: argparse.Namespace, svc: Any, info: Any) -> int:
    cps = svc.checkpoints
    verb = args.verb
    if verb == "checkpoint":
        c = await cps.create(info.id, args.message)
        if args.json:
            print(json.dumps(checkpoint_json(c), indent=2))
        else:
            print(
                f"checkpoint {c.id} of {safe_text(info.name)}: {c.files} files {_size(c.bytes)}, "
                f"{c.files_added} new ({_size(c.bytes_added)} added to the store)"
            )
        return 0
    if verb == "checkpoints" and args.delete:
        gone = await cps.delete(info.id, args.delete)
        if args.json:
            gone_doc = {
                "sandbox": info.name,
                "deleted": gone.ids,
                "rebased": gone.rebased,
                "blobs_freed": gone.blobs_freed,
                "bytes_freed": gone.bytes_freed,
            }
            print(json.dumps(gone_doc, indent=2))
        else:
            moved = f"; {len(gone.rebased)} child checkpoint(s) now hang from its parent" if gone.rebased else ""
            print(
                f"deleted checkpoint {', '.join(gone.ids)} of {safe_text(info.name)}{moved}; "
                f"{gone.blobs_freed} blobs ({_size(gone.bytes_freed)}) freed"
            )
        return 0
    if verb == "config":
        return await _config(args, svc, info)
    if verb == "checkpoints":
        ckpts, head = await cps.list_checkpoints(info.id)
        if args.json:
            tree: dict[str, Any] = {
                "sandbox": info.name,
                "head": head,
                "checkpoints": [checkpoint_json(c) for c in ckpts],
            }
            print(json.dumps(tree, indent=2))
        elif not ckpts:
            print(f"{safe_text(info.name)} has no checkpoints yet (sandbench checkpoint {safe_text(info.name)})")
        else:
            names = {i.id: i.name for i in await svc.list_sandboxes()}
            print_tree(ckpts, head, names)
        return 0
    if verb == "changes":
        if args.diff:
            cs, diffs = await cps.diff(info.id, args.since)
        else:
            cs, diffs = await cps.changes(info.id, args.since), None
        if args.json:
            doc: dict[str, Any] = {
                "sandbox": info.name,
                "since": checkpoint_json(cs.since),
                "changes": [ch.to_json() for ch in cs.changes],
            }
            if diffs is not None:
                doc["diffs"] = [{"path": ch.path, "lines": lines} for ch, lines in diffs]
            print(json.dumps(doc, indent=2))
            return 0
        if not cs.changes:
            print(f"no changes since {cs.since.id} ({_when(cs.since.created_at)})")
            return 0
        print(f"changes since {cs.since.id} ({_when(cs.since.created_at)}):")
        for ch in cs.changes:
            print(change_line(ch))
        for _ch, lines in diffs or []:
            print()
            for line in lines:
                print(content(line, tabs=8))
        return 0
    if verb == "restore":
        r = await cps.restore(info.id, args.checkpoint, args.paths)
        if args.json:
            out = {
                "sandbox": info.name,
                "restored": checkpoint_json(r.target),
                "before": checkpoint_json(r.before),
                "paths": r.paths,
                "written": r.written,
                "deleted": r.deleted,
            }
            print(json.dumps(out, indent=2))
            return 0
        what = ", ".join(safe_text(p) for p in r.paths) if r.paths else "all files"
        name = safe_text(info.name)
        print(f"restored {what} of {name} to {r.target.id}: {r.written} written, {r.deleted} removed")
        print(f"the state before is checkpoint {r.before.id}: `sandbench restore {name} {r.before.id}` undoes this")
        print(
            "running processes were not stopped and see the files change under them; to start them afresh, "
            f"restart the terminals (or `sandbench stop {name}` and start it again)"
        )
        return 0
    if verb == "fork":
        new, first = await cps.fork(info.id, args.new, args.at)
        if args.json:
            print(json.dumps({"sandbox": new.name, "id": new.id, "checkpoint": checkpoint_json(first)}, indent=2))
        else:
            print(f"forked {safe_text(info.name)} at {first.parent} into {safe_text(new.name)} ({new.id})")
        return 0
    raise AssertionError(verb)


async def _config(args: argparse.Namespace, svc: Any, info: Any) -> int:
    from services.checkpoints import auto

    if args.setting is not None:
        if args.value is None:
            from tui.cli import UsageError

            raise UsageError(f"{args.setting} needs a value: on, off or default")
        info = await auto.set_auto(svc, info.id, args.value)
    on, source = auto.state(svc, info)
    if args.json:
        print(json.dumps({"sandbox": info.name, "auto-checkpoint": {"on": on, "from": source}}, indent=2))
    else:
        where = "set on this sandbox" if source == "sandbox" else "the config's default"
        print(f"auto-checkpoint: {'on' if on else 'off'} ({where})")
    return 0
