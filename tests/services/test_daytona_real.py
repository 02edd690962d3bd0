"""Opt-in: the provider contract against real Daytona. Runs only when DAYTONA_API_KEY is set (DAYTONA_API_URL and
DAYTONA_TARGET as the SDK reads them); every sandbox it makes is labelled and deleted afterwards. Costs real money."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.config import Config, DaytonaConfig
from services.errors import SandbenchError
from tests.services.test_provider_contract import (  # noqa: F401 - collected here against real Daytona
    test_archive_and_snapshot,
    test_exec,
    test_files,
    test_lifecycle,
    test_terminal,
)

RUN = secrets.token_hex(4)

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("DAYTONA_API_KEY"),
        reason="DAYTONA_API_KEY is not set: the real-Daytona conformance run is opt-in",
    ),
    pytest.mark.timeout(600),
]


@pytest.fixture
async def prov(tmp_path: Path) -> AsyncIterator[Any]:
    from services.daytona import DaytonaProvider
    from tests.services.test_server_harness import IDENTITY

    cfg = Config(
        identity=IDENTITY,
        data_dir=tmp_path,
        daytona=DaytonaConfig(
            api_key=os.environ.get("DAYTONA_API_KEY"),
            api_url=os.environ.get("DAYTONA_API_URL"),
            target=os.environ.get("DAYTONA_TARGET"),
        ),
    )
    p = DaytonaProvider(cfg)
    made: list[str] = []
    original = p.create

    async def tracking_create(spec: Any, owner: str) -> Any:
        # a run label, so a sandbox left behind by a crashed run can be found and removed by hand
        spec = dataclasses.replace(spec, labels={**spec.labels, "sandbench.test-run": RUN})
        info = await original(spec, owner)
        made.append(info.id)
        return info

    p.create = tracking_create  # type: ignore[method-assign]
    yield p
    for sid in made:
        try:
            await p.delete(sid)
        except SandbenchError:
            pass
    await p.close()
