"""Messages any pane may post upwards, understood by the screen and the app (the widget layer cannot import tui/).

- `WorkInFlight`: start/finish of slow work, shown as a spinner and text in the status bar.
- `BranchChanged`: the git panel tells the status bar which branch is checked out.
- `WorkerFailed`: a worker of this pane failed; the app turns it into one notification (DESIGN §7: error display
  lives in one place). `Worker.StateChanged` does not bubble, so panes opt in with the `ReportWorkerErrors` mixin.
"""

from __future__ import annotations

from textual.message import Message
from textual.worker import Worker, WorkerState


class WorkInFlight(Message):
    """`text=None` ends the work named `key`."""

    def __init__(self, key: str, text: str | None) -> None:
        super().__init__()
        self.key = key
        self.text = text


class BranchChanged(Message):
    def __init__(self, branch: str | None) -> None:
        super().__init__()
        self.branch = branch


class WorkerFailed(Message):
    def __init__(self, worker_name: str, error: BaseException) -> None:
        super().__init__()
        self.worker_name = worker_name
        self.error = error


class ReportWorkerErrors:
    """Mixin for a widget or screen: its failed workers become a `WorkerFailed` message that bubbles to the app.

    Run workers with `exit_on_error=False` (the default `True` would crash the app with a traceback).
    """

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.post_message(WorkerFailed(event.worker.name, event.worker.error))  # type: ignore[attr-defined]
