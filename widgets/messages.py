"""Messages any pane may post upwards, and the one way anything in the UI tells the user something.

- `WorkInFlight`: start/finish of slow work, shown as a spinner and text in the status bar.
- `BranchChanged`: the git panel tells the status bar which branch is checked out.
- `WorkerFailed`: an error for the app's one error route (DESIGN §7: error display lives in one place). Failed
  workers reach it through the `ReportWorkerErrors` mixin (`Worker.StateChanged` does not bubble, so every widget
  or screen that runs workers carries the mixin); an error a pane catches itself reaches it through `report`.
- `ErrorRoute`: the app's side of that route (a mixin for the `App`, here so that the widgets' own test apps take
  the same route): a `SandbenchError` is logged in one line and shown with its title and message; anything else is
  logged with its traceback and shown as `UNEXPECTED`. No traceback and no host detail reach the screen.
- `tell`: every notification in widgets/ and tui/ goes through it (a test scans for any other `notify(` call).
  Textual parses notification text as markup by default, and markup includes `[@click=…]` action links: a file
  name, a git message or a search string from a sandbox must never become one. So: `markup=False`, always, and the
  text made one line with control characters escaped (`services.text.one_line`).
"""

from __future__ import annotations

import logging
from typing import Any

from textual.app import App
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from services.errors import SandbenchError
from services.text import one_line, safe_text

log = logging.getLogger("sandbench.errors")

UNEXPECTED = "unexpected error (details in the log file)"


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


def tell(
    node: Widget | App[Any],
    text: str,
    *,
    title: str = "",
    severity: SeverityLevel = "information",
    timeout: float | None = None,
) -> None:
    """Show one notification: plain text (never markup), one line, control characters escaped."""
    node.notify(one_line(text), title=safe_text(title), severity=severity, timeout=timeout, markup=False)


def describe(error: BaseException) -> str:
    """The one line the user sees for `error`: a typed service error's message, else `UNEXPECTED` (the details,
    which may hold host paths or raw tool output, go to the log only)."""
    if isinstance(error, SandbenchError):
        return one_line(str(error)) or error.title
    return UNEXPECTED


def report(node: Widget | App[Any], error: BaseException, context: str = "") -> None:
    """Hand `error` to the app's one error route (logged, then one line shown). Posted to the app itself, so it
    arrives even when `node` (a dialog, say) is closing."""
    app = node if isinstance(node, App) else node.app
    app.post_message(WorkerFailed(context or type(node).__name__, error))


class ReportWorkerErrors:
    """Mixin for a widget or screen: its failed workers go to the app's one error route.

    Run workers with `exit_on_error=False` (the default `True` closes the whole app on any exception).
    """

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            report(self, event.worker.error, event.worker.name)  # type: ignore[arg-type]


class ErrorRoute:
    """Mixin for the `App`: the one place errors become notifications (DESIGN §7)."""

    def on_worker_failed(self, message: WorkerFailed) -> None:
        self.report_error(message.error, context=message.worker_name)

    def report_error(self, error: BaseException, *, context: str = "") -> None:
        app: App[Any] = self  # type: ignore[assignment]
        if isinstance(error, SandbenchError):
            log.info("%s: %s: %s", context or "operation", type(error).__name__, error)
            tell(app, describe(error), title=error.title, severity="error")
            return
        log.error("unexpected error in %s", context or "the app", exc_info=error)
        tell(app, describe(error), title="Error", severity="error")
