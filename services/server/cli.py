"""`sandbench serve`: run the Daytona-compatible server for local sandboxes.

    sandbench serve [--host 127.0.0.1] [--port 3986] [--print-env] [--tokens-file PATH]

It listens on 127.0.0.1 unless another interface is named explicitly; a bearer token is required on every route
either way (generated on first run, mode 600). `--print-env` prints the two variables the `daytona` SDK needs —
the only place the token is ever shown. With `--port 0` the kernel picks a port; the first line on stdout says
which (`listening on http://HOST:PORT/api`), without the token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from services.errors import SandbenchError

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
    return p


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
        return asyncio.run(_serve(cfg, tokens, args.host, args.port))
    except KeyboardInterrupt:
        return 130


async def _serve(cfg: object, tokens: dict[str, str], host: str, port: int) -> int:
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
    app = build_app(provider, cfg, TokenTable(tokens))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
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
