"""The process verbs of the `sandbench` CLI: ps, kill, ports, forward (docs/cli.md "Processes and ports").

Thin: the work is `SandboxService.processes` / `kill_process` / `ports` and the process service's `forward`
(services/processes.py); this module turns results into text (command lines are already sanitized by the service) or
the stable `--json` shapes of docs/cli.md. `forward` holds its forward until Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from services.text import safe_text

if TYPE_CHECKING:
    from services.processes import PortInfo, ProcessInfo

VERBS = ("ps", "kill", "ports", "forward")
SAMPLE = 0.5  # seconds between the two readings that give CPU %


def add_parsers(sub: Any) -> None:
    ps = sub.add_parser("ps", help="a sandbox's processes as a tree (pid, user, CPU %%, memory, state, age, command)")
    ps.add_argument("name")
    ps.add_argument("--json", action="store_true")
    ps.set_defaults(verb_run=dispatch)
    k = sub.add_parser("kill", help="signal one of a sandbox's processes (TERM by default)")
    k.add_argument("name")
    k.add_argument("pid", type=int, help="the pid as the sandbox sees it (echo $$ there; 'ps' shows it as PID)")
    k.add_argument(
        "--host-pid", action="store_true", help="PID is the host's ('ps' HOST column), for a pid several commands share"
    )
    k.add_argument(
        "--signal", default="TERM", choices=("TERM", "KILL", "INT", "HUP"), help="the signal to send (default TERM)"
    )
    k.add_argument("--kill-after", type=float, metavar="SECONDS", help="send KILL if TERM has not ended it by then")
    k.add_argument("--json", action="store_true")
    k.set_defaults(verb_run=dispatch)
    pt = sub.add_parser("ports", help="the TCP ports something listens on inside a sandbox")
    pt.add_argument("name")
    pt.add_argument("--json", action="store_true")
    pt.set_defaults(verb_run=dispatch)
    fw = sub.add_parser("forward", help="forward a port of a sandbox to 127.0.0.1 until Ctrl-C")
    fw.add_argument("name")
    fw.add_argument("port", type=int, help="the port inside the sandbox")
    fw.add_argument("--local-port", type=int, default=0, metavar="N", help="default: any free port")
    fw.add_argument("--json", action="store_true", help="print the forward as one JSON line when it is ready")
    fw.set_defaults(verb_run=forward)


def process_json(p: ProcessInfo, depth: int) -> dict[str, Any]:
    return {
        "pid": p.shown_pid,
        "ppid": p.sandbox_ppid if p.sandbox_pid is not None else p.ppid,
        "host_pid": p.host_pid,
        "depth": depth,
        "user": p.user,
        "cpu_percent": p.cpu_percent,
        "rss_bytes": p.rss_bytes,
        "state": p.state,
        "state_name": p.state_name,
        "threads": p.threads,
        "started_at": datetime.fromtimestamp(p.started_at, UTC).isoformat(timespec="seconds"),
        "age_seconds": round(p.age, 1),
        "start_ticks": p.started,
        "name": p.name,
        "command": p.command,
    }


def port_json(p: PortInfo) -> dict[str, Any]:
    # `pid` is the sandbox's, `host_pid` the host's (null where they are one), as `sandbench ps --json` says them
    return {
        "port": p.port,
        "address": p.address,
        "family": p.family,
        "pid": p.shown_pid,
        "host_pid": p.host_pid,
        "command": p.command,
    }


def print_processes(rows: list[tuple[ProcessInfo, int]]) -> None:
    from services.processes import human_age  # with the service: not on the CLI's import path
    from tui.cli import human_size

    print(f"{'PID':>5} {'HOST':>7} {'USER':<8} {'CPU%':>5} {'MEM':>7} S {'AGE':>7}  COMMAND")
    for p, depth in rows:
        cpu = "-" if p.cpu_percent is None else f"{p.cpu_percent:.1f}"
        branch = "  " * (depth - 1) + "└ " if depth else ""
        host = "-" if p.host_pid is None else str(p.host_pid)
        print(
            f"{p.shown_pid:>5} {host:>7} {safe_text(p.user)[:8]:<8} {cpu:>5} {human_size(p.rss_bytes):>7} {p.state} "
            f"{human_age(p.age):>7}  {branch}{p.command}"
        )


async def dispatch(args: argparse.Namespace, svc: Any, info: Any) -> int:
    from services.processes import tree

    if args.verb == "ps":
        rows = tree(await svc.processes(info.id, sample=SAMPLE))
        if args.json:
            out = {"sandbox": info.name, "id": info.id, "state": str(info.state)}
            print(json.dumps({**out, "processes": [process_json(p, d) for p, d in rows]}, indent=2))
        elif not rows:
            print(f"{safe_text(info.name)} is {info.state}: no processes")
        else:
            print_processes(rows)
        return 0
    if args.verb == "kill":
        result = await svc.kill_process(
            info.id, args.pid, args.signal, kill_after=args.kill_after, inside=not args.host_pid
        )
        shown = result.sandbox_pid if result.sandbox_pid is not None else result.pid
        host = result.pid if result.sandbox_pid is not None else None
        if args.json:
            doc = {"pid": shown, "host_pid": host, "signal": result.signal, "ended": result.ended}
            print(json.dumps({**doc, "escalated": result.escalated}))
        elif result.ended:
            print(f"sent {result.signal} to {shown}: it ended" + (" (after TERM did not)" if result.escalated else ""))
        else:
            # the host pid names exactly this process, whichever pid was given
            target = f"{result.pid} --host-pid" if host is not None else str(result.pid)
            again = f"sandbench kill {safe_text(args.name)} {target} --signal KILL"
            print(f"sent {result.signal} to {shown}: still running (to end it now: {again})")
        return 0
    ports = await svc.ports(info.id)
    if args.json:
        print(json.dumps({"sandbox": info.name, "id": info.id, "ports": [port_json(p) for p in ports]}, indent=2))
    elif not ports:
        print(f"nothing listens on a TCP port in {safe_text(info.name)}")
    else:
        print(f"{'PORT':>5}  {'ADDRESS':<15} {'PID':>7} {'HOST':>7}  COMMAND")  # pids as `sandbench ps` shows them
        for p in ports:
            pid = "-" if p.shown_pid is None else str(p.shown_pid)
            host = "-" if p.host_pid is None else str(p.host_pid)
            print(f"{p.port:>5}  {p.address:<15} {pid:>7} {host:>7}  {p.command}")
    return 0


async def forward(args: argparse.Namespace, svc: Any, info: Any) -> int:
    """Open the forward, say where it is (one line, flushed: a script reads it), hold it until SIGINT or SIGTERM,
    then close it."""
    fwd = await svc.process_service.forward(info.id, args.port, args.local_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if args.json:
            doc = {"sandbox": info.name, "port": fwd.port, "local_port": fwd.local_port, "url": fwd.url, "via": fwd.via}
            print(json.dumps(doc), flush=True)
        else:
            how = " through its preview link (HTTP and WebSockets only)" if fwd.via == "preview" else ""
            print(
                f"forwarding {fwd.address} to port {fwd.port} of {safe_text(info.name)}{how}: {fwd.url} "
                "(Ctrl-C to stop)",
                flush=True,
            )
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await svc.close_forward(info.id, fwd.port)
    if not args.json:
        print("forward closed", flush=True)
    return 0
