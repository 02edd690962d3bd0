"""DaytonaProvider: the `Provider` protocol on the `daytona` SDK's `AsyncDaytona` (DESIGN §3 `daytona.py`).

One `AsyncDaytona` client for the provider's life, made on first use (inside the running loop, where the SDK
wants it) and closed in `close()`. Credentials come from `config.daytona` (which already reads `DAYTONA_API_KEY`,
`DAYTONA_API_URL`, `DAYTONA_TARGET`); the key is never logged, shown, or put in an error message.

Sandbox paths are relative to the sandbox's home (the user's home directory inside the sandbox, asked once per
sandbox), and are sent to the SDK as absolute paths under it. Exec goes through the SDK's command string, built by
`shlex.join` and nothing else. Every SDK call goes through `_call` (`errors.call`): each error becomes a
`services.errors` type with one line, and idempotent calls are retried with bounded backoff on timeouts, 5xx and
dropped connections. Terminals are the SDK's PTY sessions (`terminal.DaytonaTerminal`).

Size: one class, one short method per `Provider` call, each a thin translation onto the SDK (~620 lines); errors
and terminals are apart already, and splitting the class by call would scatter one protocol over several files.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import logging
import math
import secrets
import shlex
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from services import paths
from services.config import Config
from services.daytona.errors import call
from services.daytona.terminal import DaytonaTerminal
from services.errors import (
    AlreadyExists,
    Conflict,
    FileNotFound,
    InvalidInput,
    OperationTimeout,
    ProviderError,
    SandbenchError,
    SandboxNotFound,
    TooLarge,
)
from services.exec_mark import APP_ENV, STDIN_ENV, with_stdin
from services.metrics import MetricsReading
from services.models import (
    AUTO_ARCHIVE_DEFAULT,
    AUTO_DELETE_NEVER,
    ExecResult,
    FileData,
    FileEntry,
    Isolation,
    Resources,
    SandboxInfo,
    SandboxSpec,
    SandboxState,
    SnapshotInfo,
    TerminalInfo,
)
from services.provider import OutputCallback, Stdin

log = logging.getLogger(__name__)
T = TypeVar("T")

STDIN_MAX = 64 * 1024  # stdin travels base64-encoded in one environment variable (the SDK's exec has no stdin)
# resources can only be chosen with an image on Daytona; the default snapshot is used when they are the defaults
DEFAULT_IMAGE = "python:3.12-slim"

_STATE = {
    "started": SandboxState.STARTED,
    "creating": SandboxState.STARTING,
    "restoring": SandboxState.STARTING,
    "starting": SandboxState.STARTING,
    "pending_build": SandboxState.STARTING,
    "building_snapshot": SandboxState.STARTING,
    "pulling_snapshot": SandboxState.STARTING,
    "resuming": SandboxState.STARTING,
    "resizing": SandboxState.STARTING,
    "snapshotting": SandboxState.STARTING,
    "forking": SandboxState.STARTING,
    "stopping": SandboxState.STOPPING,
    "archiving": SandboxState.STOPPING,
    "pausing": SandboxState.STOPPING,
    "stopped": SandboxState.STOPPED,
    "paused": SandboxState.STOPPED,
    "archived": SandboxState.ARCHIVED,
    "error": SandboxState.ERROR,
    "build_failed": SandboxState.ERROR,
    "destroyed": SandboxState.DELETED,
    "destroying": SandboxState.DELETED,
}


# the DTO key by which `sandbench serve` names a sandbox's owner, its label kept inside (services/server/lifecycle.py)
SERVE_OWNER = "sandbenchOwner"


def _minutes(value: Any, default: int) -> int:
    """A DTO's interval (int or float minutes, or absent) as whole minutes."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _parse_time(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        return 0.0
    text = value.strip().replace("Z", "+00:00")
    with contextlib.suppress(ValueError):
        dt = datetime.fromisoformat(text)
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    # Go's default time format, which some daemons use: "2006-01-02 15:04:05.999999999 -0700 MST"
    with contextlib.suppress(ValueError):
        date, clock, zone = value.split(" ")[:3]
        if "." in clock:
            whole, frac = clock.split(".")
            clock = f"{whole}.{frac[:6]}"
        return datetime.fromisoformat(f"{date}T{clock}{zone[:3]}:{zone[3:]}").timestamp()
    return 0.0


class DaytonaProvider:
    name = "daytona"

    def __init__(self, config: Config):
        self.config = config
        self.owner_label = config.owner_label
        self._api_key = config.daytona.api_key
        self._client: Any = None
        self._client_lock = asyncio.Lock()
        self._sandboxes: dict[str, Any] = {}  # id → AsyncSandbox: toolbox calls need no extra GET
        self._homes: dict[str, str] = {}
        self._closed = False

    # -- the client and error mapping ------------------------------------------------------------------------
    async def _daytona(self) -> Any:
        if self._closed:
            raise ProviderError("the Daytona provider is closed")
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    if not self._api_key:
                        raise ProviderError(
                            "Daytona is not configured: set DAYTONA_API_KEY (and DAYTONA_API_URL) or [daytona] in the "
                            "config file"
                        )
                    from daytona import AsyncDaytona, DaytonaConfig

                    kwargs: dict[str, Any] = {"api_key": self._api_key}
                    if self.config.daytona.api_url:
                        kwargs["api_url"] = self.config.daytona.api_url
                    if self.config.daytona.target:
                        kwargs["target"] = self.config.daytona.target
                    self._client = AsyncDaytona(DaytonaConfig(**kwargs))
        return self._client

    async def _call(
        self, op: str, fn: Callable[[], Awaitable[T]], *, idempotent: bool = True, kind: str = "sandbox"
    ) -> T:
        return await call(op, fn, secret=self._api_key, idempotent=idempotent, kind=kind)

    # -- sandboxes -------------------------------------------------------------------------------------------
    def _info(self, sb: Any) -> SandboxInfo:
        self._sandboxes[sb.id] = sb
        state_value = getattr(sb.state, "value", sb.state) or "unknown"
        labels = {str(k): str(v) for k, v in (sb.labels or {}).items()}
        owner = labels.get(self.owner_label)
        extra = getattr(sb, "additional_properties", None)
        if owner is None and isinstance(extra, dict) and isinstance(extra.get(SERVE_OWNER), str):
            # `sandbench serve` keeps the owner label to itself and names the owner (the token's identity) apart
            owner = extra[SERVE_OWNER]
        created = _parse_time(getattr(sb, "created_at", None))
        activity = _parse_time(getattr(sb, "updated_at", None)) or created
        return SandboxInfo(
            id=sb.id,
            name=getattr(sb, "name", None) or sb.id,
            state=_STATE.get(str(state_value), SandboxState.ERROR),
            provider=self.name,
            owner=owner,
            labels=labels,
            resources=Resources(cpu=int(sb.cpu or 1), memory_gib=float(sb.memory or 1), disk_gib=float(sb.disk or 1)),
            auto_stop_minutes=int(getattr(sb, "auto_stop_interval", None) or 0),
            created_at=datetime.fromtimestamp(created, UTC),
            last_activity=datetime.fromtimestamp(activity, UTC),
            isolation=Isolation.REMOTE,
            network=not bool(getattr(sb, "network_block_all", False)),
            ephemeral=getattr(sb, "auto_delete_interval", None) == 0,
            error=getattr(sb, "error_reason", None) or None,
            auto_archive_minutes=_minutes(getattr(sb, "auto_archive_interval", None), AUTO_ARCHIVE_DEFAULT),
            auto_delete_minutes=_minutes(getattr(sb, "auto_delete_interval", None), AUTO_DELETE_NEVER),
        )

    async def _sandbox(self, sandbox_id: str) -> Any:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            d = await self._daytona()
            sb = await self._call("get", lambda: d.get(sandbox_id))
            self._sandboxes[sandbox_id] = sb
        return sb

    async def list(self) -> builtins.list[SandboxInfo]:
        d = await self._daytona()

        async def fetch() -> builtins.list[Any]:
            return [sb async for sb in d.list()]

        return [self._info(sb) for sb in await self._call("list", fetch)]

    async def get(self, sandbox_id: str) -> SandboxInfo:
        d = await self._daytona()
        try:
            sb = await self._call("get", lambda: d.get(sandbox_id))
        except SandboxNotFound:
            self._sandboxes.pop(sandbox_id, None)
            raise
        return self._info(sb)

    def _params(self, spec: SandboxSpec, owner: str, snapshot: str | None) -> Any:
        from daytona import CreateSandboxFromImageParams, CreateSandboxFromSnapshotParams
        from daytona import Resources as DResources

        labels = dict(spec.labels)
        labels[self.owner_label] = owner
        common: dict[str, Any] = {
            "name": spec.name,
            "labels": labels,
            "public": False,  # sandbench's sandboxes are private, always
            "auto_stop_interval": spec.auto_stop_minutes,
            "auto_archive_interval": spec.auto_archive_minutes,
            "network_block_all": not spec.network,
        }
        if spec.ephemeral:
            common["ephemeral"] = True
        elif spec.auto_delete_minutes > 0:
            common["auto_delete_interval"] = spec.auto_delete_minutes
        if snapshot is None and spec.resources != Resources():
            res = DResources(
                cpu=spec.resources.cpu,
                memory=max(1, math.ceil(spec.resources.memory_gib)),
                disk=max(1, math.ceil(spec.resources.disk_gib)),
            )
            return CreateSandboxFromImageParams(image=DEFAULT_IMAGE, resources=res, **common)
        return CreateSandboxFromSnapshotParams(snapshot=snapshot, **common)

    async def create(self, spec: SandboxSpec, owner: str) -> SandboxInfo:
        d = await self._daytona()
        params = self._params(spec, owner, spec.snapshot)
        # not idempotent: a retried create could make two sandboxes
        sb = await self._call("create", lambda: d.create(params, timeout=120), idempotent=False, kind="create")
        return self._info(sb)

    async def create_from_snapshot(self, snapshot: str, spec: SandboxSpec, owner: str) -> SandboxInfo:
        d = await self._daytona()
        params = self._params(spec, owner, snapshot)
        sb = await self._call("create", lambda: d.create(params, timeout=120), idempotent=False, kind="create")
        return self._info(sb)

    async def _lifecycle(self, op: str, sandbox_id: str, action: Callable[[Any], Awaitable[Any]]) -> SandboxInfo:
        sb = await self._sandbox(sandbox_id)
        await self._call(op, lambda: action(sb))
        return self._info(sb)

    async def start(self, sandbox_id: str) -> SandboxInfo:
        return await self._lifecycle("start", sandbox_id, lambda sb: sb.start(timeout=120))

    async def stop(self, sandbox_id: str) -> SandboxInfo:
        info = await self._lifecycle("stop", sandbox_id, lambda sb: sb.stop(timeout=120))
        if info.state is SandboxState.DELETED:
            self._forget(sandbox_id)
        return info

    async def archive(self, sandbox_id: str) -> SandboxInfo:
        sb = await self._sandbox(sandbox_id)
        if getattr(sb.state, "value", sb.state) not in ("stopped", "archived"):
            await self._call("stop", lambda: sb.stop(timeout=120))
        return await self._lifecycle("archive", sandbox_id, lambda sb: sb.archive())

    async def delete(self, sandbox_id: str) -> None:
        sb = await self._sandbox(sandbox_id)
        await self._call("delete", lambda: sb.delete())
        self._forget(sandbox_id)

    def _forget(self, sandbox_id: str) -> None:
        self._sandboxes.pop(sandbox_id, None)
        self._homes.pop(sandbox_id, None)

    async def snapshot(self, sandbox_id: str, name: str) -> SnapshotInfo:
        sb = await self._sandbox(sandbox_id)
        await self._call("snapshot", lambda: sb.create_snapshot(name, timeout=600), idempotent=False, kind="create")
        info = self._info(sb)
        return SnapshotInfo(
            name=name,
            provider=self.name,
            owner=info.owner,
            source=info.name,
            created_at=datetime.now(UTC),
            size_bytes=None,
        )

    async def list_snapshots(self) -> builtins.list[SnapshotInfo]:
        d = await self._daytona()
        page = await self._call("list snapshots", lambda: d.snapshot.list(), kind="snapshot")
        out = []
        for s in page.items:
            out.append(
                SnapshotInfo(
                    name=s.name,
                    provider=self.name,
                    # Daytona snapshots belong to the organisation; a team shares them
                    owner=None,
                    source=getattr(s, "ref", None) or getattr(s, "source_sandbox_id", None),
                    created_at=datetime.fromtimestamp(_parse_time(s.created_at), UTC),
                    # Daytona reports snapshot sizes in GB
                    size_bytes=int(s.size * 1024**3) if isinstance(s.size, int | float) else None,
                )
            )
        return out

    async def delete_snapshot(self, name: str, owner: str) -> None:
        d = await self._daytona()
        await self._call("delete snapshot", lambda: d.snapshot.delete(name), kind="snapshot")

    async def set_labels(self, sandbox_id: str, labels: Mapping[str, str]) -> SandboxInfo:
        sb = await self._sandbox(sandbox_id)
        await self._call("set labels", lambda: sb.set_labels(dict(labels)))
        return self._info(sb)

    async def set_intervals(
        self,
        sandbox_id: str,
        *,
        auto_stop: int | None = None,
        auto_archive: int | None = None,
        auto_delete: int | None = None,
    ) -> SandboxInfo:
        sb = await self._sandbox(sandbox_id)
        if auto_stop is not None:
            await self._call("set auto-stop", lambda: sb.set_autostop_interval(auto_stop))
        if auto_archive is not None:
            await self._call("set auto-archive", lambda: sb.set_auto_archive_interval(auto_archive))
        if auto_delete is not None:
            await self._call("set auto-delete", lambda: sb.set_auto_delete_interval(auto_delete))
        await self._call("refresh", lambda: sb.refresh_data())  # what the server put in force (0 → its maximum)
        return self._info(sb)

    async def touch(self, sandbox_id: str) -> None:
        sb = await self._sandbox(sandbox_id)
        with contextlib.suppress(SandbenchError):
            await self._call("refresh activity", lambda: sb.refresh_activity())

    # -- files -----------------------------------------------------------------------------------------------
    async def _home(self, sandbox_id: str) -> str:
        home = self._homes.get(sandbox_id)
        if home is None:
            sb = await self._sandbox(sandbox_id)
            home = str(await self._call("home dir", lambda: sb.get_user_home_dir())).rstrip("/") or "/"
            self._homes[sandbox_id] = home
        return home

    async def _abs(self, sandbox_id: str, rel: str) -> str:
        home = await self._home(sandbox_id)
        rel = paths.normalize(rel)  # defence in depth: providers get normalised paths, but never trust a join
        return f"{home}/{rel}" if rel else home

    def _entry(self, rel: str, fi: Any) -> FileEntry:
        mode_str = str(getattr(fi, "mode", "") or "")
        kind = "dir" if fi.is_dir else ("symlink" if mode_str.startswith("l") else "file")
        try:
            mode = int(str(fi.permissions), 8)
        except (TypeError, ValueError):
            mode = 0o755 if fi.is_dir else 0o644
        return FileEntry(
            path=rel,
            name=paths.basename(rel) if rel else "",
            kind=kind,  # type: ignore[arg-type]
            size=int(fi.size or 0),
            mtime=_parse_time(getattr(fi, "mod_time", None)),
            mode=mode,
        )

    async def _fs(self, sandbox_id: str) -> Any:
        return (await self._sandbox(sandbox_id)).fs

    async def list_dir(self, sandbox_id: str, path: str, *, details: bool = True) -> builtins.list[FileEntry]:
        del details  # the toolbox's listing carries sizes and times anyway
        fs, target = await self._fs(sandbox_id), await self._abs(sandbox_id, path)
        infos = await self._call("list", lambda: fs.list_files(target), kind="file")
        entries = [self._entry(paths.join(path, fi.name) if path else fi.name, fi) for fi in infos]
        return sorted(entries, key=lambda e: (not e.is_dir, e.name))

    async def stat(self, sandbox_id: str, path: str) -> FileEntry:
        fs, target = await self._fs(sandbox_id), await self._abs(sandbox_id, path)
        return self._entry(path, await self._call("stat", lambda: fs.get_file_info(target), kind="file"))

    async def read_file(self, sandbox_id: str, path: str, *, limit: int, head: bool = False) -> FileData:
        fs, target = await self._fs(sandbox_id), await self._abs(sandbox_id, path)
        # stat first: the size check must not need a full download of a huge file; the mtime is the editor's
        # token for conflict detection on save
        entry = await self.stat(sandbox_id, path)
        if entry.is_dir:
            raise InvalidInput(f"{path!r} is a folder")
        if entry.size > limit and not head:
            raise TooLarge(f"{path!r} is {entry.size / 1024**2:.1f} MiB, over the {limit / 1024**2:.0f} MiB limit")
        if entry.size > limit:
            data = await self._read_head(fs, target, limit)
        else:
            data = await self._call("read", lambda: fs.download_file(target), kind="file")
        truncated = len(data) > limit or entry.size > limit
        return FileData(path=path, data=bytes(data[:limit]), size=entry.size, mtime=entry.mtime, truncated=truncated)

    async def _read_head(self, fs: Any, target: str, limit: int) -> bytes:
        async def head() -> bytes:
            buf = bytearray()
            stream = await fs.download_file_stream(target)
            try:
                async for chunk in stream:
                    buf += chunk
                    if len(buf) >= limit:
                        break
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()
            return bytes(buf[:limit])

        return await self._call("read", head, kind="file")

    async def write_file(
        self, sandbox_id: str, path: str, data: bytes, *, expected_mtime: float | None = None
    ) -> FileEntry:
        fs, target = await self._fs(sandbox_id), await self._abs(sandbox_id, path)
        if expected_mtime is not None:
            try:
                current = await self.stat(sandbox_id, path)
            except FileNotFound:
                current = None
            if current is not None and abs(current.mtime - expected_mtime) > 1e-3:
                raise Conflict(f"{path!r} changed since it was read")
        await self._call("write", lambda: fs.upload_file(data, target), kind="file")
        return await self.stat(sandbox_id, path)

    async def mkdir(self, sandbox_id: str, path: str, *, parents: bool = False) -> FileEntry:
        fs, target = await self._fs(sandbox_id), await self._abs(sandbox_id, path)
        with contextlib.suppress(FileNotFound):
            await self.stat(sandbox_id, path)
            raise AlreadyExists(f"{path!r} already exists")
        parent = paths.parent(path)
        if not parents and parent:
            parent_entry = await self.stat(sandbox_id, parent)
            if not parent_entry.is_dir:
                raise InvalidInput(f"{parent!r} is not a folder")
        await self._call("mkdir", lambda: fs.create_folder(target, "755"), kind="file")
        return await self.stat(sandbox_id, path)

    async def move(self, sandbox_id: str, src: str, dst: str, *, overwrite: bool = False) -> FileEntry:
        fs = await self._fs(sandbox_id)
        s, d = await self._abs(sandbox_id, src), await self._abs(sandbox_id, dst)
        if not overwrite:
            with contextlib.suppress(FileNotFound):
                await self.stat(sandbox_id, dst)
                raise AlreadyExists(f"{dst!r} already exists")
        await self._call("move", lambda: fs.move_files(s, d), idempotent=False, kind="file")
        return await self.stat(sandbox_id, dst)

    async def delete_path(self, sandbox_id: str, path: str, *, recursive: bool = False) -> None:
        fs, target = await self._fs(sandbox_id), await self._abs(sandbox_id, path)
        await self._call("delete", lambda: fs.delete_file(target, recursive=recursive), kind="file")

    async def download_many(self, sandbox_id: str, rels: Sequence[str]) -> dict[str, bytes]:
        """Several files' bytes in one bulk download (checkpoints fetch what changed). A file that cannot be read
        is left out of the result: the caller decides what a missing one means."""
        from daytona import FileDownloadRequest

        if not rels:
            return {}
        fs, home = await self._fs(sandbox_id), await self._home(sandbox_id)
        by_abs = {f"{home}/{paths.normalize(r)}": r for r in rels}
        reqs = [FileDownloadRequest(source=a) for a in by_abs]
        got = await self._call("download", lambda: fs.download_files(reqs), kind="file")
        out: dict[str, bytes] = {}
        for resp in got:
            rel = by_abs.get(resp.source)
            if rel is not None and resp.error is None and isinstance(resp.result, bytes | bytearray):
                out[rel] = bytes(resp.result)
        return out

    async def upload_many(self, sandbox_id: str, files: Sequence[tuple[str, bytes]]) -> None:
        """Several files in one bulk upload, to paths relative to home (a restore's staging folder)."""
        from daytona import FileUpload

        fs, home = await self._fs(sandbox_id), await self._home(sandbox_id)
        ups = [FileUpload(source=data, destination=f"{home}/{paths.normalize(rel)}") for rel, data in files]
        await self._call("upload", lambda: fs.upload_files(ups), idempotent=False, kind="file")

    async def preview_link(self, sandbox_id: str, port: int) -> tuple[str, str]:
        """The port's preview link: its URL and the token for its `X-Daytona-Preview-Token` header
        (services/forwards_preview.py forwards a port through it)."""
        sb = await self._sandbox(sandbox_id)
        link = await self._call("preview link", lambda: sb.get_preview_link(port))
        return str(link.url), str(link.token or "")

    async def fork(self, sandbox_id: str, name: str) -> SandboxInfo:
        """Daytona's fork: a new sandbox whose filesystem is a copy of this one's now."""
        sb = await self._sandbox(sandbox_id)
        new = await self._call("fork", lambda: sb.fork(name=name, timeout=600), idempotent=False, kind="create")
        return self._info(new)

    def _relative(self, home: str, p: str) -> str | None:
        if p.startswith(home + "/"):
            p = p[len(home) + 1 :]
        elif p.startswith("/"):
            return None
        try:
            return paths.normalize(p)
        except SandbenchError:
            return None

    async def search(self, sandbox_id: str, path: str, pattern: str, *, limit: int = 1000) -> builtins.list[str]:
        fs, target = await self._fs(sandbox_id), await self._abs(sandbox_id, path)
        home = await self._home(sandbox_id)
        resp = await self._call("search", lambda: fs.search_files(target, pattern), kind="file")
        out = [r for r in (self._relative(home, f) for f in resp.files) if r]
        return out[:limit]

    async def list_files(self, sandbox_id: str, path: str = "", *, limit: int = 200_000) -> builtins.list[str]:
        argv = ["find", path or ".", "-name", ".git", "-prune", "-o", "-type", "f", "-print0"]
        result = await self.exec(sandbox_id, argv, timeout=120)
        out = []
        for raw in result.stdout.split(b"\x00"):
            rel = self._relative("", raw.decode("utf-8", "surrogateescape")) if raw else None
            if rel:
                out.append(rel)
                if len(out) >= limit:
                    break
        return out

    async def disk_usage(self, sandbox_id: str) -> int:
        result = await self.exec(sandbox_id, ["du", "-sk", "."], timeout=120)
        try:
            return int(result.stdout.split()[0]) * 1024
        except (IndexError, ValueError):
            return 0

    async def metrics_reading(self, sandbox_id: str) -> MetricsReading:
        """The sandbox daemon's latest sample (`sandbox.get_metrics_latest()`: CPU share, memory, disk, and their
        limits). The SDK offers no process count and no limit-hit counters: those are named unavailable."""
        sb = await self._sandbox(sandbox_id)
        m = await self._call("metrics", lambda: sb.get_metrics_latest())
        why = "the Daytona API does not report it"
        return MetricsReading(
            cpus=max(1, int(m.cpu_count or 1)),
            source="daytona",
            cpu_pct=float(m.cpu_used_pct or 0.0),
            memory_used=int(m.mem_used or 0),
            memory_cache=int(m.mem_cache or 0),
            memory_limit=int(m.mem_total) if m.mem_total else None,
            disk_used=int(m.disk_used or 0),
            disk_limit=int(m.disk_total) if m.disk_total else None,
            unavailable=(f"pids: {why}", f"oom kills: {why}", f"pids cap hits: {why}", f"cpu throttling: {why}"),
        )

    # -- processes -------------------------------------------------------------------------------------------
    async def exec(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        *,
        cwd: str = "",
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        stdin: Stdin | None = None,
        on_output: OutputCallback | None = None,
        keep_output: int | None = None,
    ) -> ExecResult:
        from daytona import DaytonaProcessExecutionTimeoutError

        if stdin is not None and not isinstance(stdin, bytes):
            raise InvalidInput("input to a running command is not supported on Daytona sandboxes")

        if not argv:
            raise InvalidInput("empty command")
        sb = await self._sandbox(sandbox_id)
        # the app's own exec, for sandbench serve's audit log (services/exec_mark.py; a label, never a credential)
        envs = {**(env or {}), APP_ENV: "1"}
        args = list(argv)
        if stdin is not None:
            if len(stdin) > STDIN_MAX:
                raise TooLarge(f"stdin over {STDIN_MAX // 1024} KiB is not supported on Daytona")
            # The SDK's exec has no stdin: the bytes ride in an environment variable and a fixed wrapper decodes
            # them into the program's stdin. The wrapper is a constant; the data never becomes shell text.
            envs[STDIN_ENV] = base64.b64encode(stdin).decode()
            args = with_stdin(args)
        command = shlex.join(args)
        cwd_abs = await self._abs(sandbox_id, cwd)
        t = None if timeout is None else max(1, math.ceil(timeout))
        started = time.monotonic()
        try:
            resp = await self._call(
                "exec",
                lambda: sb.process.exec(command, cwd=cwd_abs, env=envs, timeout=t),
                idempotent=False,
            )
        except OperationTimeout:
            return ExecResult(124, b"", b"", time.monotonic() - started, timed_out=True)
        except ProviderError as exc:
            if isinstance(exc.__context__, DaytonaProcessExecutionTimeoutError):
                return ExecResult(124, b"", b"", time.monotonic() - started, timed_out=True)
            raise
        out = (resp.result or "").encode("utf-8", "surrogateescape")
        if on_output is not None and out:
            on_output("stdout", out)
        if keep_output is not None:
            out = out[:keep_output]
        code = resp.exit_code if resp.exit_code is not None else -1
        return ExecResult(exit_code=int(code), stdout=out, stderr=b"", duration=time.monotonic() - started)

    async def open_terminal(
        self, sandbox_id: str, cols: int, rows: int, *, cwd: str = "", env: Mapping[str, str] | None = None
    ) -> DaytonaTerminal:
        sb = await self._sandbox(sandbox_id)
        cwd_abs = await self._abs(sandbox_id, cwd)
        term = DaytonaTerminal(self, sb, f"sandbench-{secrets.token_hex(6)}")
        await term.open(cols, rows, cwd_abs, dict(env or {}))
        return term

    async def list_terminals(self, sandbox_id: str) -> builtins.list[TerminalInfo]:
        """The sandbox's PTY sessions, oldest first, for offering to reattach instead of starting a new shell."""
        sb = await self._sandbox(sandbox_id)
        infos = await self._call("list terminals", lambda: sb.process.list_pty_sessions())
        out = [
            TerminalInfo(
                id=str(i.id),
                created_at=datetime.fromtimestamp(_parse_time(getattr(i, "created_at", None)), UTC),
                cols=int(getattr(i, "cols", 0) or 0),
                rows=int(getattr(i, "rows", 0) or 0),
                active=bool(getattr(i, "active", True)),
            )
            for i in infos
        ]
        return sorted(out, key=lambda t: (t.created_at, t.id))

    async def attach_terminal(self, sandbox_id: str, session_id: str) -> DaytonaTerminal:
        sb = await self._sandbox(sandbox_id)
        term = DaytonaTerminal(self, sb, session_id)
        await term.connect()
        return term

    async def close(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        self._sandboxes.clear()
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
