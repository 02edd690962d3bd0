"""The Timeline through the real app across a rotation of the audit log (issue 15): entries from before and after
a rotation are shown in order, and a rotation by another process while the view is open loses and repeats none."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from services.audit import rotate, rotated_files
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.test_timeline_app import open_from_list, rows
from tui.app import SandbenchApp

pytestmark = pytest.mark.bwrap

REPO = Path(__file__).resolve().parents[2]


async def test_the_timeline_reads_across_a_rotation_and_follows_through_one(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    log = service.config.audit_log
    await service.write_file(box.id, "before.txt", b"1\n")
    assert rotate(log)
    await service.write_file(box.id, "after.txt", b"2\n")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        assert rows(screen)[:2] == ["write after.txt", "write before.txt"]
        # another process rotates while the view follows; the app's next operations land in the new file
        script = (
            "import sys; from pathlib import Path; from services.audit import rotate; assert rotate(Path(sys.argv[1]))"
        )
        subprocess.run([sys.executable, "-c", script, str(log)], cwd=REPO, check=True, timeout=60)
        await service.write_file(box.id, "later.txt", b"3\n")
        await wait_until(pilot, lambda: rows(screen)[0] == "write later.txt", show=lambda: repr(rows(screen)))
        assert len(rotated_files(log)) == 2
        writes = [r for r in rows(screen) if r.startswith("write ")]
        assert writes == ["write later.txt", "write after.txt", "write before.txt"]
