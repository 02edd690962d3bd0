"""The `sandbench` command line: non-interactive verbs over `SandboxService`, and the entry to the app.

`sandbench` with no verb (or `sandbench open NAME`) starts the Textual app; every other verb runs without importing
Textual. Errors print one line to stderr and exit with the error's code: 2 usage, 3 not found, 4 permission
denied, 5 isolation unavailable, 1 anything else (a word missing or left over adds the verb's usage line after
it); `exec` exits with the command's own code (124 on timeout).
`doctor` exits 0 when a new local sandbox would get `full` isolation and could run, 1 otherwise; `doctor --repair`
exits 0 when the state database was repaired (or needed nothing). Neither opens the service: they must work
on a damaged state database.
Details of unexpected errors go to the log file, never to the screen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import logging.handlers
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from services import config as config_mod
from services import paths
from services.errors import FileNotFound, InvalidInput, PermissionDenied, SandbenchError
from services.models import Resources, SandboxInfo, SandboxSpec, SnapshotInfo
from services.text import safe_text
from services.units import byte_size
from tui.cli_parse import Parser, UsageError, parse_argv

log = logging.getLogger("sandbench")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="sandbench", description="A keyboard-driven terminal workspace for sandboxes.")
    p.add_argument("--provider", choices=("local", "daytona"), help="default: config, or $SANDBENCH_PROVIDER")
    p.add_argument("--config", type=Path, help="config file (default: the platform config dir)")
    sub = p.add_subparsers(dest="verb", parser_class=Parser)

    ls = sub.add_parser("ls", help="list your sandboxes")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--all", action="store_true", help="include others' sandboxes (if show_others is on)")
    ls.add_argument(
        "-v", "--verbose", action="store_true", help="also say on stderr which bwrap binary isolates local sandboxes"
    )

    c = sub.add_parser("create", help="create a sandbox (started)")
    c.add_argument("name", nargs="?", help="the new sandbox's name (default: a generated one)")
    c.add_argument("--cpu", type=int, default=1, help="CPUs (default 1)")
    c.add_argument("--memory", type=float, default=1.0, metavar="GIB", help="memory in GiB (default 1)")
    c.add_argument("--disk", type=float, default=3.0, metavar="GIB", help="disk in GiB (default 3)")
    c.add_argument("--network", action="store_true", help="user-mode networking (off by default)")
    c.add_argument(
        "--auto-stop", type=int, default=15, metavar="MIN", help="stopped after idle this long (default 15; 0 = never)"
    )
    c.add_argument("--ephemeral", action="store_true", help="deleted when stopped (= --auto-delete 0)")
    c.add_argument(
        "--auto-archive",
        type=int,
        default=7 * 24 * 60,
        metavar="MIN",
        help="archived after stopped this long (0 = 30 days)",
    )
    c.add_argument(
        "--auto-delete", type=int, default=-1, metavar="MIN", help="deleted after stopped this long (-1 = never)"
    )
    c.add_argument("--label", action="append", default=[], metavar="K=V", help="a label (repeat for more)")
    c.add_argument("--from-snapshot", metavar="SNAP", help="start with the files of this snapshot")
    c.add_argument("--json", action="store_true")

    for verb, text in (
        ("start", "start a sandbox"),
        ("stop", "stop a sandbox"),
        ("archive", "stop a sandbox and pack its workspace"),
    ):
        v = sub.add_parser(verb, help=text)
        v.add_argument("name")
        v.add_argument("--json", action="store_true")
    rm = sub.add_parser("rm", help="delete a sandbox")
    rm.add_argument("name")
    rm.add_argument("--force", action="store_true", help="also when it is running")

    s = sub.add_parser("snapshot", help="snapshot a sandbox's files under a name")
    s.add_argument("name")
    s.add_argument("snapshot", help="the snapshot's name")
    s.add_argument("--json", action="store_true")
    ss = sub.add_parser("snapshots", help="list your snapshots")
    ss.add_argument("--json", action="store_true")

    from tui import cli_checkpoints, cli_metrics, cli_procs

    cli_checkpoints.add_parsers(sub)
    cli_metrics.add_parsers(sub)
    cli_procs.add_parsers(sub)

    e = sub.add_parser(
        "exec",
        help="run a command inside a sandbox (auto-starts it)",
        # argparse would say `name [COMMAND ...]`: the command is not optional, and it goes after `--`
        usage="%(prog)s [-h] [--cwd CWD] [--env K=V] [--timeout SECONDS] name -- COMMAND [ARG ...]",
    )
    e.add_argument("name")
    e.add_argument("--cwd", default="", help="the working directory, inside the sandbox (default: its home)")
    e.add_argument("--env", action="append", default=[], metavar="K=V", help="an environment variable (repeat)")
    e.add_argument("--timeout", type=float, metavar="SECONDS", help="end the command after this long (exit 124)")
    # default: not a required word (argparse says a bare `*` one is missing when the name is); `exec` checks it
    e.add_argument("argv", nargs="*", default=[], metavar="COMMAND", help="the command, after --")

    cp = sub.add_parser("cp", help="copy a file: NAME:PATH to/from a local path or - (stdin/stdout)")
    cp.add_argument("src", help="NAME:PATH, a local path, or - for stdin")
    cp.add_argument("dst", help="NAME:PATH, a local path, or - for stdout")
    cp.add_argument("-p", "--parents", action="store_true", help="create missing folders on the way to dst")

    o = sub.add_parser("open", help="open the app on a sandbox")
    o.add_argument("name")

    dr = sub.add_parser("doctor", help="check this machine: the isolation new sandboxes get, and how to fix it")
    dr.add_argument("--json", action="store_true")
    dr.add_argument(
        "--repair",
        action="store_true",
        help="move a damaged state database aside and rebuild it from the sandboxes folder (deletes nothing)",
    )

    sv = sub.add_parser("serve", help="serve local sandboxes over the Daytona API (see README)", add_help=False)
    sv.add_argument("serve_args", nargs=argparse.REMAINDER, help="see 'sandbench serve --help'")
    _describe_common(sub)
    return p


# Options many verbs share, described once. `--message` is the checkpoint verbs' (tui/cli_checkpoints.py),
# described here until that module says so itself.
COMMON_HELP = {
    "--json": "print JSON (for scripts) instead of text",
    "--message": "the checkpoint's message",
    "name": "the sandbox's name",
}


def _describe_common(sub: Any) -> None:
    """Every verb's options say what they do in --help: the shared ones get their words from COMMON_HELP."""
    for verb_parser in sub.choices.values():
        for action in verb_parser._actions:
            key = action.option_strings[-1] if action.option_strings else action.dest
            if action.help is None and key in COMMON_HELP:
                action.help = COMMON_HELP[key]


# -- output ---------------------------------------------------------------------------------------------------
def info_json(i: SandboxInfo) -> dict[str, Any]:
    return {
        "id": i.id,
        "name": i.name,
        "state": str(i.state),
        "provider": i.provider,
        "owner": i.owner,
        "labels": dict(i.labels),
        "resources": {"cpu": i.resources.cpu, "memory_gib": i.resources.memory_gib, "disk_gib": i.resources.disk_gib},
        "auto_stop_minutes": i.auto_stop_minutes,
        "auto_archive_minutes": i.auto_archive_minutes,
        "auto_delete_minutes": i.auto_delete_minutes,
        "stopped_at": i.stopped_at.isoformat() if i.stopped_at is not None else None,
        "network": i.network,
        "ephemeral": i.ephemeral,
        "isolation": str(i.isolation),
        "bwrap": None
        if i.bwrap is None
        else {
            "path": i.bwrap.path,
            "source": i.bwrap.source,
            "version": i.bwrap.version,
            "copied_from": i.bwrap.copied_from,
        },
        "disk_used_bytes": i.disk_used_bytes,
        "disk_limit_bytes": i.resources.disk_bytes,
        "disk_limit_soft": i.disk_limit_soft,
        "created_at": i.created_at.isoformat(),
        "last_activity": i.last_activity.isoformat(),
        "error": i.error,
    }


def snapshot_json(s: SnapshotInfo) -> dict[str, Any]:
    return {
        "name": s.name,
        "provider": s.provider,
        "source": s.source,
        "created_at": s.created_at.isoformat(),
        "size_bytes": s.size_bytes,
    }


def human_size(n: int | None) -> str:
    return "-" if n is None else byte_size(n)


def print_table(infos: Sequence[SandboxInfo]) -> None:
    rows = [("NAME", "STATE", "ISOLATION", "CPU", "MEM", "DISK USED/LIMIT", "NET", "AUTO-STOP", "ID")]
    for i in infos:
        rows.append(
            (
                safe_text(i.name),
                str(i.state),
                str(i.isolation),
                str(i.resources.cpu),
                f"{i.resources.memory_gib:g}G",
                f"{human_size(i.disk_used_bytes)}/{i.resources.disk_gib:g}G" + (" (soft)" if i.disk_limit_soft else ""),
                "on" if i.network else "off",
                f"{i.auto_stop_minutes}m" if i.auto_stop_minutes else "never",
                i.id,
            )
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def print_isolation_note(infos: Sequence[SandboxInfo]) -> None:
    """`ls -v`: which bwrap binary runs the local sandboxes (one for all of them), on stderr: stdout is the table
    alone (`| awk`), and a host path is not for ordinary output."""
    via = sorted({f"{i.bwrap.label} at {safe_text(i.bwrap.path)}" for i in infos if i.bwrap is not None})
    if via:
        print(f"local isolation by {', '.join(via)}", file=sys.stderr)


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} must be K=V, got {item!r}")
        out[key] = value
    return out


# -- verbs ----------------------------------------------------------------------------------------------------
def run_doctor(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    if args.repair:
        return _repair(cfg.data_dir, as_json=args.json)
    from services.doctor import diagnose

    report = diagnose(cfg.data_dir, cfg.bwrap)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        # on a terminal, wrapped at its width between words and path components (its own wrap cuts mid-name); a
        # pipe gets one line per finding, for grep
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print("\n".join(report.lines_at(width)))
    return 0 if report.ok else 1


def _repair(data_dir: Path, *, as_json: bool) -> int:
    from services.local.repair import RepairResult, repair

    result = repair(data_dir) if (data_dir / "sandboxes").is_dir() else RepairResult()
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    if result.moved_to is not None:
        print(f"moved the damaged state database to {result.moved_to}")
    if result.sandboxes:
        print(f"rebuilt {len(result.sandboxes)} sandbox(es): {', '.join(safe_text(n) for n in result.sandboxes)}")
    if result.snapshots:
        print(f"rebuilt {len(result.snapshots)} snapshot(s): {', '.join(safe_text(n) for n in result.snapshots)}")
    for line in result.skipped:
        print(f"left alone: {safe_text(line)}")
    if result.moved_to is None and not result.sandboxes and not result.snapshots:
        print("the state database is sound and lists every sandbox: nothing to repair")
    return 0


async def run_verb(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from services.factory import make_service

    service = make_service(cfg)
    try:
        return await _dispatch(args, service)
    finally:
        await service.close()


async def _must_exist(cfg: config_mod.Config, name: str) -> None:
    """Raise `SandboxNotFound` (`no sandbox 'NAME'`, exit 3) unless `name` names one of the user's sandboxes."""
    from services.factory import make_service

    service = make_service(cfg)
    try:
        await service.resolve(name)
    finally:
        await service.close()


async def _dispatch(args: argparse.Namespace, svc: Any) -> int:
    verb = args.verb
    if verb == "ls":
        infos = await svc.list_sandboxes(include_others=args.all, usage=True)
        if args.json:
            print(json.dumps([info_json(i) for i in infos], indent=2))
        else:
            print_table(infos)
        if args.verbose:
            print_isolation_note(infos)
        return 0
    if verb == "create":
        name = args.name or _generated_name()
        spec = SandboxSpec(
            name=name,
            resources=Resources(cpu=args.cpu, memory_gib=args.memory, disk_gib=args.disk),
            labels=_pairs(args.label, "--label"),
            auto_stop_minutes=args.auto_stop,
            network=args.network,
            ephemeral=args.ephemeral,
            snapshot=args.from_snapshot,
            auto_archive_minutes=args.auto_archive,
            auto_delete_minutes=args.auto_delete,
        )
        for flag, value, fine, want in (
            ("--cpu", args.cpu, args.cpu >= 1, "1 or more"),
            ("--memory", args.memory, args.memory > 0, "more than 0 (GiB)"),
            ("--disk", args.disk, args.disk > 0, "more than 0 (GiB)"),
            ("--auto-stop", args.auto_stop, args.auto_stop >= 0, "0 (never) or more minutes"),
            ("--auto-archive", args.auto_archive, args.auto_archive >= 0, "0 (30 days) or more minutes"),
        ):
            if not fine:
                raise UsageError(f"{flag} {value:g}: it must be {want}")
        if svc.provider.name == "local":  # a cgroup cap above what the host has means nothing (Daytona sizes its own)
            from services.host_limits import HostLimits

            too_much = HostLimits.read(svc.config.data_dir).check(spec.resources)
            if too_much is not None:
                raise UsageError(f"--{too_much[0]}: {too_much[1]}")
        info = await svc.create(spec)
        print(json.dumps(info_json(info), indent=2) if args.json else f"created {info.name} ({info.id})")
        return 0
    if verb == "snapshots":
        snaps = await svc.list_snapshots()
        if args.json:
            print(json.dumps([snapshot_json(s) for s in snaps], indent=2))
        else:
            for s in snaps:
                print(f"{safe_text(s.name)}\tfrom {safe_text(s.source or '-')}\t{human_size(s.size_bytes)}")
        return 0
    if verb == "cp":
        return await _copy(svc, args.src, args.dst, parents=args.parents)

    info = await svc.resolve(args.name)
    if (verb_run := getattr(args, "verb_run", None)) is not None:  # a verb of its own module (cli_metrics)
        return int(await verb_run(args, svc, info))
    if verb in ("start", "stop", "archive"):
        result = await getattr(svc, verb)(info.id)
        print(json.dumps(info_json(result), indent=2) if args.json else f"{result.name}: {result.state}")
        return 0
    if verb == "rm":
        from services.models import SandboxState

        if info.state is SandboxState.STARTED and not args.force:
            raise UsageError(f"{info.name} is running; stop it first or pass --force")
        await svc.delete(info.id)
        print(f"deleted {info.name}")
        return 0
    if verb == "snapshot":
        snap = await svc.snapshot(info.id, args.snapshot)
        print(json.dumps(snapshot_json(snap), indent=2) if args.json else f"snapshot {snap.name} of {info.name}")
        return 0
    from tui import cli_checkpoints

    if verb in cli_checkpoints.VERBS:
        return await cli_checkpoints.dispatch(args, svc, info)
    if verb == "exec":
        argv = list(args.argv)  # never empty: parse_argv refuses that with exec's usage
        stdin = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
        out, err = sys.stdout.buffer, sys.stderr.buffer

        def on_output(stream: str, chunk: bytes) -> None:
            target = out if stream == "stdout" else err
            target.write(chunk)
            target.flush()

        result = await svc.exec(
            info.id,
            argv,
            cwd=args.cwd,
            env=_pairs(args.env, "--env"),
            timeout=args.timeout,
            stdin=stdin,
            on_output=on_output,
        )
        if result.timed_out:
            print(f"sandbench: command timed out after {args.timeout:g} s", file=sys.stderr)
        return int(result.exit_code)
    raise UsageError(f"unknown verb {verb!r}")


def _generated_name() -> str:
    import secrets

    return f"sandbox-{secrets.token_hex(3)}"


def _split_remote(arg: str) -> tuple[str, str] | None:
    if arg == "-" or arg.startswith(("/", "./", "../", "~")):
        return None
    name, sep, path = arg.partition(":")
    if not sep or not name or "/" in name:
        return None
    return name, path


async def _copy(svc: Any, src: str, dst: str, *, parents: bool = False) -> int:
    """`parents` (-p) creates the folders on the way to `dst`, as the explorer does for `a/b/name`; without it a
    missing folder is an error that says so."""
    rs, rd = _split_remote(src), _split_remote(dst)
    if (rs is None) == (rd is None):
        raise UsageError("cp copies between a sandbox (NAME:PATH) and a local path or '-'")
    if rs is not None:
        info = await svc.resolve(rs[0])
        data = (await svc.read_file(info.id, rs[1], limit=1024**3)).data
        if dst == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            with _local(dst):
                _write_local(Path(dst), Path(rs[1]).name, data, parents=parents)
        return 0
    assert rd is not None
    if src == "-":
        if rd[1].endswith("/") or not rd[1]:
            raise UsageError(f"{safe_text(dst)} names a folder and stdin has no file name: give one ({rd[0]}:PATH)")
        data = sys.stdin.buffer.read()
    else:
        with _local(src):
            data = Path(src).read_bytes()
    info = await svc.resolve(rd[0])
    path = rd[1]
    if src != "-" and (not path or path.endswith("/") or await _remote_is_dir(svc, info.id, path)):
        path = f"{path.rstrip('/')}/{Path(src).name}" if path.rstrip("/") else Path(src).name
    folder = paths.parent(paths.normalize(path))
    if parents and folder:
        await svc.mkdir(info.id, folder, parents=True)
    try:
        await svc.write_file(info.id, path, data)
    except FileNotFound:
        if folder and not await _remote_exists(svc, info.id, folder):
            raise FileNotFound(
                f"{safe_text(folder)}: no such folder in {safe_text(info.name)} (use -p to create it)"
            ) from None
        raise
    return 0


def _write_local(target: Path, name: str, data: bytes, *, parents: bool) -> None:
    """`data` into `target` (into `target/name` when it is a folder), atomically: a temp file beside it, renamed."""
    if target.is_dir():
        target = target / name
    if not target.parent.is_dir():
        if not parents:
            raise FileNotFound(f"{target.parent}: no such folder (use -p to create it)")
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.sandbench-tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _local(path: str) -> Iterator[None]:
    """A local file's OSError said as what it means for `path` (not "unexpected error")."""
    try:
        yield
    except FileNotFoundError:
        raise FileNotFound(f"{path}: no such file or folder") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder: cp copies one file") from None
    except PermissionError:
        raise PermissionDenied(f"{path}: permission denied") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror or type(exc).__name__}") from None


async def _remote_is_dir(svc: Any, sandbox_id: str, path: str) -> bool:
    try:
        return bool((await svc.stat(sandbox_id, path)).is_dir)
    except FileNotFound:
        return False


async def _remote_exists(svc: Any, sandbox_id: str, path: str) -> bool:
    try:
        await svc.stat(sandbox_id, path)
    except FileNotFound:
        return False
    return True


def setup_logging(cfg: config_mod.Config) -> None:
    root = logging.getLogger()
    if any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        return
    try:
        cfg.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            cfg.log_file, maxBytes=2_000_000, backupCount=2, encoding="utf-8"
        )
        os.chmod(cfg.log_file, 0o600)
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _serve(argv: list[str]) -> int:
    try:
        from services.server.cli import serve_main
    except ImportError as exc:
        raise SandbenchError("'sandbench serve' is not available in this version") from exc
    return serve_main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        if args_list[:1] == ["serve"]:
            # serve has its own options parser; argparse would take its options for ours
            return _serve(args_list[1:])
        args = parse_argv(parser, args_list)
        cfg = config_mod.load(args.config, provider=args.provider)
        setup_logging(cfg)
        if args.verb == "serve":
            return _serve(list(args.serve_args))
        if args.verb == "doctor":
            return run_doctor(args, cfg)
        if args.verb in (None, "open", "app"):
            from tui.app import run_app

            if args.verb == "open":
                # as every other verb does: a name that is not there is one line and exit 3, not the app's
                # screen with a "Not found" toast
                asyncio.run(_must_exist(cfg, args.name))

            return run_app(cfg, open_name=getattr(args, "name", None))
        return asyncio.run(run_verb(args, cfg))
    except SandbenchError as exc:
        print(f"sandbench: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except Exception:
        _log_unexpected(args_list)
        print("sandbench: unexpected error (details in the log file)", file=sys.stderr)
        return 1


def _log_unexpected(args_list: list[str]) -> None:
    """The traceback into the log file, even when the failure came before logging was set up (parsing, loading the
    config): never onto the terminal, where logging's last-resort handler would print it."""
    root = logging.getLogger()
    if not root.handlers:
        with contextlib.suppress(Exception):
            setup_logging(config_mod.load(None))
    if not root.handlers:
        root.addHandler(logging.NullHandler())  # no log file can be had: the traceback is dropped, not printed
    log.exception("unexpected error running sandbench %s", args_list[:1])


if __name__ == "__main__":
    sys.exit(main())
