"""Result messages of the app's workers and service events (DESIGN §7: workers never touch widgets).

A worker awaits the service, then posts one of these; a handler on the screen changes widgets. The service's state
listener posts `SandboxChanged` too, so live updates and worker results take the same path. Messages panes post
upwards (work in flight, branch, worker failures) live in `widgets.messages`, re-exported here for the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.message import Message

from services.models import SandboxInfo
from widgets.messages import BranchChanged, WorkerFailed, WorkInFlight

if TYPE_CHECKING:
    from services.doctor import Report

__all__ = [
    "BranchChanged",
    "CloseWorkspace",
    "DoctorReported",
    "LeaveWorkspace",
    "LifecycleDone",
    "Note",
    "OpenSandbox",
    "Reload",
    "SandboxChanged",
    "SandboxReady",
    "SandboxRemoved",
    "SandboxesListed",
    "SelectSandbox",
    "WorkInFlight",
    "WorkerFailed",
]


class SandboxesListed(Message):
    def __init__(self, infos: Sequence[SandboxInfo]) -> None:
        super().__init__()
        self.infos = list(infos)


class SandboxChanged(Message):
    """A sandbox's state (or anything else about it) changed; `note` is a one-line success message to show."""

    def __init__(self, info: SandboxInfo, note: str | None = None) -> None:
        super().__init__()
        self.info = info
        self.note = note


class SandboxRemoved(Message):
    def __init__(self, sandbox_id: str, name: str) -> None:
        super().__init__()
        self.sandbox_id = sandbox_id
        self.name = name


class OpenSandbox(Message):
    """Ask the app to open the workspace on this sandbox (it is resolved and started first)."""

    def __init__(self, info: SandboxInfo) -> None:
        super().__init__()
        self.info = info


class SandboxReady(Message):
    """The sandbox to open is running (ensure_running returned): the workspace can be pushed."""

    def __init__(self, info: SandboxInfo) -> None:
        super().__init__()
        self.info = info


class LeaveWorkspace(Message):
    """Back to the sandbox list; the workspace shown stays alive in the background (`tui.workspaces`)."""


class CloseWorkspace(Message):
    """End a sandbox's live workspace: after saying what ends and asking (`ask`), or at once (its sandbox is gone)."""

    def __init__(self, sandbox_id: str, *, ask: bool = True) -> None:
        super().__init__()
        self.sandbox_id = sandbox_id
        self.ask = ask


class Reload(Message):
    """Re-list from the provider (after a failed action, whose row may now be stale)."""


class LifecycleDone(Message):
    """A lifecycle action on `sandbox_id` ended, successfully or not (clears its busy mark and spinner)."""

    def __init__(self, sandbox_id: str, key: str) -> None:
        super().__init__()
        self.sandbox_id = sandbox_id
        self.key = key


class Note(Message):
    """A one-line success message for the user."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class SelectSandbox(Message):
    def __init__(self, sandbox_id: str) -> None:
        super().__init__()
        self.sandbox_id = sandbox_id


class DoctorReported(Message):
    """The doctor's findings for new local sandboxes; `show` opens the details screen."""

    def __init__(self, report: Report, show: bool = False) -> None:
        super().__init__()
        self.report = report
        self.show = show
