"""Repositories inside a workspace whose top folder is none (what `git clone URL` leaves: `proj/.git`): finding
them, offering one to the git panel (`o`), and saying so when the user is about to `git init` around them."""

from __future__ import annotations

from typing import Any

from services.errors import SandbenchError
from services.sandbox_service import SandboxService
from services.text import safe_text
from widgets.dialogs import ChoiceDialog

LOOK = 32  # top-level folders looked into
CHOICES = 6  # repositories offered at once


async def find(svc: SandboxService, sandbox_id: str) -> list[str]:
    """The workspace's top-level folders that are repositories of their own: each holds a `.git` (a folder, or a
    file for a worktree). At most LOOK folders are looked into."""
    try:
        folders = [e.path for e in await svc.list_dir(sandbox_id, "", details=False) if e.is_dir]
    except SandbenchError:
        return []
    found = []
    for folder in sorted(folders)[:LOOK]:
        try:
            await svc.stat(sandbox_id, f"{folder}/.git")
        except SandbenchError:
            continue
        found.append(folder)
    return found


async def pick(app: Any, nested: list[str]) -> str | None:
    """The repository to follow: the only one, or the one chosen in a dialog (None: cancelled)."""
    if len(nested) <= 1:
        return nested[0] if nested else None
    choices = [(str(i), f"{safe_text(d)}/") for i, d in enumerate(nested[:CHOICES])]
    picked = await app.push_screen_wait(
        ChoiceDialog("Open repository", "Which repository should the git panel follow?", choices)
    )
    return nested[int(str(picked))] if picked is not None and str(picked).isdigit() else None


def init_question(repo_dir: str, nested: list[str]) -> str:
    """`i`'s question, naming the folder, and what becomes of repositories inside it."""
    where = f"{safe_text(repo_dir)}/" if repo_dir else "the workspace's top folder (~)"
    question = f"Make {where} a git repository (branch main)?"
    if nested:
        inside = ", ".join(f"{safe_text(d)}/" for d in nested[:3]) + (" …" if len(nested) > 3 else "")
        question += f" {inside} inside would be recorded only as commits of their own (o opens one instead)."
    return question
