"""Conformance checks, PTY: create with a size and env, input, output, resize, exit code; disconnect and reconnect
to the same shell with its recent output replayed; kill."""

from __future__ import annotations

from tests.conformance.client import Ctx, check


@check(
    "sandbox.process.create_pty_session",
    "sandbox.process.list_pty_sessions",
    "sandbox.process.get_pty_session_info",
    "sandbox.process.resize_pty_session",
    "pty_handle.send_input",
    "pty_handle.resize",
    "pty_handle.wait",
    "pty_handle.wait_for_connection",
    "pty_handle.is_connected",
)
def pty_session(c: Ctx) -> None:
    from daytona import PtySize

    sb, pid = c.sandbox(), c.dir
    t = c.pty(sb, pid, envs={"PROBE": "from-env"}, pty_size=PtySize(rows=30, cols=100))
    assert t.handle.is_connected()
    c.do(t.handle.send_input("echo $PROBE; stty size\n"))
    t.out.wait_for("from-env")
    t.out.wait_for("30 100")
    c.do(t.handle.resize(PtySize(rows=40, cols=120)))
    c.do(t.handle.send_input("stty size\n"))
    t.out.wait_for("40 120")
    info = c.do(sb.process.get_pty_session_info(pid))
    assert (info.id, info.cols, info.rows, info.active) == (pid, 120, 40, True)
    c.do(sb.process.resize_pty_session(pid, PtySize(rows=20, cols=70)))
    c.do(t.handle.send_input("stty size\n"))
    t.out.wait_for("20 70")
    assert pid in [s.id for s in c.do(sb.process.list_pty_sessions())]
    c.do(t.handle.send_input("exit 7\n"))
    assert c.pty_exit(t) == 7


@check(
    "sandbox.process.connect_pty_session",
    "sandbox.process.kill_pty_session",
    "pty_handle.disconnect",
    "pty_handle.kill",
    notes={"sandbox.process.connect_pty_session": "the shell outlives the client; recent output is replayed"},
)
def pty_reconnect_and_kill(c: Ctx) -> None:
    sb, pid = c.sandbox(), c.dir
    t = c.pty(sb, pid)
    c.do(t.handle.send_input("MARK=$((6*7)); echo before-$MARK\n"))
    t.out.wait_for("before-42")
    c.do(t.handle.disconnect())
    assert c.do(sb.process.get_pty_session_info(pid)).active
    again = c.pty(sb, pid, connect=True)
    again.out.wait_for("before-42")
    c.do(again.handle.send_input("echo after-$MARK\n"))
    again.out.wait_for("after-42")
    c.do(again.handle.kill())
    other = c.pty(sb, f"{pid}-k")
    c.do(sb.process.kill_pty_session(f"{pid}-k"))
    assert c.pty_exit(other) == 137
    live = [s.id for s in c.do(sb.process.list_pty_sessions())]
    assert pid not in live and f"{pid}-k" not in live
