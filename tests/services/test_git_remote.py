"""Push, pull, fetch and clone inside real sandboxes: a bare repository as a file remote, and an HTTP remote with
basic auth served inside the sandbox on its own loopback (`git http-backend` behind `git_http_server.py`, which
also runs the git command, because each exec has its own network namespace)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.git import GitService
from services.git_errors import AskTimeout, AuthenticationFailed, NoUpstream, PushRejected
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.services.test_git import IDENT, sh

pytestmark = pytest.mark.bwrap

SERVER = (Path(__file__).parent / "git_http_server.py").read_bytes()
PORT = "8765"
URL = f"http://127.0.0.1:{PORT}/remote.git"
TOKEN = "tok-S3cr3t/+%-value"  # characters that URL-encode, to catch an encoded echo too

SETUP_BARE = """
set -e
git init -q --bare -b main "$1"
git -C "$1" config http.receivepack true
git clone -q "$1" seed 2>/dev/null
cd seed && git config user.name Seed && git config user.email s@e
printf 'one\\n' > f && git add f && git commit -qm one && git push -q origin main
"""


async def file_remote(service: SandboxService, sandbox: SandboxInfo) -> GitService:
    await sh(service, sandbox.id, SETUP_BARE, "remote.git")
    g = GitService(service, sandbox.id, repo_dir="work", env=IDENT)
    home = await sh(service, sandbox.id, 'printf %s "$HOME"')
    await g.clone(f"{home}/remote.git", "work")
    await sh(service, sandbox.id, "git config user.name W && git config user.email w@e", cwd="work")
    return g


async def test_clone_push_pull_and_rejected_push_over_a_file_remote(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    g = await file_remote(service, sandbox)
    st = await g.status()
    assert st.branch == "main" and st.upstream == "origin/main" and (st.ahead, st.behind) == (0, 0)
    await service.write_file(sandbox.id, "work/f", b"two\n")
    await g.stage_all()
    await g.commit("two")
    assert (await g.status()).ahead == 1
    progress: list[str] = []
    res = await g.push(on_progress=progress.append)
    assert (await g.status()).ahead == 0 and not res.used_token and not res.asked
    # someone else pushes; our next push is rejected, a pull brings it in, then the push goes through
    await sh(
        service,
        sandbox.id,
        "git pull -q && printf 'x\\n' > g && git add g && git commit -qm other && git push -q",
        cwd="seed",
    )
    await service.write_file(sandbox.id, "work/h", b"h\n")
    await g.stage_all()
    await g.commit("three")
    with pytest.raises(PushRejected) as info:
        await g.push()
    assert "pull" in str(info.value) and "\n" not in str(info.value)
    await g.fetch(on_progress=progress.append)
    assert (await g.status()).behind == 1
    await g.pull(on_progress=progress.append)
    await g.push()
    st = await g.status()
    assert (st.ahead, st.behind) == (0, 0)


async def test_new_branch_needs_an_upstream_then_gets_one(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await file_remote(service, sandbox)
    await g.create_branch("topic")
    await sh(service, sandbox.id, "git commit -q --allow-empty -m t", cwd="work")
    with pytest.raises(NoUpstream):
        await g.push()
    with pytest.raises(NoUpstream):
        await g.pull()
    await g.push(set_upstream="origin")
    assert (await g.status()).upstream == "origin/topic"


# -- HTTP with basic auth, inside the sandbox -------------------------------------------------------------------
async def http_remote(service: SandboxService, sandbox: SandboxInfo, password: str, **kw: object) -> GitService:
    await service.mkdir(sandbox.id, "srv/repos", parents=True)
    await service.write_file(sandbox.id, "srv/server.py", SERVER)
    await service.write_file(sandbox.id, "srv/password", password.encode())
    await sh(service, sandbox.id, SETUP_BARE, "srv/repos/remote.git")
    await sh(
        service, sandbox.id, 'git clone -q srv/repos/remote.git work && git -C work remote set-url origin "$1"', URL
    )
    await sh(service, sandbox.id, "git config user.name W && git config user.email w@e", cwd="work")
    home = await sh(service, sandbox.id, 'printf %s "$HOME"')
    wrapper = ["python3", f"{home}/srv/server.py", f"{home}/srv", PORT, "--", "git"]
    return GitService(service, sandbox.id, repo_dir="work", env=IDENT, git_argv=wrapper, **kw)  # type: ignore[arg-type]


async def commit_one(service: SandboxService, sandbox: SandboxInfo, g: GitService, name: str) -> None:
    await service.write_file(sandbox.id, f"work/{name}", name.encode())
    await g.stage_all()
    await g.commit(name)


async def test_http_push_with_token_written_only_when_needed(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await http_remote(service, sandbox, TOKEN, token=TOKEN)
    await commit_one(service, sandbox, g, "a")
    progress: list[str] = []
    res = await g.push(on_progress=progress.append)
    assert res.used_token and not res.asked
    assert TOKEN not in res.output and TOKEN not in "".join(progress)
    # the first try went without credentials (a 401), and the credential file is gone afterwards
    log = (await service.read_file(sandbox.id, "srv/access.log")).data.decode()
    assert "-" in log.splitlines()[0]
    left = [e.name for e in await service.list_dir(sandbox.id, ".cache/sandbench")]
    assert not [n for n in left if n.startswith("git-credentials")]
    assert (await g.status()).ahead == 0


async def test_http_auth_failure_does_not_echo_the_token(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await http_remote(service, sandbox, "the-real-password", token=TOKEN)
    await commit_one(service, sandbox, g, "a")
    progress: list[str] = []
    with pytest.raises(AuthenticationFailed) as info:
        await g.push(on_progress=progress.append)
    text = str(info.value) + "".join(progress) + repr(info.value)
    assert TOKEN not in text and "S3cr3t" not in text
    assert "token" in str(info.value) and "\n" not in str(info.value)


async def test_http_rejected_push(service: SandboxService, sandbox: SandboxInfo) -> None:
    g = await http_remote(service, sandbox, TOKEN, token=TOKEN)
    await sh(service, sandbox.id, "git pull -q && git commit -q --allow-empty -m ahead && git push -q", cwd="seed")
    await commit_one(service, sandbox, g, "mine")
    with pytest.raises(PushRejected):
        await g.push()


async def test_http_askpass_answers_the_password_prompt(service: SandboxService, sandbox: SandboxInfo) -> None:
    prompts: list[str] = []

    async def ask(prompt: str) -> str | None:
        prompts.append(prompt)
        return "ada" if prompt.startswith("Username") else "open sesame"

    g = await http_remote(service, sandbox, "open sesame", ask=ask)
    await commit_one(service, sandbox, g, "a")
    res = await g.push()
    assert res.asked and not res.used_token
    assert prompts[0].startswith("Username for 'http://127.0.0.1:8765'")
    assert prompts[1].startswith("Password for 'http://ada@127.0.0.1:8765'")
    assert (await g.status()).ahead == 0
    # the exchange folder is cleaned up; the helper script stays (constant, harmless)
    names = [e.name for e in await service.list_dir(sandbox.id, ".cache/sandbench")]
    assert names == ["askpass"]


async def test_askpass_unanswered_times_out_with_a_message(service: SandboxService, sandbox: SandboxInfo) -> None:
    async def never(prompt: str) -> str | None:
        await asyncio.sleep(3600)
        return None

    g = await http_remote(service, sandbox, "pw", ask=never, ask_timeout=1.0)
    await commit_one(service, sandbox, g, "a")
    with pytest.raises(AskTimeout) as info:
        await g.push()
    assert "no answer" in str(info.value)


async def test_askpass_cancelled_is_an_auth_failure(service: SandboxService, sandbox: SandboxInfo) -> None:
    async def cancel(prompt: str) -> str | None:
        return None

    g = await http_remote(service, sandbox, "pw", ask=cancel)
    await commit_one(service, sandbox, g, "a")
    with pytest.raises(AuthenticationFailed):
        await g.push()
