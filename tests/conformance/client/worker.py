"""Runs conformance checks in another interpreter (the venv of the oldest SDK the project claims), one JSON
request per line on stdin, one JSON answer per line on stdout:

    {"op": "open", "api_url": ..., "token": ...}   -> {"ok": true, "version": "0.190.1"}
    {"op": "run", "check": "files.upload", "kind": "sync"}
                                                   -> {"ok": true, "outcome": "passed"|"absent"}
                                                   or {"ok": false, "error": "<traceback, the check's locals>"}
    {"op": "surface"}                              -> {"ok": true, "version": ..., "sync": [...], "async": [...]}

Started as `python -m tests.conformance.client.worker` from the repository root; imports only the standard library,
the `daytona` SDK and the checks.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

from tests.conformance.client import CLIENTS, Client, clients, load_all, run, sdk_version, surface


def describe(exc: BaseException) -> str:
    """The traceback, and the locals of the innermost frame of a check: a plain `assert` here has no pytest
    rewriting, so the values it compared are shown this way."""
    text = "".join(traceback.format_exception(exc))
    tb = exc.__traceback__
    frame = None
    while tb is not None:
        if "tests/conformance/client" in tb.tb_frame.f_code.co_filename:
            frame = tb.tb_frame
        tb = tb.tb_next
    if frame is not None:
        shown = {k: v for k, v in frame.f_locals.items() if k not in ("c", "self") and not k.startswith("__")}
        text += "\nlocals of the failing check frame:\n" + "\n".join(f"  {k} = {v!r:.500}" for k, v in shown.items())
    return text


def main() -> None:
    answers = sys.stdout
    sys.stdout = sys.stderr  # whatever a check or the SDK prints must not corrupt the answers
    checks = load_all()
    opened: dict[str, Client] = {}
    stack: Any = None
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "open":
                if stack is not None:
                    stack.__exit__(None, None, None)
                stack = clients(req["api_url"], req["token"])
                opened = stack.__enter__()
                answer: dict[str, Any] = {"ok": True, "version": sdk_version()}
            elif req["op"] == "run":
                outcome = run(opened[req["kind"]], checks[req["check"]])
                answer = {"ok": True, "outcome": outcome}
            elif req["op"] == "surface":
                answer = {"ok": True, "version": sdk_version()}
                answer.update({kind: sorted(surface(kind)) for kind in CLIENTS})
            else:
                answer = {"ok": False, "error": f"unknown op {req['op']!r}"}
        except BaseException as e:  # a failing check is an answer, not the end of the worker
            answer = {"ok": False, "error": describe(e)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    if stack is not None:
        stack.__exit__(None, None, None)


if __name__ == "__main__":
    main()
