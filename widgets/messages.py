"""Messages any pane may post upwards, and the one way anything in the UI tells the user something.

- `WorkInFlight`: start/finish of slow work, shown as a spinner and text in the status bar.
- `BranchChanged`: the git panel tells the status bar which branch is checked out.
- `WorkerFailed`: an error for the app's one error route (DESIGN §7: error display lives in one place). Failed
  workers reach it through the `ReportWorkerErrors` mixin (`Worker.StateChanged` does not bubble, so every widget
  or screen that runs workers carries the mixin); an error a pane catches itself reaches it through `report`.
- `ErrorRoute`: the app's side of that route (a mixin for the `App`, here so that the widgets' own test apps take
  the same route): a `SandbenchError` is logged in one line and shown with its title and message; anything else is
  logged with its traceback and shown as `UNEXPECTED`. No traceback and no host detail reach the screen. Every
  error shown is remembered (the last 20, `widgets.error_details`); when it says more than the notification's one
  line (`details_of`: a hook's 200 lines, a push's report, a message past `LINE_LIMIT`), the notification ends
  with "shift+f2 details" and shift+f2 (or the palette's "Last error details") opens the full text, scrollable
  and sanitized. A dialog that shows a rejection inline, keeping what was typed, also hands it to the route when
  its line is cut, and says "details: shift+f2".
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
from widgets.error_details import ERROR_DETAILS_KEY, ErrorDetailsScreen, ErrorHistory, ShownError, now

log = logging.getLogger("sandbench.errors")

UNEXPECTED = "unexpected error (details in the log file)"
LINE_LIMIT = 200  # characters of an error's line in a notification or a dialog; the rest is in the details view


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
        return one_line(str(error), LINE_LIMIT) or error.title
    return UNEXPECTED


def details_of(error: BaseException) -> str | None:
    """The full text of `error` when its one line does not hold it all (None when it does): the message, then
    what the tool said (`SandbenchError.details`, already bounded). Only typed errors have any: an unexpected
    one's detail is a traceback, which goes to the log."""
    if not isinstance(error, SandbenchError):
        return None
    message = str(error)
    extra = error.details
    whole = one_line(message, len(message) + 1)
    cut = len(whole) > LINE_LIMIT or "\n" in message.strip()
    says_more = extra is not None and one_line(extra, len(extra) + 1) not in whole
    if not cut and not says_more:
        return None
    return f"{message}\n\n{extra}" if says_more else message


def details_key(node: Widget | App[Any]) -> str:
    """The key that opens the details view, as the user's `[keymap]` has it (the first one)."""
    app = node if isinstance(node, App) else node.app
    keys = dict(getattr(app, "_keymap", {})).get(ERROR_DETAILS_KEY.id, ERROR_DETAILS_KEY.keys)
    return keys.split(",")[0].strip()


def history(node: Widget | App[Any]) -> ErrorHistory:
    """The app's remembered errors (an app without the `ErrorRoute` mixin remembers nothing: a fresh, empty one)."""
    app = node if isinstance(node, App) else node.app
    if not isinstance(app, ErrorRoute):
        return ErrorHistory()
    if app.error_history is None:  # made on first use: the mixin has no `__init__` of its own
        app.error_history = ErrorHistory()
    return app.error_history


def remember(node: Widget | App[Any], error: BaseException, context: str = "") -> str | None:
    """Keep `error` for the details view; returns the hint to add to its line ("shift+f2 details") when the line does
    not hold all of it, else None."""
    title = error.title if isinstance(error, SandbenchError) else "Error"
    text = details_of(error)
    line = describe(error)
    history(node).add(ShownError(title, line, text if text is not None else line, context, now()))
    return f"{details_key(node)} details" if text is not None else None


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

    error_history: ErrorHistory | None = None  # the last errors shown, for the details view (`history`)

    def on_worker_failed(self, message: WorkerFailed) -> None:
        self.report_error(message.error, context=message.worker_name)

    def report_error(self, error: BaseException, *, context: str = "") -> None:
        app: App[Any] = self  # type: ignore[assignment]
        if isinstance(error, SandbenchError):
            log.info("%s: %s: %s", context or "operation", type(error).__name__, error)
            if error.details:
                log.info("%s: what it said:\n%s", context or "operation", error.details)
            title = error.title
        else:
            log.error("unexpected error in %s", context or "the app", exc_info=error)
            title = "Error"
        hint = remember(app, error, context)
        line = describe(error)
        tell(app, f"{line} — {hint}" if hint else line, title=title, severity="error")

    def action_error_details(self) -> None:
        """Open the last errors' full text (`ERROR_DETAILS_KEY`); a second press there does nothing."""
        app: App[Any] = self  # type: ignore[assignment]
        if not isinstance(app.screen, ErrorDetailsScreen):
            app.push_screen(ErrorDetailsScreen(history(app).items))
