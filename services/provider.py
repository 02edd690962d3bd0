"""The `Provider` protocol: what the local and Daytona providers both offer (DESIGN §3).

Paths passed to a provider have already been through the path policy (`services.paths`): relative, '/'-separated,
normalised, '' for the sandbox root. Providers raise only `services.errors` types.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from services.models import (
    ExecResult,
    FileData,
    FileEntry,
    OutputStream,
    SandboxInfo,
    SandboxSpec,
    SnapshotInfo,
    TerminalInfo,
)
from services.proc_parse import ProcTable, Socket
from services.terminal import TerminalSession

OutputCallback = Callable[[OutputStream, bytes], None]
# A process's stdin: all of it up front, or chunks as they come (input to a running command), EOF when it ends
Stdin = bytes | AsyncIterable[bytes]


class Provider(Protocol):
    name: str

    # lifecycle -------------------------------------------------------------------------------------------------
    async def list(self) -> builtins.list[SandboxInfo]: ...
    async def get(self, sandbox_id: str) -> SandboxInfo: ...
    async def create(self, spec: SandboxSpec, owner: str) -> SandboxInfo: ...
    async def start(self, sandbox_id: str) -> SandboxInfo: ...
    async def stop(self, sandbox_id: str) -> SandboxInfo: ...
    async def delete(self, sandbox_id: str) -> None: ...
    async def archive(self, sandbox_id: str) -> SandboxInfo: ...
    async def snapshot(self, sandbox_id: str, name: str) -> SnapshotInfo: ...
    async def list_snapshots(self) -> builtins.list[SnapshotInfo]: ...
    async def delete_snapshot(self, name: str, owner: str) -> None: ...
    async def create_from_snapshot(self, snapshot: str, spec: SandboxSpec, owner: str) -> SandboxInfo: ...
    async def set_labels(self, sandbox_id: str, labels: Mapping[str, str]) -> SandboxInfo: ...
    async def set_intervals(
        self,
        sandbox_id: str,
        *,
        auto_stop: int | None = None,
        auto_archive: int | None = None,
        auto_delete: int | None = None,
    ) -> SandboxInfo:
        """Change the lifecycle intervals, in minutes (`None` keeps one), with Daytona's meanings: auto-stop 0
        never stops; auto-archive 0 is the maximum; auto-delete negative never deletes, 0 deletes on stop."""
        ...

    async def touch(self, sandbox_id: str) -> None:
        """Record activity now (for auto-stop)."""
        ...

    # toolbox ---------------------------------------------------------------------------------------------------
    async def list_dir(self, sandbox_id: str, path: str, *, details: bool = True) -> builtins.list[FileEntry]:
        """Entries of a folder, folders first. `details=False` may leave size, mtime and mode at -1 (a tree needs
        names and kinds only); a provider whose listing carries details anyway ignores it."""
        ...

    async def stat(self, sandbox_id: str, path: str) -> FileEntry: ...
    async def read_file(self, sandbox_id: str, path: str, *, limit: int, head: bool = False) -> FileData:
        """Read a regular file. Over `limit` bytes: `TooLarge`, or with `head=True` the first `limit` bytes."""
        ...

    async def write_file(
        self, sandbox_id: str, path: str, data: bytes, *, expected_mtime: float | None = None
    ) -> FileEntry:
        """Atomic write (temp file + rename). With `expected_mtime`, `Conflict` if the file changed since."""
        ...

    async def mkdir(self, sandbox_id: str, path: str, *, parents: bool = False) -> FileEntry: ...
    async def move(self, sandbox_id: str, src: str, dst: str, *, overwrite: bool = False) -> FileEntry: ...
    async def delete_path(self, sandbox_id: str, path: str, *, recursive: bool = False) -> None: ...
    async def search(self, sandbox_id: str, path: str, pattern: str, *, limit: int = 1000) -> builtins.list[str]:
        """Paths (relative to the root) under `path` whose name matches the glob `pattern`."""
        ...

    async def list_files(self, sandbox_id: str, path: str = "", *, limit: int = 200_000) -> builtins.list[str]:
        """Every regular file under `path` (relative paths), `.git` contents skipped: the fuzzy finder's input."""
        ...

    async def disk_usage(self, sandbox_id: str) -> int: ...

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
        """Run argv inside the sandbox; stream chunks to `on_output` as they come. Timeout → exit 124, timed_out.
        `keep_output`: at most this many bytes of each stream are kept in the result (None: all); the rest is still
        read, and still reaches `on_output`, so a chatty program neither blocks nor fills the caller's memory.
        A streamed `stdin` is closed when it ends; providers that cannot stream raise InvalidInput."""
        ...

    async def open_terminal(
        self, sandbox_id: str, cols: int, rows: int, *, cwd: str = "", env: Mapping[str, str] | None = None
    ) -> TerminalSession: ...

    async def close(self) -> None: ...


@runtime_checkable
class TerminalReattach(Protocol):
    """Optional: a provider whose terminal sessions outlive the client (Daytona's PTY sessions live in the
    sandbox; local shells live in the per-user session host), so a reopened app can list them and reattach.
    `SandboxService` checks `isinstance(provider, TerminalReattach)` and answers for it."""

    async def list_terminals(self, sandbox_id: str) -> builtins.list[TerminalInfo]:
        """The sandbox's terminal sessions, oldest first (exited ones with `active=False`)."""
        ...

    async def attach_terminal(self, sandbox_id: str, session_id: str) -> TerminalSession:
        """Connect to a running session: its recent output is replayed, then it streams as a new one would.
        Closing the returned session ends the shell; `detach()` (where offered) only drops the connection."""
        ...


@runtime_checkable
class LifecycleExpiry(Protocol):
    """Optional: a provider whose stopped sandboxes the service archives and deletes when their intervals run out
    (the local one; Daytona does its own). `SandboxService.reap` decides what is due; `expire` does it only if the
    sandbox is still stopped since `stopped_at` (a Unix time), so a sandbox started by anyone meanwhile is kept."""

    async def expire(self, sandbox_id: str, action: str, stopped_at: float) -> bool:
        """`action` is "archive" or "delete". True if done; False if the sandbox was left alone."""
        ...


class ReadStream(Protocol):
    """A regular file opened for reading in chunks (`FileStreams.open_read`). `size` is its size when opened."""

    size: int

    async def read(self, n: int) -> bytes:
        """Up to `n` bytes; b"" at the end."""
        ...

    async def close(self) -> None: ...


class WriteStream(Protocol):
    """A file being replaced atomically, its content arriving in chunks (`FileStreams.open_write`): nothing is
    visible under its name until `commit()`; `abort()` drops it (and is safe after a commit)."""

    # read-only: a stream counts what it took (a settable attribute here would refuse LocalProvider's property)
    @property
    def written(self) -> int:
        """Bytes taken so far."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> FileEntry: ...

    async def abort(self) -> None: ...


@runtime_checkable
class FileStreams(Protocol):
    """Optional: a provider that reads and writes files in chunks, so a large transfer never sits in memory whole
    (`sandbench serve`'s bulk download and upload). LocalProvider offers it; `SandboxService` checks
    `isinstance(provider, FileStreams)` and refuses clearly where it is missing."""

    async def open_read(self, sandbox_id: str, path: str) -> ReadStream: ...

    async def open_write(self, sandbox_id: str, path: str) -> WriteStream: ...


@runtime_checkable
class ProcessTables(Protocol):
    """Optional: a provider that reads a sandbox's processes and sockets itself, from outside the sandbox (the local
    one, from the host's /proc and the sandbox's cgroup). For other providers `SandboxService` reads them with a
    fixed reader run inside the sandbox by `exec` (services/processes_exec.py)."""

    async def process_table(self, sandbox_id: str) -> ProcTable: ...

    async def signal_process(self, sandbox_id: str, pid: int, started: int | None, sig: int) -> None:
        """Signal `pid` if it is the sandbox's (and started at `started`); PermissionDenied if it is not."""
        ...

    async def process_alive(self, sandbox_id: str, pid: int, started: int) -> bool: ...

    async def listening_sockets(self, sandbox_id: str) -> builtins.list[tuple[int, Socket, int | None]]:
        """(network namespace, listening socket, owning pid) in the sandbox's namespaces."""
        ...
