"""Named volumes of SandboxService: list, get, create and delete this identity's volumes (the policy, names and caps
are services/volumes.py's).
"""

from __future__ import annotations

from services import volumes
from services.errors import PermissionDenied, SandbenchError
from services.models import VolumeInfo
from services.sandbox_core import SandboxCore, outcome


class VolumeOps(SandboxCore):
    """The named volumes of `SandboxService` (a mixin over its core)."""

    # -- named volumes (policy: services/volumes.py) -------------------------------------------------------
    def _volume_provider(self) -> volumes.VolumeProvider:
        if not isinstance(self.provider, volumes.VolumeProvider):
            raise volumes.VolumesUnsupported(f"the {self.provider.name} provider has no named volumes here")
        if not self.identity:
            raise PermissionDenied("no identity configured: volumes belong to an identity")
        return self.provider

    async def list_volumes(self) -> list[VolumeInfo]:
        """This identity's volumes (no other identity's is ever listed)."""
        return await self._volume_provider().list_volumes(self.identity)

    async def get_volume(self, id_or_name: str) -> VolumeInfo:
        """One of this identity's volumes, by id or by name; another identity's is `VolumeNotFound`, as a missing
        one."""
        for v in await self.list_volumes():
            if v.id == id_or_name or v.name == id_or_name:
                return v
        raise volumes.VolumeNotFound(f"no volume {id_or_name[:80]!r}")

    async def create_volume(self, name: str) -> VolumeInfo:
        provider = self._volume_provider()
        name = volumes.check_volume_name(name)
        try:
            info = await provider.create_volume(name, self.identity, cap=self.volume_cap)
        except SandbenchError as exc:
            self.audit.record("create-volume", name=name, outcome=outcome(exc))
            raise
        self.audit.record("create-volume", name=name)
        return info

    async def delete_volume(self, id_or_name: str) -> VolumeInfo:
        """Delete one of this identity's volumes: refused (`VolumeInUse`) while a sandbox mounts it."""
        provider = self._volume_provider()
        try:
            info = await self.get_volume(id_or_name)
            await provider.delete_volume(info.id, self.identity)
        except SandbenchError as exc:
            self.audit.record("delete-volume", name=id_or_name[:80], outcome=outcome(exc))
            raise
        self.audit.record("delete-volume", name=info.name)
        return info
