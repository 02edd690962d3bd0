"""Search in files over the Daytona provider: the real `daytona` SDK against a real `sandbench serve`.

The same grep runs through the SDK's exec. What differs (services/search.py's docstring): no streaming (results
arrive when grep ends), stderr merged into stdout, and an abandoned search is not killed remotely (it ends at the
exec timeout). Everything a user sees of the results — names, lines, filters, caps, replace — is the same, which
these tests check by running the local suite's tests unchanged over this provider.
"""

from __future__ import annotations

import pytest

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.services import test_search
from tests.services import test_server_harness as harness

serve = harness.serve  # the shared fixtures
dservice = harness.dservice
dbox = harness.dbox

pytestmark = [pytest.mark.timeout(180), pytest.mark.bwrap]


@pytest.fixture
async def dtree(dservice: SandboxService, dbox: SandboxInfo) -> SandboxInfo:
    return await test_search.make_tree(dservice, dbox)


async def test_literal_over_daytona(dservice: SandboxService, dtree: SandboxInfo) -> None:
    await test_search.test_literal_case_insensitive_by_default_grouped_by_file(dservice, dtree)


async def test_options_and_globs_over_daytona(dservice: SandboxService, dtree: SandboxInfo) -> None:
    await test_search.test_case_sensitive_whole_word_and_regex(dservice, dtree)
    await test_search.test_globs_include_exclude_by_name_and_path(dservice, dtree)


async def test_hostile_names_over_daytona(dservice: SandboxService, dbox: SandboxInfo) -> None:
    await test_search.test_hostile_names_are_data(dservice, dbox)


async def test_caps_over_daytona(dservice: SandboxService, dbox: SandboxInfo) -> None:
    await test_search.test_caps_on_matches_and_line_bytes(dservice, dbox)


async def test_replace_over_daytona(dservice: SandboxService, dtree: SandboxInfo) -> None:
    await test_search.test_replace_preview_then_atomic_write(dservice, dtree)
    await test_search.test_replace_refuses_a_file_changed_since_the_search(dservice, dtree)
