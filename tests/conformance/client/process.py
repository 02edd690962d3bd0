"""Conformance checks, exec and sessions: exit codes, output, cwd, env, timeouts; sessions that keep their shell,
commands run async with their logs streamed, input to a running command."""

from __future__ import annotations

import time

from tests.conformance.client import Ctx, Output, check


@check(
    "sandbox.process.exec",
    notes={
        "sandbox.process.exec": "any folder that exists inside the sandbox is a valid cwd; `python` is python3; "
        "a stopped sandbox is started on demand",
    },
)
def exec_(c: Ctx) -> None:
    from daytona import DaytonaError

    sb = c.sandbox()
    r = c.do(sb.process.exec("echo hello; echo oops >&2; exit 3"))
    assert (r.exit_code, r.result) == (3, "hello\noops\n")
    r = c.do(sb.process.exec('pwd; echo "$GREETING"', cwd="/tmp", env={"GREETING": "hi there"}))
    assert (r.exit_code, r.result) == (0, "/tmp\nhi there\n")
    r = c.do(sb.process.exec("python -c 'print(6*7)'"))
    assert r.result == "42\n"
    t = time.monotonic()
    err = c.raises(DaytonaError, lambda: c.do(sb.process.exec("sleep 10", timeout=1)))
    assert "timeout" in str(err).lower() and time.monotonic() - t < 5, err


@check(
    "sandbox.process.create_session",
    "sandbox.process.execute_session_command",
    "sandbox.process.get_session",
    "sandbox.process.get_session_command",
    "sandbox.process.get_session_command_logs",
    "sandbox.process.get_session_command_logs_async",
    "sandbox.process.list_sessions",
    "sandbox.process.delete_session",
)
def sessions(c: Ctx) -> None:
    from daytona import SessionExecuteRequest

    sb, sid = c.sandbox(), c.dir
    p = sb.process
    c.do(p.create_session(sid))
    r = c.do(
        p.execute_session_command(sid, SessionExecuteRequest(command=f"mkdir -p {sid} && cd {sid} && export K=v1"))
    )
    assert r.exit_code == 0
    r = c.do(p.execute_session_command(sid, SessionExecuteRequest(command="basename $PWD; echo $K; exit 4")))
    assert (r.exit_code, r.stdout) == (4, f"{sid}\nv1\n")
    started = c.do(
        p.execute_session_command(
            sid, SessionExecuteRequest(command="for i in 1 2 3; do echo out$i; sleep 0.05; done", run_async=True)
        )
    )
    assert started.cmd_id
    out, err = Output(), Output()
    c.do(p.get_session_command_logs_async(sid, started.cmd_id, out, err), timeout=15)
    assert out.text() == "out1\nout2\nout3\n" and err.text() == ""
    assert c.do(p.get_session_command(sid, started.cmd_id)).exit_code == 0
    logs = c.do(p.get_session_command_logs(sid, started.cmd_id))
    assert logs.stdout == "out1\nout2\nout3\n"
    assert [x.exit_code for x in c.do(p.get_session(sid)).commands] == [0, 4, 0]
    assert sid in [s.session_id for s in c.do(p.list_sessions())]
    c.do(p.delete_session(sid))
    assert sid not in [s.session_id for s in c.do(p.list_sessions())]


@check("sandbox.process.send_session_command_input")
def session_input(c: Ctx) -> None:
    from daytona import SessionExecuteRequest

    sb, sid = c.sandbox(), c.dir
    p = sb.process
    c.do(p.create_session(sid))
    req = SessionExecuteRequest(command="read name; echo hello-$name", run_async=True)
    started = c.do(p.execute_session_command(sid, req))
    c.do(p.send_session_command_input(sid, started.cmd_id, "world\n"))
    out = Output()
    c.do(p.get_session_command_logs_async(sid, started.cmd_id, out, out), timeout=15)
    assert "hello-world" in out.text()
    assert c.do(p.get_session_command(sid, started.cmd_id)).exit_code == 0
    c.do(p.delete_session(sid))


@check(
    "sandbox.process.get_entrypoint_logs",
    "sandbox.process.get_entrypoint_logs_async",
    expect="501",
    notes={
        "sandbox.process.get_entrypoint_logs": "a local sandbox has no image entrypoint; the sync client reports "
        "only the status (its SDK code drops the body)"
    },
)
def entrypoint_refused(c: Ctx) -> None:
    p = c.sandbox().process
    c.refused(lambda: c.do(p.get_entrypoint_logs()), bare=c.sync)
    out = Output()
    c.refused(lambda: c.do(p.get_entrypoint_logs_async(out, out)), bare=True)


@check(
    "sandbox.process.get_entrypoint_session",
    expect="501",
)
def entrypoint_session_refused(c: Ctx) -> None:
    c.refused(lambda: c.do(c.sandbox().process.get_entrypoint_session()), "entrypoint")
