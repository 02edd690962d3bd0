"""Checkpoints of Daytona sandboxes: the workspace (home) is scanned inside the sandbox, the store stays local.

The host cannot see a Daytona sandbox's files, so the scan runs there: `remote_script.py`, a fixed program, is
passed to `python3 -c` through the provider's exec (an argv list; the data it works on travels on stdin or in
uploaded files, never in a command string). It lists every name with its metadata without following a symlink;
the host compares that with the base manifest (metadata first, as services/checkpoints/scan.py does) and asks the
sandbox for the sha256 of what moved only (everything on the first checkpoint). Contents the local store lacks are
fetched in one bulk download and checked against the sandbox's hash before they become blobs, so checkpoints,
`changes --diff`, `between` and `restore` are the same operations on the same store as for local sandboxes.

A restore uploads the contents to a staging folder in home (`.sandbench-restore-<random>`, which scans skip),
then one exec of the same program does the plan — removals, folders, renames of the staged files over their
names, symlinks, folder modes — opening every folder beneath home with `O_NOFOLLOW`, so a symlink planted after
the checkpoint is replaced as a name, never written through.

What the sandbox sends back is data: every row is checked (a canonical relative path, known kind, numbers,
a sha256) before it becomes an `Entry`, and a fetched content must hash to what was listed. A sandbox that
replaces its own python3 can misreport its own workspace, nothing more: nothing it sends is run or followed on
the host.

Needs `python3` in the sandbox (Daytona's default images have it); without it, a clear refusal. Not available on
Daytona: automatic checkpoints around exec (each costs a remote scan, not a local stat walk) — see docs/cli.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import secrets
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from services import paths
from services.checkpoints.apply import select
from services.checkpoints.changes import DIFF_LIMIT, Change, compare, unified
from services.checkpoints.states import new_record
from services.checkpoints.store import KINDS, SHA256, Checkpoint, CheckpointStore, Entry, Overlay
from services.errors import FileNotFound, InvalidInput, PathRejected, ProviderError, SandbenchError, TooLarge

if TYPE_CHECKING:
    from services.checkpoints.service import ChangeSet, CheckpointService, RestoreResult
    from services.models import SandboxInfo

MAX_OUTPUT = 12 * 1024 * 1024  # the listing's size, under `sandbench serve`'s 16 MiB exec output cap
FETCH_MAX = 512 * 1024 * 1024  # contents fetched for one checkpoint (held in memory until stored)
FETCH_BATCH = 200  # files per bulk download or upload
BATCH_BYTES = 64 * 1024 * 1024  # and bytes: each request (and its response, held whole by the SDK) stays bounded
HASH_BATCH = 40 * 1024  # bytes of paths per hash request (stdin rides in one environment variable)
EXEC_TIMEOUT = 600
STAGE_PREFIX = ".sandbench-restore-"
T = TypeVar("T")
NO_PYTHON = "checkpoints of Daytona sandboxes need python3 in the sandbox (Daytona's default images have it)"


@cache
def script() -> str:
    return Path(__file__).with_name("remote_script.py").read_text()


def _human(n: int) -> str:
    return f"{n / 1024**2:.0f} MiB"


def _fail(msg: str, max_files: int) -> SandbenchError:
    """The in-sandbox program's error code as one clear line."""
    if msg == "too-many-files":
        return TooLarge(f"the workspace holds more than {max_files} files and folders: over the checkpoint limit")
    if msg == "too-large-output":
        return TooLarge(f"the workspace's file listing is over {_human(MAX_OUTPUT)}: too many files to checkpoint")
    kind, _, path = msg.partition(":")
    if kind == "mount":
        return PathRejected(f"{path!r} is a mount point: checkpoints cover the workspace only")
    if kind == "special":
        return InvalidInput(
            f"{path!r} is a FIFO or a device: checkpoints hold files, folders and symlinks only; "
            "remove it and try again"
        )
    if kind == "changed":
        return ProviderError(f"cannot restore {path!r}: its folder changed during the restore")
    if kind == "staged":
        return ProviderError(f"the uploaded content of {path!r} did not arrive intact")
    if kind == "os":
        return ProviderError(f"the sandbox refused a checkpoint operation: {path}")
    return ProviderError("the checkpoint program in the sandbox failed")


async def _run(
    svc: CheckpointService, sandbox_id: str, args: list[str], stdin: bytes | None = None, *, max_files: int = 0
) -> list[list[Any]]:
    """Run the in-sandbox program and return its rows; any framing fault fails closed."""
    # the provider's exec, not the service's: an exec through the service is itself bracketed by checkpoints
    provider: Any = svc.svc.provider
    # -I: isolated mode. Without it the exec's cwd (home, the workspace) heads sys.path, and a `json.py` there —
    # a user's, or one planted — would be imported in place of the standard library's; PYTHON* variables too.
    argv = ["python3", "-I", "-c", script(), *args]
    res = await provider.exec(sandbox_id, argv, stdin=stdin, timeout=EXEC_TIMEOUT)
    if res.timed_out:
        raise ProviderError(f"the sandbox's file scan took over {EXEC_TIMEOUT} s")
    lines = res.stdout.decode("utf-8", "replace").split("\n")
    for line in lines:
        if line.startswith("E "):
            try:
                msg = json.loads(line[2:])
            except ValueError:
                msg = ""
            raise _fail(msg if isinstance(msg, str) else "", max_files)
    if res.exit_code in (126, 127) or "B" not in lines:
        raise ProviderError(
            NO_PYTHON if res.exit_code in (126, 127) else "the checkpoint program in the sandbox failed"
        )
    start = lines.index("B") + 1
    rows: list[list[Any]] = []
    for line in lines[start:]:
        if line.startswith("Z "):
            if line != f"Z {len(rows)}":
                break
            return rows
        try:
            row = json.loads(line)
        except ValueError:
            break
        if not isinstance(row, list):
            break
        rows.append(row)
    raise ProviderError("the sandbox's file listing was cut short or malformed")


def _int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError("bad number")
    return v


def parse_row(r: list[Any]) -> Entry:
    """One row of the sandbox's listing as an `Entry`, every field checked (ValueError otherwise): the listing is
    written by the sandbox's side of the wire and is data, never trusted."""
    if len(r) != 9 or not isinstance(r[0], str) or r[1] not in KINDS or not isinstance(r[7], str):
        raise ValueError("bad row")
    path = r[0]
    try:
        if not path or paths.normalize(path) != path:
            raise ValueError("bad path")
    except SandbenchError as exc:
        raise ValueError("bad path") from exc
    mode = _int(r[2])
    if mode > 0o7777:
        raise ValueError("bad mode")
    ref = r[7]
    if r[1] == "file" and ref and not SHA256.fullmatch(ref):
        raise ValueError("bad hash")
    if r[1] == "dir" and ref:
        raise ValueError("bad folder")
    if "\x00" in ref or not isinstance(r[8], bool):
        raise ValueError("bad row")
    return Entry(path, r[1], mode, _int(r[3]), _int(r[4]), _int(r[5]), _int(r[6]), ref, r[8])


def _parse(rows: list[list[Any]]) -> list[Entry]:
    try:
        return [parse_row(r) for r in rows]
    except ValueError as exc:
        raise ProviderError("the sandbox returned a malformed file listing") from exc


def _same(old: Entry | None, new: Entry) -> bool:
    return (
        old is not None
        and not old.racy
        and old.kind == new.kind
        and (old.size, old.mtime_ns, old.ino, old.ctime_ns, old.mode)
        == (new.size, new.mtime_ns, new.ino, new.ctime_ns, new.mode)
    )


async def scan(svc: CheckpointService, sandbox_id: str, base: Mapping[str, Entry]) -> tuple[list[Entry], int, int]:
    """The workspace's entries, sorted by path, hashing (in the sandbox) only files whose metadata moved.
    Returns (entries, files hashed, bytes hashed).

    One exec, mostly: the listing itself hashes files changed since the base was scanned — any change sets a
    file's ctime to the sandbox's now, so to at least the newest ctime the base holds (every file, with no base).
    Whatever else differs from the base by metadata (a clock that went back, a change during the base's scan) is
    hashed by a second request: the shortcut saves a round trip, it decides nothing."""
    if isinstance(base, Overlay):
        base = base.materialize()  # read whole below
    since = max((e.ctime_ns for e in base.values()), default=0) if base else 0
    rows = await _run(
        svc, sandbox_id, ["scan", str(svc.max_files), str(MAX_OUTPUT), str(since)], max_files=svc.max_files
    )
    listed = _parse(rows)
    entries: list[Entry] = []
    need: list[str] = []
    hashed_files = hashed_bytes = 0
    for e in listed:
        old = base.get(e.path)
        if e.kind == "file":
            if _same(old, e) and (not e.ref or e.ref == old.ref):  # type: ignore[union-attr]
                entries.append(old)  # type: ignore[arg-type]  # reused: nothing about it moved
            elif e.ref:
                hashed_files += 1
                hashed_bytes += e.size
                entries.append(e)
            else:
                need.append(e.path)
        elif e.kind == "dir":
            entries.append(old if _same(old, e) else e)  # type: ignore[arg-type]
        else:
            entries.append(old if old is not None and old == e else e)
    for batch in _chunks(need, _path_size, count=None, limit=HASH_BATCH):
        got = await _run(svc, sandbox_id, ["hash", str(MAX_OUTPUT)], json.dumps(batch).encode())
        asked = set(batch)
        for r in got:
            if not r or r[0] not in asked:
                raise ProviderError("the sandbox returned a malformed file listing")
            asked.discard(r[0])  # each path asked for answers once
            if len(r) == 2 and r[1] == "gone":
                continue  # removed (or no longer a file) since the listing: not there any more
            try:
                e = parse_row(r)
            except ValueError as exc:
                raise ProviderError("the sandbox returned a malformed file listing") from exc
            if e.kind != "file" or not e.ref:
                raise ProviderError("the sandbox returned a malformed file listing")
            hashed_files += 1
            hashed_bytes += e.size
            entries.append(e)
    if len(entries) > svc.max_files:
        raise _fail("too-many-files", svc.max_files)
    total = sum(e.size for e in entries if e.kind == "file")
    if total > svc.max_bytes:
        raise TooLarge(f"the workspace holds more than {svc.max_bytes / 1024**3:.1f} GiB of files: over the limit")
    entries.sort(key=lambda e: e.path)
    if any(a.path == b.path for a, b in itertools.pairwise(entries)):
        raise ProviderError("the sandbox returned a malformed file listing (a name twice)")
    return entries, hashed_files, hashed_bytes


def _path_size(path: str) -> int:
    return len(json.dumps(path)) + 2  # as it travels: JSON-escaped, non-ASCII as \u escapes


def _chunks(
    items: list[T], size: Callable[[T], int], *, count: int | None = FETCH_BATCH, limit: int = BATCH_BYTES
) -> list[list[T]]:
    """`items` in runs of at most `count` items (None: any number) and `limit` bytes by `size` (a larger single
    item alone)."""
    out: list[list[T]] = []
    cur: list[T] = []
    total = 0
    for it in items:
        n = size(it)
        if cur and ((count is not None and len(cur) >= count) or total + n > limit):
            out.append(cur)
            cur, total = [], 0
        cur.append(it)
        total += n
    if cur:
        out.append(cur)
    return out


async def _fetch(svc: CheckpointService, sandbox_id: str, store: CheckpointStore, entries: list[Entry]) -> list[bytes]:
    """The contents of files whose hash the store lacks, each checked against the sandbox's hash."""
    want: dict[str, Entry] = {}
    for e in entries:
        if e.kind == "file" and e.ref not in want:
            want[e.ref] = e
    missing = await asyncio.to_thread(lambda: [e for sha, e in want.items() if not store.has_blob(sha)])
    total = sum(e.size for e in missing)
    if total > FETCH_MAX:
        raise TooLarge(
            f"this checkpoint would fetch {total / 1024**2:.0f} MiB of changed files from the sandbox: over the "
            f"{_human(FETCH_MAX)} a Daytona checkpoint fetches at once"
        )
    provider: Any = svc.svc.provider
    out: list[bytes] = []
    for batch in _chunks(missing, lambda e: e.size):
        got = await provider.download_many(sandbox_id, [e.path for e in batch])
        for e in batch:
            data = got.get(e.path)
            if data is None or hashlib.sha256(data).hexdigest() != e.ref:
                # changed (or swapped) between the hash and the download: fail closed, nothing is kept
                raise ProviderError(f"{e.path!r} changed while it was checkpointed: checkpoint again")
            out.append(data)
    return out


async def checkpoint(
    svc: CheckpointService, sandbox_id: str, message: str, kind: str, *, parent: Checkpoint | None = None
) -> tuple[Checkpoint, list[Entry]]:
    store = svc.store
    _, base = await asyncio.to_thread(svc._base, sandbox_id)
    entries, hashed_files, hashed_bytes = await scan(svc, sandbox_id, base)
    blobs = await _fetch(svc, sandbox_id, store, entries)

    def commit() -> Checkpoint:
        with store.locked():
            added = [len(b) for b in blobs if store.put_bytes(b)[1]]
            now_head = store.head(sandbox_id)  # another writer may have checkpointed meanwhile: build on theirs
            up = parent or (store.get(sandbox_id, now_head) if now_head else None)
            ckpt = new_record(
                store,
                sandbox_id,
                up,
                entries,
                message=message,
                who=svc.svc.identity,
                kind=kind,
                added=(len(added), sum(added)),
                hashed=(hashed_files, hashed_bytes),
            )
            store.save(ckpt, entries, base=up)
            store.keep_blobs()
            store.set_head(sandbox_id, ckpt.id)
            store.clear_index(sandbox_id)
            return ckpt

    return await asyncio.to_thread(commit), entries


async def changes(svc: CheckpointService, sandbox_id: str, since: str | None) -> tuple[ChangeSet, dict[str, Entry]]:
    from services.checkpoints.service import ChangeSet

    target = await asyncio.to_thread(svc.resolve, sandbox_id, since)
    _, base = await asyncio.to_thread(svc._base, sandbox_id)
    entries, _, _ = await scan(svc, sandbox_id, base)
    old = await asyncio.to_thread(svc.store.manifest, target)
    return ChangeSet(target, compare(old, entries)), {e.path: e for e in entries}


def _describe(entry: Entry | None) -> str:
    if entry is None:
        return "absent"
    return f"symlink -> {entry.ref}" if entry.kind == "symlink" else entry.kind


async def diff(
    svc: CheckpointService, sandbox_id: str, since: str | None
) -> tuple[ChangeSet, list[tuple[Change, list[str]]]]:
    cs, now = await changes(svc, sandbox_id, since)
    store = svc.store
    old = {e.path: e for e in await asyncio.to_thread(store.manifest, cs.since)}
    provider: Any = svc.svc.provider
    want = [
        ch.path
        for ch in cs.changes
        if ch.status in ("added", "modified") and ch.kind == "file" and (now[ch.path].size <= DIFF_LIMIT)
    ]
    current = await provider.download_many(sandbox_id, want) if want else {}
    out: list[tuple[Change, list[str]]] = []
    for ch in cs.changes:
        if ch.kind == "dir" and ch.old_kind in (None, "dir"):
            continue
        before, after = old.get(ch.path), now.get(ch.path)
        if ch.status == "mode-changed":
            out.append((ch, [f"mode {ch.old_mode:o} -> {ch.new_mode:o}"]))
            continue
        if (before is not None and before.kind != "file") or (after is not None and after.kind != "file"):
            out.append((ch, [f"{_describe(before)} => {'deleted' if after is None else _describe(after)}"]))
            continue
        a = await asyncio.to_thread(store.blob_bytes, before.ref, DIFF_LIMIT) if before else b""
        b: bytes | None = b""
        if after is not None:
            b = current.get(ch.path) if after.size <= DIFF_LIMIT else None
            if b is None and after.size <= DIFF_LIMIT:
                b = b""  # changed again since the scan
        if a is None or b is None:
            out.append((ch, [f"{ch.path}: over {DIFF_LIMIT // 1024} KiB, not diffed"]))
        else:
            out.append((ch, unified(ch.path, a if ch.status != "added" else None, b if after is not None else None)))
    return cs, out


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def plan(
    current: list[Entry], target: list[Entry], scope: list[str] | None
) -> tuple[list[list[Any]], list[Entry], set[str]]:
    """What the sandbox must do to make `current` (a scan just made) match `target` within `scope`, in the order
    services/checkpoints/apply.py does it locally: (operations, files to stage in operation order, paths touched)."""
    cur = {e.path: e for e in current}
    tgt = {e.path: e for e in target}
    cur_in, tgt_in = select(current, scope), select(target, scope)
    want_dirs: set[str] = {e.path for e in tgt_in if e.kind == "dir"}
    if scope is not None:
        for e in tgt_in:
            want_dirs.update(a for a in _ancestors(e.path) if a in tgt and tgt[a].kind == "dir")
    ops: list[list[Any]] = []
    staged: list[Entry] = []
    touched: set[str] = set()
    done: set[str] = set()
    for e in cur_in:
        if e.path in tgt and tgt[e.path].kind == e.kind:
            continue
        if any(a in done for a in _ancestors(e.path)):
            continue  # goes with its folder
        ops.append(["rm", e.path])
        done.add(e.path)
        touched.add(e.path)
    made: set[str] = set()
    for p in sorted(want_dirs):
        seen = cur.get(p)
        if seen is not None and seen.kind == "dir" and p not in done:
            continue
        ops.append(["mkdir", p, tgt[p].mode & 0o777])
        made.add(p)
        touched.add(p)
    for e in tgt_in:
        if e.kind == "dir":
            continue
        now = cur.get(e.path)
        if now is not None and now.kind == e.kind and now.ref == e.ref and now.mode == e.mode and e.path not in done:
            continue
        if e.kind == "file":
            ops.append(["file", e.path, e.mode & 0o777, len(staged), e.ref])
            staged.append(e)
        else:
            ops.append(["link", e.path, e.ref])
        touched.add(e.path)
    for p in sorted(want_dirs, key=lambda d: d.count("/"), reverse=True):
        now = cur.get(p)
        if now is not None and now.kind == "dir" and now.mode == tgt[p].mode and p not in made:
            continue
        ops.append(["chmod", p, tgt[p].mode & 0o777])
        touched.add(p)
    return ops, staged, touched


async def apply(
    svc: CheckpointService, sandbox_id: str, current: list[Entry], target: list[Entry], scope: list[str] | None
) -> tuple[set[str], int, int]:
    """Make the sandbox's workspace match `target` within `scope`: (paths touched, names written, removed)."""
    ops, staged, touched = plan(current, target, scope)
    written = sum(1 for op in ops if op[0] in ("file", "link"))
    deleted = sum(1 for op in ops if op[0] == "rm")
    if not ops:
        return touched, written, deleted
    store = svc.store
    stage = f"{STAGE_PREFIX}{secrets.token_hex(8)}"

    def read_all() -> list[tuple[str, bytes]]:
        return [(f"{stage}/{i}", b"".join(store.read_blob(e.ref))) for i, e in enumerate(staged)]  # hash-verified

    files = await asyncio.to_thread(read_all)
    if sum(len(d) for _, d in files) > FETCH_MAX:
        raise TooLarge(f"this restore would upload over {_human(FETCH_MAX)} at once: restore fewer paths at a time")
    files.append((f"{stage}/plan.json", json.dumps(ops, ensure_ascii=True).encode()))
    provider: Any = svc.svc.provider
    try:
        for batch in _chunks(files, lambda f: len(f[1])):
            await provider.upload_many(sandbox_id, batch)
        await _run(svc, sandbox_id, ["apply", stage])
    except BaseException:
        with contextlib.suppress(SandbenchError):
            await provider.delete_path(sandbox_id, stage, recursive=True)
        raise
    return touched, written, deleted


async def restore(svc: CheckpointService, sandbox_id: str, ref: str, scope: list[str] | None) -> RestoreResult:
    from services.checkpoints.service import RestoreResult

    store = svc.store
    target = await asyncio.to_thread(svc.resolve, sandbox_id, ref)
    entries = await asyncio.to_thread(store.manifest, target)
    before, current = await checkpoint(svc, sandbox_id, f"before restoring {target.id}", "before-restore")
    if scope is not None:
        for p in scope:
            if not select(entries, [p]) and not select(current, [p]):
                raise FileNotFound(f"{p!r} is neither in checkpoint {target.id} nor in the workspace")
    try:
        touched, written, deleted = await apply(svc, sandbox_id, current, entries, scope)
    except SandbenchError as exc:
        await asyncio.to_thread(store.set_index, sandbox_id, None)  # what was written is unknown: hash all next
        raise type(exc)(
            f"{exc} — the restore stopped part-way; checkpoint {before.id} holds the state before it "
            f"(restore it to undo)"
        ) from exc

    def finish() -> None:
        with store.locked():
            store.set_index(sandbox_id, before.id, touched)
            if scope is None:
                store.set_head(sandbox_id, target.id)

    await asyncio.to_thread(finish)
    return RestoreResult(before, target, scope, written, deleted)


async def fork(
    svc: CheckpointService, sandbox_id: str, new_name: str, at: str | None
) -> tuple[SandboxInfo, Checkpoint]:
    """Daytona's own fork (a copy-on-write clone of the sandbox as it is now); with `at`, the checkpoint's files
    are then restored into the new sandbox. Its first checkpoint's parent is the source checkpoint."""
    info = await svc._ready(sandbox_id, write=True)
    src = (
        await asyncio.to_thread(svc.resolve, sandbox_id, at)
        if at is not None
        else await svc.create(sandbox_id, f"fork to {new_name}")
    )
    provider: Any = svc.svc.provider
    if not hasattr(provider, "fork"):
        raise ProviderError("fork is not available for this provider")
    new = await provider.fork(sandbox_id, new_name)
    try:
        await svc.svc.get(new.id)  # the service's view of it (ownership, cache)
        note = f"forked from {info.name} at {src.id}"
        if at is not None:
            _, base = await asyncio.to_thread(svc._base, new.id)
            current, _, _ = await scan(svc, new.id, base)
            await apply(svc, new.id, current, await asyncio.to_thread(svc.store.manifest, src), None)
        first = (await checkpoint(svc, new.id, note, "fork", parent=src))[0]
    except BaseException as exc:
        svc._audit("fork", sandbox_id, name=src.id, outcome="error")
        with contextlib.suppress(SandbenchError):
            await svc.svc.delete(new.id)
        if isinstance(exc, SandbenchError):
            raise
        raise ProviderError("fork failed unexpectedly (details in the log)") from exc
    svc.svc.audit.record("fork", sandbox=sandbox_id, name=src.id, dest=new.name)  # the Timeline names the new one
    svc._audit("checkpoint", new.id, name=first.id)
    return await svc.svc.get(new.id), first
