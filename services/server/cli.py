"""`sandbench serve`: run the Daytona-compatible server for local sandboxes.

    sandbench serve [--host 127.0.0.1] [--port 3986] [--print-env] [--tokens-file PATH] [limits...]

It listens on 127.0.0.1 unless another interface is named explicitly; a bearer token is required on every route
either way (generated on first run, mode 600). `--print-env` prints the two variables the `daytona` SDK needs —
the only place the token is ever shown. With `--port 0` the kernel picks a port; the first line on stdout says
which (`listening on http://HOST:PORT/api`), without the token. The limit flags (`--download-max-mib`,
`--pty-idle-timeout`, `--session-max-sessions`, ...; `services.server.limits` has the defaults) bound what one
client can make it hold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from services.errors import SandbenchError
from services.server.limits import MiB, ServeLimits

DEFAULT_PORT = 3986
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sandbench serve", description="Serve local sandboxes over the Daytona API (for the daytona SDK)."
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = pick one)")
    p.add_argument("--print-env", action="store_true", help="print DAYTONA_API_URL=... DAYTONA_API_KEY=... and exit")
    p.add_argument("--tokens-file", type=Path, help="extra 'identity token' lines (default: serve-tokens)")
    d = ServeLimits()
    g = p.add_argument_group("limits (per request, per identity, per connection)")
    g.add_argument(
        "--download-max-mib",
        type=_positive(int),
        default=d.download_max_bytes // MiB,
        metavar="N",
        help=f"file bytes one bulk download may return (default {d.download_max_bytes // MiB})",
    )
    g.add_argument(
        "--download-max-paths",
        type=_positive(int),
        default=d.download_max_paths,
        metavar="N",
        help=f"paths one bulk download may ask for (default {d.download_max_paths})",
    )
    g.add_argument(
        "--upload-max-mib",
        type=_positive(int),
        default=d.upload_max_bytes // MiB,
        metavar="N",
        help=f"body size of one bulk upload (default {d.upload_max_bytes // MiB})",
    )
    g.add_argument(
        "--upload-max-files",
        type=_positive(int),
        default=d.upload_max_files,
        metavar="N",
        help=f"files one bulk upload may carry (default {d.upload_max_files})",
    )
    g.add_argument(
        "--pty-max-sessions",
        type=_positive(int),
        default=d.pty_max_sessions,
        metavar="N",
        help=f"live PTY sessions per identity (default {d.pty_max_sessions})",
    )
    g.add_argument(
        "--pty-idle-timeout",
        type=_positive(float),
        default=d.pty_idle_timeout,
        metavar="SECONDS",
        help=f"end a PTY session after this long with no client (default {d.pty_idle_timeout:g})",
    )
    g.add_argument(
        "--session-max-sessions",
        type=_positive(int),
        default=d.session_max_sessions,
        metavar="N",
        help=f"process sessions per identity (default {d.session_max_sessions})",
    )
    g.add_argument(
        "--session-max-commands",
        type=_positive(int),
        default=d.session_max_commands,
        metavar="N",
        help=f"commands a process session keeps, oldest finished forgotten first (default {d.session_max_commands})",
    )
    g.add_argument(
        "--session-log-budget-mib",
        type=_positive(int),
        default=d.session_log_budget_bytes // MiB,
        metavar="N",
        help=f"command logs kept per identity over its process sessions (default {d.session_log_budget_bytes // MiB})",
    )
    g.add_argument(
        "--session-idle-timeout",
        type=_positive(float),
        default=d.session_idle_timeout,
        metavar="SECONDS",
        help=f"delete a process session unused this long (default {d.session_idle_timeout:g})",
    )
    g.add_argument(
        "--follow-max-streams",
        type=_positive(int),
        default=d.follow_max_streams,
        metavar="N",
        help=f"session-command log streams open at once per identity (default {d.follow_max_streams})",
    )
    g.add_argument(
        "--exec-max-concurrent",
        type=_positive(int),
        default=d.exec_max_concurrent,
        metavar="N",
        help=f"toolbox commands running at once per identity (default {d.exec_max_concurrent})",
    )
    g.add_argument(
        "--header-timeout",
        type=_positive(float),
        default=d.header_timeout,
        metavar="SECONDS",
        help=f"close a connection that sends no complete request head in time (default {d.header_timeout:g})",
    )
    g.add_argument(
        "--body-timeout",
        type=_positive(float),
        default=d.body_timeout,
        metavar="SECONDS",
        help=f"408 for a JSON body slower than this, or an upload pausing longer (default {d.body_timeout:g})",
    )
    g.add_argument(
        "--interpreter-max-contexts",
        type=_positive(int),
        default=d.interpreter_max_contexts,
        metavar="N",
        help=f"code interpreter contexts per identity, default ones included (default {d.interpreter_max_contexts})",
    )
    g.add_argument(
        "--interpreter-max-output-mib",
        type=_positive(int),
        default=d.interpreter_max_output_bytes // MiB,
        metavar="N",
        help=f"output one code interpreter run may stream (default {d.interpreter_max_output_bytes // MiB})",
    )
    return p


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value

    return parse


def _limits(args: argparse.Namespace) -> ServeLimits:
    return ServeLimits(
        download_max_bytes=args.download_max_mib * MiB,
        download_max_paths=args.download_max_paths,
        upload_max_bytes=args.upload_max_mib * MiB,
        upload_max_files=args.upload_max_files,
        pty_max_sessions=args.pty_max_sessions,
        pty_idle_timeout=args.pty_idle_timeout,
        session_max_sessions=args.session_max_sessions,
        session_max_commands=args.session_max_commands,
        session_log_budget_bytes=args.session_log_budget_mib * MiB,
        session_idle_timeout=args.session_idle_timeout,
        follow_max_streams=args.follow_max_streams,
        exec_max_concurrent=args.exec_max_concurrent,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        interpreter_max_contexts=args.interpreter_max_contexts,
        interpreter_max_output_bytes=args.interpreter_max_output_mib * MiB,
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def serve_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from services import config as config_mod
    from services.server.auth import EXTRA_TOKENS_FILE, load_extra_tokens, load_or_create_token, token_dir

    try:
        cfg = config_mod.load()
        token = load_or_create_token()
        if args.print_env:
            if args.port == 0:
                print("sandbench serve: --print-env needs a fixed --port", file=sys.stderr)
                return 2
            print(f"DAYTONA_API_URL=http://{_url_host(args.host)}:{args.port}/api DAYTONA_API_KEY={token}")
            return 0
        extra = load_extra_tokens(args.tokens_file or token_dir() / EXTRA_TOKENS_FILE)
    except SandbenchError as exc:
        print(f"sandbench serve: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.host not in LOOPBACK:
        # reachable from other machines: say so loudly; the bearer token is what protects it
        print(
            f"sandbench serve: listening on {args.host}, not loopback; anyone who can reach it needs the token",
            file=sys.stderr,
        )
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    tokens = {**extra, token: cfg.identity}
    try:
        return asyncio.run(_serve(cfg, tokens, args.host, args.port, _limits(args)))
    except KeyboardInterrupt:
        return 130


async def _serve(cfg: object, tokens: dict[str, str], host: str, port: int, limits: ServeLimits) -> int:
    from aiohttp import web

    from services.config import Config
    from services.errors import SandbenchError as _Err
    from services.local.provider import LocalProvider
    from services.server.app import build_app
    from services.server.auth import TokenTable

    assert isinstance(cfg, Config)
    try:
        provider = LocalProvider(
            cfg.data_dir, owner_label=cfg.owner_label, isolation_required=cfg.isolation_required, bwrap=cfg.bwrap
        )
    except _Err as exc:
        print(f"sandbench serve: {exc}", file=sys.stderr)
        return exc.exit_code
    app = build_app(provider, cfg, TokenTable(tokens), limits)
    # aiohttp's keep-alive timer runs from the connection's start (and from each response) and is not reset by
    # incoming bytes: it bounds a slowloris-style trickle of request headers as well as an idle connection
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=limits.header_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        print(f"sandbench serve: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    bound = port
    sockets = getattr(site._server, "sockets", None) or []
    if sockets:
        bound = sockets[0].getsockname()[1]
    print(f"sandbench serve: listening on http://{_url_host(host)}:{bound}/api", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(serve_main(sys.argv[1:]))
