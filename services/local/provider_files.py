"""The local provider's file operations (`LocalFiles`, a mixin of `LocalProvider`): listing, stat, reads and writes
(whole and streamed), mkdir, move, delete, search and the file walk, each through the workspace's file API
(services/local/fsapi.py `WorkspaceFS`), and the named volumes: a path under a volume's mount point is served from
the volume's folder, and a mount point shows in its folder's listing.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import os

from services.errors import InvalidInput, ProviderError, SandbenchError
from services.local.fsapi import AtomicWrite, WorkspaceFS
from services.local.provider_state import ProviderState
from services.local.store import Row
from services.models import FileData, FileEntry, VolumeInfo
from services.volumes import home_relative


class LocalFiles(ProviderState):
    # A path under a volume's mount point (one under /home/daytona, which the file API treats as the home) is
    # served from the volume's folder, so the file API sees what the sandbox's processes see there.
    async def _at(self, sandbox_id: str, path: str) -> tuple[WorkspaceFS, str, str]:
        """The file API for `path`: (fs, the path inside it, the mount's home-relative prefix or "")."""
        row = self._running_row(sandbox_id)
        for m in row.volumes:
            rel = home_relative(m.path)
            if rel is not None and (path == rel or path.startswith(rel + "/")):
                return self._volume_fs(row, m.volume), path[len(rel) + 1 :], rel
        return self._fs_for(row), path, ""

    def _volume_fs(self, row: Row, volume_id: str) -> WorkspaceFS:
        fs = self._vol_fs.get((row.id, volume_id))
        if fs is None:
            fs = WorkspaceFS(
                self.volumes.data_path(volume_id),
                owner_uid=row.uid,
                owner_gid=row.gid,
                journal=self.volumes.journal(volume_id),
                # sandboxes of other uids share it (root mode): what the file API writes, they may change too
                new_modes=(0o666, 0o777) if self.volumes.shared else (0o644, 0o755),
            )
            self._vol_fs[(row.id, volume_id)] = fs
        return fs

    def _mount_points(self, row: Row, parent: str) -> builtins.list[tuple[str, str]]:
        """(name, volume id) of the mount points directly in the folder `parent` (home-relative)."""
        out = []
        for m in row.volumes:
            rel = home_relative(m.path)
            if rel is not None and rel.rpartition("/")[0] == parent:
                out.append((rel.rpartition("/")[2], m.volume))
        return out

    @staticmethod
    def _under(prefix: str, entry: FileEntry) -> FileEntry:
        if not prefix:
            return entry
        path = f"{prefix}/{entry.path}" if entry.path else prefix
        return dataclasses.replace(entry, path=path, name=entry.name or prefix.rpartition("/")[2])

    async def list_dir(self, sandbox_id: str, path: str, *, details: bool = True) -> builtins.list[FileEntry]:
        fs, inner, prefix = await self._at(sandbox_id, path)
        entries = [self._under(prefix, e) for e in await asyncio.to_thread(fs.list_dir, inner, details=details)]
        if not prefix:  # a volume's mount point shows in its folder's listing, though no folder of the home holds it
            row = self._running_row(sandbox_id)
            names = {e.name for e in entries}
            for name, _vol in self._mount_points(row, path):
                if name not in names:
                    with contextlib.suppress(SandbenchError):
                        entries.append(await self.stat(sandbox_id, f"{path}/{name}" if path else name))
        return entries

    async def stat(self, sandbox_id: str, path: str) -> FileEntry:
        fs, inner, prefix = await self._at(sandbox_id, path)
        return self._under(prefix, await asyncio.to_thread(fs.stat, inner))

    async def read_file(self, sandbox_id: str, path: str, *, limit: int, head: bool = False) -> FileData:
        fs, inner, prefix = await self._at(sandbox_id, path)
        data = await asyncio.to_thread(fs.read, inner, limit=limit, head=head)
        return dataclasses.replace(data, path=path) if prefix else data

    async def write_file(
        self, sandbox_id: str, path: str, data: bytes, *, expected_mtime: float | None = None
    ) -> FileEntry:
        fs, inner, prefix = await self._at(sandbox_id, path)
        self._usage_cache.pop(sandbox_id, None)
        return self._under(prefix, await asyncio.to_thread(fs.write, inner, data, expected_mtime=expected_mtime))

    async def open_read(self, sandbox_id: str, path: str) -> _FileReader:
        fs, inner, _prefix = await self._at(sandbox_id, path)
        fd, st = await asyncio.to_thread(fs.open_read, inner)
        return _FileReader(fd, st.st_size, path)

    async def open_write(self, sandbox_id: str, path: str) -> _FileWriter:
        fs, inner, prefix = await self._at(sandbox_id, path)
        self._usage_cache.pop(sandbox_id, None)
        return _FileWriter(await asyncio.to_thread(fs.open_write, inner), prefix)

    async def mkdir(self, sandbox_id: str, path: str, *, parents: bool = False) -> FileEntry:
        fs, inner, prefix = await self._at(sandbox_id, path)
        if prefix and not inner:
            return await self.stat(sandbox_id, path)  # the mount point: there already
        return self._under(prefix, await asyncio.to_thread(fs.mkdir, inner, parents=parents))

    async def move(self, sandbox_id: str, src: str, dst: str, *, overwrite: bool = False) -> FileEntry:
        sfs, sinner, sprefix = await self._at(sandbox_id, src)
        dfs, dinner, dprefix = await self._at(sandbox_id, dst)
        if sfs is not dfs:
            raise InvalidInput("moving between a volume and the rest of the sandbox is not supported: copy, delete")
        if sprefix and (not sinner or not dinner):
            raise InvalidInput("a volume's mount point cannot be moved")
        return self._under(dprefix, await asyncio.to_thread(sfs.move, sinner, dinner, overwrite=overwrite))

    async def delete_path(self, sandbox_id: str, path: str, *, recursive: bool = False) -> None:
        fs, inner, prefix = await self._at(sandbox_id, path)
        if prefix and not inner:
            raise InvalidInput("a volume's mount point cannot be deleted (delete what is in it, or the volume)")
        self._usage_cache.pop(sandbox_id, None)
        await asyncio.to_thread(fs.delete, inner, recursive=recursive)

    async def search(self, sandbox_id: str, path: str, pattern: str, *, limit: int = 1000) -> builtins.list[str]:
        fs, inner, prefix = await self._at(sandbox_id, path)
        found = await asyncio.to_thread(fs.search, inner, pattern, limit=limit)
        return [f"{prefix}/{p}" if p else prefix for p in found] if prefix else found

    async def list_files(self, sandbox_id: str, path: str = "", *, limit: int = 200_000) -> builtins.list[str]:
        fs, inner, prefix = await self._at(sandbox_id, path)
        found = await asyncio.to_thread(fs.walk_files, inner, limit=limit)
        return [f"{prefix}/{p}" if p else prefix for p in found] if prefix else found

    # -- volumes ---------------------------------------------------------------------------------------------
    async def create_volume(self, name: str, owner: str, *, cap: int) -> VolumeInfo:
        return await self.volumes.create(name, owner, cap=cap)

    async def list_volumes(self, owner: str) -> builtins.list[VolumeInfo]:
        return self.volumes.list(owner)

    async def delete_volume(self, volume_id: str, owner: str) -> None:
        for key in [k for k in self._vol_fs if k[1] == volume_id]:
            self._vol_fs.pop(key).close()
        await self.volumes.delete(volume_id, owner)


class _FileReader:
    """`ReadStream` over an fd from `WorkspaceFS.open_read`; each read runs in a worker thread."""

    def __init__(self, fd: int, size: int, path: str) -> None:
        self._fd, self.size, self._path = fd, size, path

    async def read(self, n: int) -> bytes:
        if self._fd < 0:
            return b""
        try:
            return await asyncio.to_thread(os.read, self._fd, n)
        except OSError as exc:
            raise ProviderError(f"{self._path!r}: read failed ({os.strerror(exc.errno or 5)})") from exc

    async def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _FileWriter:
    """`WriteStream` over `WorkspaceFS.open_write`; each step runs in a worker thread, one at a time."""

    def __init__(self, pending: AtomicWrite, prefix: str = "") -> None:
        self._pending = pending
        self._prefix = prefix  # a volume's mount point (home-relative): what the entry's path is under

    @property
    def written(self) -> int:
        return self._pending.written

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(self._pending.write, data)

    async def commit(self) -> FileEntry:
        return LocalFiles._under(self._prefix, await asyncio.to_thread(self._pending.commit))

    async def abort(self) -> None:
        await asyncio.to_thread(self._pending.abort)
