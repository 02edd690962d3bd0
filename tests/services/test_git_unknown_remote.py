"""Every GitService call that names a remote refuses one the repository does not have, in one line naming it,
before git is asked to reach anything."""

from __future__ import annotations

from services.errors import InvalidInput
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.services.test_git import new_repo, sh


async def test_an_unknown_remote_is_refused_by_name(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await new_repo(service, sandbox)
    await service.write_file(sandbox.id, "repo/a.txt", b"a\n")
    await sh(service, sandbox.id, "git add -A && git commit -qm first", cwd="repo")
    calls = {
        "fetch_remote": lambda: g.fetch_remote("nowhere"),
        "pull_from": lambda: g.pull_from("nowhere", "main"),
        "push_branch": lambda: g.push_branch("nowhere", "main"),
        "push": lambda: g.push(set_upstream="nowhere"),
    }
    refused = []
    for what, call in calls.items():
        try:
            await call()
        except InvalidInput as exc:
            refused.append((what, str(exc)))
    assert refused == [(what, "no remote 'nowhere'") for what in calls]
    assert await g.remotes() == []
