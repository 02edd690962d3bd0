"""`NotSupported` (services/errors.py): every "this provider or one machine cannot do that" error is one type,
which `sandbench serve` answers 501 naming the feature, never a 500."""

from __future__ import annotations

import pytest

from services.errors import NotSupported
from services.port_forward import ForwardUnsupported
from services.sandbox_service import SandboxService
from services.server import wire
from services.volumes import VolumesUnsupported
from tests.services import test_server_harness as harness

serve = harness.serve  # the shared fixtures
dservice = harness.dservice


async def test_volumes_asked_of_a_provider_without_them_are_not_supported(dservice: SandboxService) -> None:
    with pytest.raises(VolumesUnsupported, match="has no named volumes here") as caught:
        await dservice.list_volumes()
    assert isinstance(caught.value, NotSupported)
    assert wire.status_of(caught.value) == (501, "NOT_IMPLEMENTED")


@pytest.mark.parametrize("kind", [NotSupported, ForwardUnsupported, VolumesUnsupported])
def test_each_kind_is_answered_501_titled_not_supported(kind: type[NotSupported]) -> None:
    exc = kind("what it cannot do")
    assert wire.status_of(exc) == (501, "NOT_IMPLEMENTED")
    assert exc.title == "Not supported"
