"""The checkpoint store: content-addressed blobs and one manifest per checkpoint, under `<data_dir>/store/`.

    store/objects/ab/cdef…            a file's bytes, named by their sha256 (each blob once, whoever made it)
    store/tmp/                        temps of blobs and manifests, renamed into place when complete
    store/checkpoints/<sandbox>/<id>.manifest.gz   the workspace's entries at that checkpoint (see `Entry`): as
                                                   a delta on its parent's (what changed, what went), with a full
                                                   one at least every MAX_CHAIN checkpoints
    store/checkpoints/<sandbox>/<id>.json          who, when, message, parent, sizes; written last, so a
                                                   checkpoint exists exactly when its .json does
    store/checkpoints/<sandbox>/HEAD               the checkpoint the workspace is at (the parent of the next)
    store/checkpoints/<sandbox>/index.json         after a restore, the stat cache that lets the next checkpoint
                                                   hash only what moved: a checkpoint less the paths the restore
                                                   wrote (otherwise HEAD's manifest is that cache)
    store/lock                                     flock held by every write (blobs are shared across sandboxes)

Everything is written to a temp in `store/tmp` and renamed (atomic on one filesystem); a failed checkpoint removes
the blobs it added, so nothing is left behind. Folders 0700, files 0600: the store holds workspace contents.
Blobs are not fsynced one by one (as git's are not by default); restore verifies each blob's hash as it reads it,
so a blob torn by a power cut is refused, never restored.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import secrets
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

from services.checkpoints.lists import ListMaps, Overlay
from services.errors import InvalidInput, ProviderError

Kind = Literal["file", "dir", "symlink"]
CHECKPOINT_ID = re.compile(r"[0-9a-f]{12}")
SHA256 = re.compile(r"[0-9a-f]{64}")
KINDS = frozenset({"file", "dir", "symlink"})
MAX_CHAIN = 32  # a manifest is a delta on its parent's, with a full one at least every this many
CACHE = 8  # manifests kept in memory (the app checkpoints the same sandboxes again and again; a restore adds two)
SMALL_FILE = 4 * 1024 * 1024  # read whole into memory (hash first, write only when new); larger ones stream
CHUNK = 1024 * 1024


class Entry(NamedTuple):
    """One name in a workspace at a checkpoint. `ref`: sha256 of a file, target of a symlink, "" for a folder.
    `racy`: its metadata cannot vouch for its content (changed within a clock tick of being read, or while read),
    so the next scan hashes it again whatever its metadata says.

    A NamedTuple, not a frozen dataclass: a manifest of 20,000 names is decoded into 20,000 of these and a frozen
    dataclass's `__init__` (an `object.__setattr__` per field) made that 2.5x slower; `==` is a C tuple compare."""

    path: str
    kind: Kind
    mode: int
    size: int
    mtime_ns: int
    ino: int
    ctime_ns: int
    ref: str
    racy: bool = False

    def same_stat(self, st: os.stat_result) -> bool:
        return (
            not self.racy
            and st.st_size == self.size
            and st.st_mtime_ns == self.mtime_ns
            and st.st_ino == self.ino
            and st.st_ctime_ns == self.ctime_ns
            and stat.S_IMODE(st.st_mode) == self.mode
        )

    def row(self) -> list[Any]:
        return list(self)

    @staticmethod
    def from_row(r: list[Any]) -> Entry:
        if type(r) is not list or len(r) != 9 or r[1] not in KINDS or type(r[0]) is not str:
            raise ValueError("bad manifest row")
        return _make_entry(r)


_make_entry = Entry._make


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's record. `parent_sandbox` differs from `sandbox` for the first checkpoint of a fork.
    `files_added`/`bytes_added`: blobs this checkpoint added to the store (what it cost); `hashed_*`: what its scan
    had to read (what moved)."""

    id: str
    sandbox: str
    parent: str | None
    parent_sandbox: str | None
    created_at: float
    message: str
    who: str
    kind: str  # "manual", "before-restore", "fork", "auto" (around an exec; pruned by retention), "snapshot"
    # (a named snapshot: kept while its snapshot is), "archive" (an archived sandbox's workspace)
    files: int
    bytes: int
    files_added: int
    bytes_added: int
    hashed_files: int
    hashed_bytes: int
    # a named snapshot's own record (services/checkpoints/states.py): what a repair would list it by
    name: str | None = None
    owner: str | None = None
    source: str | None = None  # the name of the sandbox it was taken from

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _sandbox_key(sandbox_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", sandbox_id) or sandbox_id in (".", ".."):
        raise InvalidInput("not a sandbox id")
    return sandbox_id


class CheckpointStore:
    """Synchronous (callers use asyncio.to_thread). Hold `locked()` around anything that writes."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "store"
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.checkpoints = self.root / "checkpoints"
        for d in (self.root, self.objects, self.tmp, self.checkpoints):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._new_blobs: list[Path] | None = None
        self._cache: dict[tuple[str, str], tuple[list[Entry], int]] = {}
        self._cache_lock = threading.Lock()
        self.lists = ListMaps(2 * CACHE)  # per list handed out: its path map and paths (services/checkpoints/lists.py)
        self._indexes: dict[str, tuple[bytes, list[Entry], list[Entry]]] = {}

    # -- locking and rollback -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive over the whole store, across processes and threads (each call opens its own description).
        A body that raises removes the blobs it added: under the lock no one else can have come to use them."""
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # every temp is made under this lock: any left now is a killed writer's
            for left in self.tmp.iterdir():
                with contextlib.suppress(OSError):
                    left.unlink()
            self._new_blobs = []
            try:
                yield
            except BaseException:
                for p in self._new_blobs:
                    with contextlib.suppress(OSError):
                        p.unlink()
                raise
            finally:
                self._new_blobs = None
        finally:
            os.close(fd)

    def keep_blobs(self) -> None:
        """The blobs added so far are referenced by a saved checkpoint: a later failure under this lock keeps them."""
        if self._new_blobs is not None:
            self._new_blobs.clear()

    # -- blobs --------------------------------------------------------------------------------------------------
    def blob_path(self, sha: str) -> Path:
        if not SHA256.fullmatch(sha):
            raise ProviderError("the checkpoint store holds a damaged manifest (a bad blob name)")
        return self.objects / sha[:2] / sha[2:]

    def has_blob(self, sha: str) -> bool:
        return self.blob_path(sha).exists()

    def _temp(self) -> tuple[int, Path]:
        p = self.tmp / f"{secrets.token_hex(8)}.tmp"
        return os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), p

    def _publish(self, tmp: Path, sha: str) -> bool:
        """Move a complete temp to its blob name; False (temp dropped) when the blob was already there."""
        dest = self.blob_path(sha)
        if dest.exists():
            tmp.unlink(missing_ok=True)
            return False
        dest.parent.mkdir(mode=0o700, exist_ok=True)
        os.rename(tmp, dest)
        if self._new_blobs is not None:
            self._new_blobs.append(dest)
        return True

    def put_fd(self, fd: int, size_hint: int, *, store: bool) -> tuple[str, int, bool]:
        """Hash the open file `fd` from its start and (with `store`) keep its bytes as a blob.
        Returns (sha256, bytes read, whether a new blob was added)."""
        os.lseek(fd, 0, os.SEEK_SET)
        h = hashlib.sha256()
        if size_hint <= SMALL_FILE:
            chunks: list[bytes] = []
            got = 0
            complete = False
            while got <= 2 * SMALL_FILE:  # one that grew a lot while read streams instead of being held
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    complete = True
                    break
                chunks.append(chunk)
                h.update(chunk)
                got += len(chunk)
            if complete:
                sha = h.hexdigest()
                if not store or self.has_blob(sha):
                    return sha, got, False
                tfd, tmp = self._temp()
                try:
                    for chunk in chunks:
                        _write_all(tfd, chunk)
                except BaseException:
                    os.close(tfd)
                    tmp.unlink(missing_ok=True)
                    raise
                os.close(tfd)
                return sha, got, self._publish(tmp, sha)
            os.lseek(fd, 0, os.SEEK_SET)
            h = hashlib.sha256()
        if not store:
            got = 0
            while chunk := os.read(fd, CHUNK):
                h.update(chunk)
                got += len(chunk)
            return h.hexdigest(), got, False
        tfd, tmp = self._temp()
        try:
            got = 0
            while chunk := os.read(fd, CHUNK):
                h.update(chunk)
                _write_all(tfd, chunk)
                got += len(chunk)
        except BaseException:
            os.close(tfd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(tfd)
        sha = h.hexdigest()
        return sha, got, self._publish(tmp, sha)

    def put_bytes(self, data: bytes) -> tuple[str, bool]:
        """Keep `data` as a blob (under `locked()`): (sha256, whether a new blob was added). For contents fetched
        from a remote sandbox, already whole in memory."""
        sha = hashlib.sha256(data).hexdigest()
        if self.has_blob(sha):
            return sha, False
        tfd, tmp = self._temp()
        try:
            _write_all(tfd, data)
        except BaseException:
            os.close(tfd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(tfd)
        return sha, self._publish(tmp, sha)

    def read_blob(self, sha: str) -> Iterator[bytes]:
        """A blob's bytes in chunks; ProviderError at the end if they do not hash to `sha` (a damaged store)."""
        try:
            fd = os.open(self.blob_path(sha), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError as exc:
            raise ProviderError(f"the checkpoint store lacks blob {sha[:12]}: it is damaged") from exc
        h = hashlib.sha256()
        try:
            while chunk := os.read(fd, CHUNK):
                h.update(chunk)
                yield chunk
        finally:
            os.close(fd)
        if h.hexdigest() != sha:
            raise ProviderError(f"blob {sha[:12]} in the checkpoint store is damaged (its hash does not match)")

    def blob_bytes(self, sha: str, limit: int) -> bytes | None:
        """The whole blob when it is at most `limit` bytes (verified), else None."""
        p = self.blob_path(sha)
        try:
            if p.stat().st_size > limit:
                return None
        except FileNotFoundError as exc:
            raise ProviderError(f"the checkpoint store lacks blob {sha[:12]}: it is damaged") from exc
        return b"".join(self.read_blob(sha))

    # -- checkpoints --------------------------------------------------------------------------------------------
    def _dir(self, sandbox_id: str, *, create: bool = False) -> Path:
        d = self.checkpoints / _sandbox_key(sandbox_id)
        if create:
            d.mkdir(mode=0o700, exist_ok=True)
        return d

    def _write_atomic(self, dest: Path, data: bytes) -> None:
        fd, tmp = self._temp()
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.rename(tmp, dest)

    @staticmethod
    def _encode(doc: dict[str, Any]) -> bytes:
        return gzip.compress(
            json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode(), compresslevel=1, mtime=0
        )

    @staticmethod
    def _decode(data: bytes) -> dict[str, Any]:
        try:
            doc = json.loads(gzip.decompress(data))
            doc["put"] = [Entry.from_row(r) for r in doc["put"]]
            if not isinstance(doc["del"], list) or not isinstance(doc["depth"], int):
                raise ValueError("bad manifest")
            return doc
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise ProviderError("a checkpoint manifest in the store is damaged") from exc

    def new_id(self) -> str:
        return secrets.token_hex(6)

    def save(self, ckpt: Checkpoint, entries: list[Entry], base: Checkpoint | None = None) -> None:
        """Write the checkpoint: its manifest (a delta on `base`'s when that is short and the chain not too long),
        then its record. `entries` sorted by path."""
        d = self._dir(ckpt.sandbox, create=True)
        manifest = d / f"{ckpt.id}.manifest.gz"
        depth = self._write_manifest(manifest, entries, base)
        try:
            self._write_atomic(d / f"{ckpt.id}.json", json.dumps(ckpt.to_json(), ensure_ascii=True).encode())
        except BaseException:
            manifest.unlink(missing_ok=True)
            raise
        self._remember((ckpt.sandbox, ckpt.id), entries, depth)

    def _write_manifest(
        self, dest: Path, entries: list[Entry], base: Checkpoint | None, max_depth: int = MAX_CHAIN
    ) -> int:
        """Write `entries` as a manifest at `dest`: a delta on `base`'s when short and its depth stays under
        `max_depth`, else full. Returns its depth."""
        doc: dict[str, Any] = {"v": 1, "base": None, "base_sandbox": None, "depth": 0, "put": entries, "del": []}
        if base is not None:
            old, depth = self._manifest(base)
            if depth + 1 < MAX_CHAIN and depth + 1 <= max_depth:
                before = self.by_path(old)
                put, gone = _delta(before, entries)
                if len(put) + len(gone) <= len(entries) // 2 + 64:
                    doc.update({"base": base.id, "base_sandbox": base.sandbox, "depth": depth + 1, "put": put})
                    doc["del"] = gone
        depth = int(doc["depth"])
        doc["put"] = [e.row() for e in doc["put"]]
        self._write_atomic(dest, self._encode(doc))
        return depth

    # -- deletion (services/checkpoints/retention.py decides what; this does it) ------------------------------
    def sandboxes(self) -> list[str]:
        """Every sandbox with a checkpoint folder in this store (the store is per data dir, shared by all)."""
        return sorted(p.name for p in self.checkpoints.iterdir() if p.is_dir()) if self.checkpoints.is_dir() else []

    def depth(self, ckpt: Checkpoint) -> int:
        return self._manifest(ckpt)[1]

    def rebase(self, child: Checkpoint, parent: Checkpoint | None) -> Checkpoint:
        """Make `parent` the parent of `child` (its own parent is going): the manifest is written again as a delta
        on `parent`'s — never deeper than it was, so no descendant's chain grows past what its depth says — or
        full; then the record. Same entries; the lock must be held."""
        entries = self.manifest(child)
        old_depth = self.depth(child)
        d = self._dir(child.sandbox)
        depth = self._write_manifest(d / f"{child.id}.manifest.gz", entries, parent, max_depth=old_depth)
        moved = replace(child, parent=parent.id if parent else None, parent_sandbox=parent.sandbox if parent else None)
        self._write_atomic(d / f"{child.id}.json", json.dumps(moved.to_json(), ensure_ascii=True).encode())
        self._remember((child.sandbox, child.id), entries, depth)
        return moved

    def remove(self, ckpt: Checkpoint) -> None:
        """Remove a checkpoint's record, then its manifest (the caller has re-based its children first)."""
        d = self._dir(ckpt.sandbox)
        (d / f"{ckpt.id}.json").unlink(missing_ok=True)
        (d / f"{ckpt.id}.manifest.gz").unlink(missing_ok=True)
        with self._cache_lock:
            self._cache.pop((ckpt.sandbox, ckpt.id), None)

    def referenced_blobs(self) -> set[str]:
        """Every blob any manifest of any sandbox names: each entry of a checkpoint is in the `put` rows of one
        manifest on its chain, so the union of those rows is everything reachable."""
        refs: set[str] = set()
        for sandbox in self.sandboxes():
            for p in self._dir(sandbox).glob("*.manifest.gz"):
                doc = self._decode(p.read_bytes())
                refs.update(e.ref for e in doc["put"] if e.kind == "file")
        return refs

    def sweep(self, keep: set[str]) -> tuple[int, int]:
        """Remove every blob not in `keep` (the lock must be held: no one is adding one). (blobs, bytes) freed."""
        files = freed = 0
        for sub in self.objects.iterdir():
            if not sub.is_dir() or len(sub.name) != 2:
                continue
            for blob in sub.iterdir():
                if sub.name + blob.name in keep:
                    continue
                with contextlib.suppress(OSError):
                    size = blob.stat().st_size
                    blob.unlink()
                    files += 1
                    freed += size
        return files, freed

    def _remember(self, key: tuple[str, str], entries: list[Entry], depth: int) -> None:
        with self._cache_lock:  # callers run in several threads (asyncio.to_thread)
            self._cache[key] = (entries, depth)
            while len(self._cache) > CACHE:
                self._cache.pop(next(iter(self._cache)))

    def _cached(self, key: tuple[str, str]) -> tuple[list[Entry], int] | None:
        with self._cache_lock:
            return self._cache.get(key)

    def by_path(self, entries: list[Entry]) -> dict[str, Entry]:
        """`{e.path: e}` of `entries` (from `manifest`, `index` or a scan), built once per list: never change it."""
        return self.lists.by_path(entries)

    def all(self, sandbox_id: str) -> list[Checkpoint]:
        d = self._dir(sandbox_id)
        out = []
        for p in d.glob("*.json") if d.is_dir() else ():
            ckpt = self._load(p)
            if ckpt is not None:
                out.append(ckpt)
        return sorted(out, key=lambda c: (c.created_at, c.id))

    @staticmethod
    def _load(p: Path) -> Checkpoint | None:
        if not CHECKPOINT_ID.fullmatch(p.stem):
            return None
        try:
            return Checkpoint(**json.loads(p.read_bytes()))
        except (OSError, ValueError, TypeError):
            return None  # a damaged record is not listed; its manifest stays for a repair

    def get(self, sandbox_id: str, ckpt_id: str) -> Checkpoint | None:
        if not CHECKPOINT_ID.fullmatch(ckpt_id):
            return None
        p = self._dir(sandbox_id) / f"{ckpt_id}.json"
        return self._load(p) if p.exists() else None

    def manifest(self, ckpt: Checkpoint) -> list[Entry]:
        """The checkpoint's entries, sorted by path (the caller must not change the list)."""
        return self._manifest(ckpt)[0]

    def _manifest(self, ckpt: Checkpoint) -> tuple[list[Entry], int]:
        key = (ckpt.sandbox, ckpt.id)
        chain: list[dict[str, Any]] = []
        start: list[Entry] = []
        start_depth = 0
        while True:
            hit = self._cached(key)
            if hit is not None:
                start, start_depth = hit
                break
            if len(chain) > MAX_CHAIN + 1 or not CHECKPOINT_ID.fullmatch(key[1]):
                raise ProviderError(f"checkpoint {ckpt.id}'s manifest chain in the store is damaged")
            try:
                data = (self._dir(key[0]) / f"{key[1]}.manifest.gz").read_bytes()
            except FileNotFoundError as exc:
                raise ProviderError(f"checkpoint {key[1]}'s manifest is missing from the store") from exc
            doc = self._decode(data)
            chain.append(doc)
            if doc["base"] is None:
                break
            key = (str(doc["base_sandbox"]), str(doc["base"]))
        if not chain:
            return start, start_depth
        if chain[-1]["base"] is None and len(chain) == 1:
            entries = chain[0]["put"]
        else:
            state = {e.path: e for e in start}
            for doc in reversed(chain):
                for p in doc["del"]:
                    state.pop(p, None)
                for e in doc["put"]:
                    state[e.path] = e
            entries = sorted(state.values(), key=lambda e: e.path)
        depth = int(chain[0]["depth"])
        self._remember((ckpt.sandbox, ckpt.id), entries, depth)
        return entries, depth

    def head(self, sandbox_id: str) -> str | None:
        try:
            value = (self._dir(sandbox_id) / "HEAD").read_text().strip()
        except FileNotFoundError:
            return None
        return value if CHECKPOINT_ID.fullmatch(value) else None

    def set_head(self, sandbox_id: str, ckpt_id: str) -> None:
        self._write_atomic(self._dir(sandbox_id, create=True) / "HEAD", ckpt_id.encode())

    def index(self, sandbox_id: str) -> list[Entry] | None:
        """The stat cache a restore left: a checkpoint's entries less the paths the restore touched (None: there
        is none, and the head checkpoint's manifest serves)."""
        try:
            raw = (self._dir(sandbox_id) / "index.json").read_bytes()
            doc = json.loads(raw)
            source, drop = doc["from"], set(doc["drop"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return []  # only a cache: without it the next scan hashes everything, which is still right
        ckpt = self.get(sandbox_id, source) if isinstance(source, str) else None
        if ckpt is None:
            return []
        try:
            entries = self.manifest(ckpt)
        except ProviderError:
            return []
        with self._cache_lock:
            hit = self._indexes.get(sandbox_id)
        # the same file naming the same (cached) manifest: the same list, so `by_path` of it is cached too
        if hit is not None and hit[0] == raw and hit[1] is entries:
            return hit[2]
        out = [e for e in entries if e.path not in drop]
        with self._cache_lock:
            self._indexes[sandbox_id] = (raw, entries, out)
            while len(self._indexes) > CACHE:
                self._indexes.pop(next(iter(self._indexes)))
        return out

    def index_view(self, sandbox_id: str) -> Mapping[str, Entry] | None:
        """`index` as a path map, without building it: the source checkpoint's map less the dropped paths (None:
        there is no index). A change feed's scan looks up a few names in it; a full scan materializes it."""
        try:
            raw = (self._dir(sandbox_id) / "index.json").read_bytes()
            doc = json.loads(raw)
            source, drop = doc["from"], frozenset(doc["drop"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return {}
        ckpt = self.get(sandbox_id, source) if isinstance(source, str) else None
        if ckpt is None:
            return {}
        try:
            entries = self.manifest(ckpt)
        except ProviderError:
            return {}
        if not all(isinstance(p, str) for p in drop):
            return {}
        return Overlay(self.by_path(entries), drop)

    def set_index(self, sandbox_id: str, source: str | None, drop: Iterable[str] = ()) -> None:
        """After a restore: the stat cache is checkpoint `source`'s entries without `drop` (None: empty)."""
        doc = {"from": source, "drop": sorted(drop)}
        self._write_atomic(self._dir(sandbox_id, create=True) / "index.json", json.dumps(doc).encode())

    def clear_index(self, sandbox_id: str) -> None:
        (self._dir(sandbox_id) / "index.json").unlink(missing_ok=True)


def _delta(before: dict[str, Entry], entries: list[Entry]) -> tuple[list[Entry], list[str]]:
    """What `entries` put (new or changed) and what they drop, against `before` (path -> entry). A scan reuses the
    base's entry for a name whose metadata did not move, so identity settles most (no set of 20,000 paths built
    unless a name went)."""
    put: list[Entry] = []
    get = before.get
    seen = 0
    for e in entries:
        b = get(e.path)
        if b is e:
            seen += 1
            continue
        if b is None:
            put.append(e)
            continue
        seen += 1
        if b != e:
            put.append(e)
    if seen == len(before):  # every old name is still there (paths are unique on both sides)
        return put, []
    now = {e.path for e in entries}
    return put, [p for p in before if p not in now]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
