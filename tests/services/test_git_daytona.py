"""The git service over the Daytona provider, through the real `daytona` SDK against a real `sandbench serve`.

Daytona's exec merges stderr into stdout (`stderr=b""`), so everything GitService classifies — "not a git
repository" (the panel then offers init), an authentication failure (which starts the token and askpass retries) —
must be read from whichever stream git's words arrived on. The same tests as for the local provider
(tests/services/test_git.py, test_git_remote.py) run here unchanged over this provider.
"""

from __future__ import annotations

import pytest

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.services import test_git, test_git_remote
from tests.services import test_server_harness as harness

serve = harness.serve  # the shared fixtures
dservice = harness.dservice
dbox = harness.dbox

pytestmark = [pytest.mark.timeout(180), pytest.mark.bwrap]


async def test_exec_over_daytona_merges_stderr(dservice: SandboxService, dbox: SandboxInfo) -> None:
    """The premise: what git writes to stderr arrives in stdout, and stderr is empty."""
    r = await dservice.exec(dbox.id, ["sh", "-c", "echo to-stderr >&2; exit 3"])
    assert (r.exit_code, r.stderr) == (3, b"")
    assert b"to-stderr" in r.stdout


async def test_not_a_repository(dservice: SandboxService, dbox: SandboxInfo) -> None:
    await test_git.test_not_a_repository(dservice, dbox)


async def test_http_push_with_token_written_only_when_needed(dservice: SandboxService, dbox: SandboxInfo) -> None:
    await test_git_remote.test_http_push_with_token_written_only_when_needed(dservice, dbox)


async def test_http_auth_failure_does_not_echo_the_token(dservice: SandboxService, dbox: SandboxInfo) -> None:
    await test_git_remote.test_http_auth_failure_does_not_echo_the_token(dservice, dbox)


async def test_http_askpass_answers_the_password_prompt(dservice: SandboxService, dbox: SandboxInfo) -> None:
    await test_git_remote.test_http_askpass_answers_the_password_prompt(dservice, dbox)
