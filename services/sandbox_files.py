"""File operations of SandboxService: list, stat, read, write, streamed transfers, mkdir, move, delete, search.

Each normalises its paths (services/paths.py) and refuses what no provider should see (the workspace root as a
target, a write over `WRITE_LIMIT`, a search pattern with '/') before the provider is asked, then runs in the
core's `_run` bracket (services/sandbox_core.py): ownership, `ensure_running`, audit line, activity.
"""

from __future__ import annotations

from services import paths
from services.errors import InvalidInput, TooLarge
from services.models import FileData, FileEntry
from services.provider import FileStreams, ReadStream, WriteStream
from services.sandbox_core import SandboxCore

WRITE_LIMIT = 256 * 1024 * 1024


class FileOps(SandboxCore):
    """The file operations of `SandboxService` (a mixin over its core)."""

    async def list_dir(self, sandbox_id: str, path: str = "", *, details: bool = True) -> list[FileEntry]:
        """`details=False`: names and kinds only (size, mtime and mode may be -1), for trees."""
        p = paths.normalize(path)
        return await self._run(
            "list", sandbox_id, lambda: self.provider.list_dir(sandbox_id, p, details=details), write=False, path=p
        )

    async def stat(self, sandbox_id: str, path: str) -> FileEntry:
        p = paths.normalize(path)
        return await self._run("stat", sandbox_id, lambda: self.provider.stat(sandbox_id, p), write=False, path=p)

    async def read_file(self, sandbox_id: str, path: str, *, head: bool = False, limit: int | None = None) -> FileData:
        p = paths.normalize(path)
        lim = limit if limit is not None else self.config.read_limit
        return await self._run(
            "read",
            sandbox_id,
            lambda: self.provider.read_file(sandbox_id, p, limit=lim, head=head),
            write=False,
            path=p,
        )

    async def write_file(
        self, sandbox_id: str, path: str, data: bytes, *, expected_mtime: float | None = None
    ) -> FileEntry:
        p = paths.normalize(path)
        if not p:
            raise InvalidInput("cannot write to the workspace root")
        if len(data) > WRITE_LIMIT:
            raise TooLarge(f"{len(data) / 1024**2:.1f} MiB is over the {WRITE_LIMIT // 1024**2} MiB write limit")
        return await self._run(
            "write",
            sandbox_id,
            lambda: self.provider.write_file(sandbox_id, p, data, expected_mtime=expected_mtime),
            write=True,
            path=p,
        )

    def _streams(self) -> FileStreams:
        if not isinstance(self.provider, FileStreams):
            raise InvalidInput(f"{self.provider.name} sandboxes do not offer streamed file transfers")
        return self.provider

    async def open_read(self, sandbox_id: str, path: str) -> ReadStream:
        """A regular file opened for reading in chunks (no symlink followed); the caller closes it."""
        p = paths.normalize(path)
        streams = self._streams()
        return await self._run("read", sandbox_id, lambda: streams.open_read(sandbox_id, p), write=False, path=p)

    async def open_write(self, sandbox_id: str, path: str) -> WriteStream:
        """Begin an atomic replace of `path` fed in chunks; `commit()` makes it visible, `abort()` drops it."""
        p = paths.normalize(path)
        if not p:
            raise InvalidInput("cannot write to the workspace root")
        streams = self._streams()
        return await self._run("write", sandbox_id, lambda: streams.open_write(sandbox_id, p), write=True, path=p)

    async def mkdir(self, sandbox_id: str, path: str, *, parents: bool = False) -> FileEntry:
        p = paths.normalize(path)
        return await self._run(
            "mkdir", sandbox_id, lambda: self.provider.mkdir(sandbox_id, p, parents=parents), write=True, path=p
        )

    async def move(self, sandbox_id: str, src: str, dst: str, *, overwrite: bool = False) -> FileEntry:
        s, d = paths.normalize(src), paths.normalize(dst)
        if not s or not d:
            raise InvalidInput("cannot move the workspace root")
        return await self._run(
            "move",
            sandbox_id,
            lambda: self.provider.move(sandbox_id, s, d, overwrite=overwrite),
            write=True,
            path=s,
            dest=d,
        )

    async def delete_path(self, sandbox_id: str, path: str, *, recursive: bool = False) -> None:
        p = paths.normalize(path)
        if not p:
            raise InvalidInput("cannot delete the workspace root")
        await self._run(
            "delete",
            sandbox_id,
            lambda: self.provider.delete_path(sandbox_id, p, recursive=recursive),
            write=True,
            path=p,
        )

    async def search(self, sandbox_id: str, pattern: str, *, path: str = "", limit: int = 1000) -> list[str]:
        p = paths.normalize(path)
        if "\x00" in pattern or "/" in pattern:
            raise InvalidInput("a search pattern is a file name pattern (no '/' or NUL)")
        return await self._run(
            "search", sandbox_id, lambda: self.provider.search(sandbox_id, p, pattern, limit=limit), write=False, path=p
        )

    async def list_files(self, sandbox_id: str, path: str = "", *, limit: int = 200_000) -> list[str]:
        p = paths.normalize(path)
        return await self._run(
            "list-files", sandbox_id, lambda: self.provider.list_files(sandbox_id, p, limit=limit), write=False, path=p
        )
