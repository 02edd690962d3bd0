"""`sandbench serve`: run the Daytona-compatible server for local sandboxes.

    sandbench serve [--host 127.0.0.1] [--port 3986] [--print-env] [--tokens-file PATH] [--reaper-interval S]
                    [limits...]
    sandbench serve --add-token NAME [--owner OWNER] [--tokens-file PATH]

It listens on 127.0.0.1 unless another interface is named explicitly; a bearer token is required on every route
either way (generated on first run, mode 600). `--print-env` prints the two variables the `daytona` SDK needs —
the only place the token is ever shown; it names the running server's URL (from `serve-url`, beside the token,
written once the server listens) when one runs on this home, else `--port`'s. With `--port 0` the kernel picks a
port; the first line on stdout says which (`listening on http://HOST:PORT/api`), without the token. The limit flags
(`--download-max-mib`, `--pty-idle-timeout`, `--session-max-sessions`, ...; `services.server.limits` has the
defaults) bound what one client can make it hold. `--add-token NAME` mints a token that acts for OWNER (default:
the configured identity) under its own name — an agent's, shown as NAME in the Timeline — appends it to the tokens
file (mode 600) and prints it once on stdout; a running server picks it up when restarted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from services import config as config_mod
from services.config import Config
from services.errors import SandbenchError
from services.server.auth import (
    EXTRA_TOKENS_FILE,
    TokenTable,
    add_token,
    check_grants,
    load_extra_tokens,
    load_or_create_token,
    token_dir,
)
from services.server.limits import MiB, ServeLimits

DEFAULT_PORT = 3986
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SHUTDOWN_GRACE = 5.0  # seconds a stop (SIGTERM, Ctrl-C) waits for requests in flight before ending them


@dataclass(frozen=True)
class LimitFlag:
    """One `ServeLimits` field as a flag: `scale` turns the flag's unit (MiB) into the field's (bytes)."""

    name: str
    field: str
    kind: type[int] | type[float]
    help: str
    scale: int = 1


LIMIT_FLAGS = (
    LimitFlag("--download-max-mib", "download_max_bytes", int, "file bytes one bulk download may return", MiB),
    LimitFlag("--download-max-paths", "download_max_paths", int, "paths one bulk download may ask for"),
    LimitFlag("--upload-max-mib", "upload_max_bytes", int, "body size of one bulk upload", MiB),
    LimitFlag("--upload-max-files", "upload_max_files", int, "files one bulk upload may carry"),
    LimitFlag("--pty-max-sessions", "pty_max_sessions", int, "live PTY sessions per identity"),
    LimitFlag("--pty-idle-timeout", "pty_idle_timeout", float, "end a PTY session after this long with no client"),
    LimitFlag("--session-max-sessions", "session_max_sessions", int, "process sessions per identity"),
    LimitFlag(
        "--session-max-commands",
        "session_max_commands",
        int,
        "commands a process session keeps, oldest finished forgotten first",
    ),
    LimitFlag(
        "--session-log-budget-mib",
        "session_log_budget_bytes",
        int,
        "command logs kept per identity over its process sessions",
        MiB,
    ),
    LimitFlag("--session-idle-timeout", "session_idle_timeout", float, "delete a process session unused this long"),
    LimitFlag(
        "--follow-max-streams", "follow_max_streams", int, "session-command log streams open at once per identity"
    ),
    LimitFlag("--exec-max-concurrent", "exec_max_concurrent", int, "toolbox commands running at once per identity"),
    LimitFlag(
        "--copy-max-concurrent",
        "copy_max_concurrent",
        int,
        "forks, snapshots and creates from a snapshot running at once per identity",
    ),
    LimitFlag("--volume-max", "volume_max", int, "named volumes per identity"),
    LimitFlag(
        "--header-timeout", "header_timeout", float, "close a connection that sends no complete request head in time"
    ),
    LimitFlag(
        "--body-timeout", "body_timeout", float, "408 for a JSON body slower than this, or an upload pausing longer"
    ),
    LimitFlag(
        "--interpreter-max-contexts",
        "interpreter_max_contexts",
        int,
        "code interpreter contexts per identity, default ones included",
    ),
    LimitFlag(
        "--interpreter-max-output-mib",
        "interpreter_max_output_bytes",
        int,
        "output one code interpreter run may stream",
        MiB,
    ),
    LimitFlag(
        "--preview-max-connections",
        "preview_max_connections",
        int,
        "preview-link requests and WebSockets open at once per identity",
    ),
    LimitFlag("--preview-max-body-mib", "preview_max_body_bytes", int, "request body of one preview request", MiB),
    LimitFlag(
        "--preview-max-response-mib", "preview_max_response_bytes", int, "response one preview request streams", MiB
    ),
    LimitFlag("--preview-timeout", "preview_timeout", float, "how long a sandbox's server may stay silent"),
    LimitFlag("--preview-max-signed", "preview_max_signed", int, "signed preview URLs alive at once per identity"),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one line and exit 2, as the other verbs do: the usage would be ~30 lines of limit flags before it
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sandbench serve", description="Serve local sandboxes over the Daytona API (for the daytona SDK).")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=None, help=f"port, 0-65535 (default {DEFAULT_PORT}; 0 = pick one)")
    p.add_argument(
        "--print-env",
        action="store_true",
        help="print DAYTONA_API_URL=... DAYTONA_API_KEY=... and exit: the running server's URL (its port too, with "
        f"--port 0), else --port's (default {DEFAULT_PORT})",
    )
    p.add_argument(
        "--tokens-file",
        type=Path,
        help="extra 'NAME TOKEN' and 'NAME TOKEN owner=OWNER' lines (default: serve-tokens)",
    )
    p.add_argument(
        "--add-token",
        metavar="NAME",
        help="mint a token acting for --owner under NAME, add it to the tokens file, print it once, and exit",
    )
    p.add_argument("--owner", metavar="OWNER", help="whose sandboxes --add-token's token acts on (default: you)")
    p.add_argument(
        "--reaper-interval",
        type=_positive(float),
        default=30.0,
        metavar="SECONDS",
        help="how often idle sandboxes are auto-stopped and long-stopped ones archived or deleted (default 30)",
    )
    d = ServeLimits()
    g = p.add_argument_group("limits (per request, per identity, per connection)")
    for flag in LIMIT_FLAGS:
        default = getattr(d, flag.field) // flag.scale
        g.add_argument(
            flag.name,
            type=_positive(flag.kind),
            default=default,
            metavar="SECONDS" if flag.kind is float else "N",
            help=f"{flag.help} (default {default:g})",
        )
    return p


def _port(text: str) -> int:
    """A TCP port: bind would raise OverflowError (a traceback) past 65535; argparse says it in one line, exit 2."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use 0-65535 (0 = pick one)")
    return value


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        # nan compares false with everything and inf never fires: a timeout or a limit must be a real number
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value

    return parse


def _limits(args: argparse.Namespace) -> ServeLimits:
    return ServeLimits(
        **{f.field: getattr(args, f.name.removeprefix("--").replace("-", "_")) * f.scale for f in LIMIT_FLAGS}
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


URL_FILE = "serve-url"  # beside serve-token: "URL PID" of the server running on this home, for --print-env


def _running_url() -> str | None:
    """The URL of the sandbench serve running on this home (its `serve-url` file names a live process), else None."""
    try:
        url, pid = (token_dir() / URL_FILE).read_text().split()
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return None
    return url if url.startswith("http://") else None


def _publish_url(url: str) -> Callable[[], None]:
    """Write `serve-url` (for --print-env in another shell); the returned call removes it if it is still ours."""
    path = token_dir() / URL_FILE
    mine = f"{url} {os.getpid()}\n"
    with contextlib.suppress(OSError):
        tmp = path.with_name(f".{URL_FILE}.{os.getpid()}")
        tmp.write_text(mine)
        os.replace(tmp, path)

    def remove() -> None:
        with contextlib.suppress(OSError):
            if path.read_text() == mine:
                path.unlink()

    return remove


def _check_host(host: str) -> str | None:
    """Why `host` cannot be listened on, in plain words (before anything says it is being listened on), or None."""
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        return f"--host {host[:100]!r} is not an IP address or a host name this machine can resolve"
    return None


def serve_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = config_mod.load()
        tokens_file = args.tokens_file or token_dir() / EXTRA_TOKENS_FILE
        if args.owner is not None and args.add_token is None:
            print("sandbench serve: --owner goes with --add-token NAME", file=sys.stderr)
            return 2
        if args.add_token is not None:
            owner = args.owner or cfg.identity
            minted = add_token(tokens_file, args.add_token, owner, cfg.identity)
            print(minted)  # the only time it is shown (stdout: `export DAYTONA_API_KEY=$(sandbench serve ...)`)
            print(
                f"sandbench serve: token for {args.add_token!r} acting for {owner!r} added to {tokens_file}; "
                "a running sandbench serve takes it within a second",
                file=sys.stderr,
            )
            return 0
        token = load_or_create_token()
        if args.print_env:
            running = _running_url() if args.port in (None, 0) else None
            if running is None and args.port == 0:
                print("sandbench serve: --print-env needs a fixed --port or a running server", file=sys.stderr)
                return 2
            port = DEFAULT_PORT if args.port is None else args.port
            url = running or f"http://{_url_host(args.host)}:{port}/api"
            print(f"DAYTONA_API_URL={url} DAYTONA_API_KEY={token}")
            return 0
        extra = load_extra_tokens(tokens_file)
        check_grants(extra, cfg.identity, tokens_file)
    except SandbenchError as exc:
        print(f"sandbench serve: {exc}", file=sys.stderr)
        return exc.exit_code
    bad_host = _check_host(args.host)
    if bad_host is not None:
        print(f"sandbench serve: {bad_host}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    table = TokenTable({**extra, token: cfg.identity}, extra_file=tokens_file, identity=cfg.identity)
    try:
        port = DEFAULT_PORT if args.port is None else args.port
        return asyncio.run(_serve(cfg, table, args.host, port, _limits(args), args.reaper_interval))
    except KeyboardInterrupt:
        return 130


async def _serve(
    cfg: Config,
    tokens: TokenTable,
    host: str,
    port: int,
    limits: ServeLimits,
    reaper_interval: float = 30.0,
) -> int:
    # The server itself (aiohttp, the app, the local provider) is imported only to serve: `--add-token`,
    # `--print-env`, `--help` and a refused flag are processes of their own too (scripts, the suite) and need
    # none of it, which is half a second of CPU each.
    from aiohttp import web

    from services.local.provider import LocalProvider
    from services.server.app import build_app

    try:
        provider = LocalProvider(
            cfg.data_dir, owner_label=cfg.owner_label, isolation_required=cfg.isolation_required, bwrap=cfg.bwrap
        )
    except SandbenchError as exc:
        print(f"sandbench serve: {exc}", file=sys.stderr)
        return exc.exit_code
    app = build_app(provider, cfg, tokens, limits, reaper_interval=reaper_interval)
    # aiohttp's keep-alive timer runs from the connection's start (and from each response) and is not reset by
    # incoming bytes: it bounds a slowloris-style trickle of request headers as well as an idle connection
    # a stop waits SHUTDOWN_GRACE for requests in flight (their WebSockets are closed at once: app.py on_shutdown)
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        keepalive_timeout=limits.header_timeout,
        shutdown_timeout=SHUTDOWN_GRACE,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        print(f"sandbench serve: cannot listen on {host}:{port}: {_bind_failure(exc)}", file=sys.stderr)
        return 1
    bound = port
    sockets = getattr(site._server, "sockets", None) or []
    if sockets:
        bound = sockets[0].getsockname()[1]
    url = f"http://{_url_host(host)}:{bound}/api"
    print(f"sandbench serve: listening on {url}", flush=True)
    if host not in LOOPBACK:
        # reachable from other machines (said once it is so): the bearer token is what protects it
        print(f"sandbench serve: {host} is not loopback; anyone who can reach it needs the token", file=sys.stderr)
    unpublish = _publish_url(url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        unpublish()
    await runner.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(serve_main(sys.argv[1:]))


def _bind_failure(exc: OSError) -> str:
    """Why a listener could not be opened, in plain words (asyncio's text repeats the address as a tuple)."""
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use (choose another with --port, or --port 0 for any free one)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "this machine has no such address (--host)"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges: choose another with --port)"
    return os.strerror(exc.errno) if exc.errno else "the listener could not be opened"
