"""Metrics over the Daytona provider: the real `daytona` SDK's `get_metrics_latest` against a real `sandbench
serve` (whose route answers from the same service layer, services/metrics.py). What the Daytona API does not
report — process counts and limit hits — is named unavailable, never shown as zero.
"""

from __future__ import annotations

import asyncio

import pytest

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.services import test_server_harness as harness

serve = harness.serve  # the shared fixtures
dservice = harness.dservice
dbox = harness.dbox

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]

MiB = 1024 * 1024


async def test_daytona_metrics_come_from_the_sdk_and_say_what_is_missing(
    dservice: SandboxService, dbox: SandboxInfo
) -> None:
    m = await dservice.metrics(dbox.id)
    assert m.source == "daytona" and m.cpus == 1
    assert m.memory_limit == 1024 * MiB and m.disk_limit == 3 * 1024 * MiB
    assert m.cpu_pct is not None and 0 <= m.cpu_pct <= 100 and m.memory_used is not None
    assert m.pids is None and m.hits.oom_kills is None and m.hits.pids_refused is None
    missing = " ".join(m.unavailable)
    assert "pids" in missing and "oom kills" in missing and "Daytona API" in missing
    assert m.to_json()["hits"]["oom_kills"] is None

    burn = "python3 -c 'import time\nt = time.time()\nwhile time.time() - t < 6: pass'"
    run = asyncio.ensure_future(dservice.exec(dbox.id, ["sh", "-c", burn], timeout=30))
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while ((await dservice.metrics(dbox.id)).cpu_pct or 0) < 40:
            assert asyncio.get_running_loop().time() < deadline, "the burner never showed"
            await asyncio.sleep(0.2)
    finally:
        await run
