"""The `sandbench` command line as a user runs it: verbs, --json, exit codes, and `cp` across the boundary."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """`sandbench ARGS` as its own process, as a user runs it (the exit status, the two streams)."""
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args], capture_output=True, input=stdin, timeout=timeout, cwd=REPO
    )


def run_here(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """`sandbench ARGS` through the CLI's own `main()` in this process: the same verbs, output and exit code as
    `run`, without a Python start and the imports (a quarter of a second of CPU, over a second for the daytona
    SDK) per call. For tests about what a verb does, not about the process boundary: each verb family keeps a
    test through `run`. Only from a test without a running event loop (the CLI runs its own); the root logger's
    handlers and level are put back after (the CLI attaches its log file once per process)."""
    from tui.cli import main

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out, err = io.BytesIO(), io.BytesIO()
    streams = [io.TextIOWrapper(b, encoding="utf-8", write_through=True) for b in (io.BytesIO(stdin or b""), out, err)]
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = streams
    try:
        code = main(list(args))
    except SystemExit as exit:  # argparse: --help, a usage error
        code = exit.code if isinstance(exit.code, int) else 1 if exit.code else 0
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)
    return subprocess.CompletedProcess(["sandbench", *args], code, out.getvalue(), err.getvalue())


def test_create_ls_json_and_lifecycle_verbs(sandbench_home: Path) -> None:
    made = run(
        "create",
        "web",
        "--cpu",
        "2",
        "--memory",
        "1.5",
        "--disk",
        "2",
        "--auto-stop",
        "0",
        "--auto-archive",
        "60",
        "--auto-delete",
        "1440",
        "--label",
        "team=core",
        "--label",
        "tier=dev",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    assert info["name"] == "web" and info["state"] == "started"
    assert info["resources"] == {"cpu": 2, "memory_gib": 1.5, "disk_gib": 2.0}
    assert info["labels"]["team"] == "core" and info["auto_stop_minutes"] == 0
    assert (info["auto_archive_minutes"], info["auto_delete_minutes"], info["stopped_at"]) == (60, 1440, None)
    listed = json.loads(run("ls", "--json").stdout)
    assert [i["name"] for i in listed] == ["web"]
    assert set(listed[0]) >= {
        "id",
        "name",
        "state",
        "provider",
        "owner",
        "labels",
        "resources",
        "auto_stop_minutes",
        "auto_archive_minutes",
        "auto_delete_minutes",
        "stopped_at",
        "network",
        "ephemeral",
        "isolation",
        "disk_used_bytes",
        "disk_limit_bytes",
        "disk_limit_soft",
        "created_at",
        "last_activity",
        "error",
    }
    assert run("stop", "web").stdout.strip() == b"web: stopped"
    assert json.loads(run("ls", "--json").stdout)[0]["stopped_at"] is not None
    assert run("archive", "web").stdout.strip() == b"web: archived"
    assert run("start", "web").stdout.strip() == b"web: started"
    table = run("ls").stdout.decode()
    assert table.splitlines()[0].split()[:3] == ["NAME", "STATE", "ISOLATION"] and "web" in table
    assert run("snapshot", "web", "snap1").returncode == 0
    snaps = json.loads(run("snapshots", "--json").stdout)
    assert [s["name"] for s in snaps] == ["snap1"] and snaps[0]["source"] == "web"
    clone = run("create", "clone", "--from-snapshot", "snap1")
    assert clone.returncode == 0, clone.stderr
    refused = run("rm", "web")
    assert refused.returncode == 2 and b"running" in refused.stderr
    assert run("rm", "web", "--force").returncode == 0
    assert [i["name"] for i in json.loads(run("ls", "--json").stdout)] == ["clone"]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("start", "ghost"), 3, b"no sandbox 'ghost'"),
        (("exec", "ghost", "--", "true"), 3, b"no sandbox"),
        (("create", "bad name"), 2, b"invalid sandbox name"),
        (("frobnicate",), 2, b"invalid choice"),
        (("create", "x", "--cpu", "zero"), 2, b"invalid int"),
        (("cp", "a", "b"), 2, b"cp copies between"),
    ],
)
def test_errors_are_one_line_with_documented_exit_codes(
    sandbench_home: Path, args: tuple[str, ...], code: int, words: bytes
) -> None:
    r = run(*args)
    assert r.returncode == code, r.stderr
    assert words in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and b"Traceback" not in r.stderr


def test_duplicate_name_and_bad_config_are_clear(sandbench_home: Path) -> None:
    assert run("create", "dup").returncode == 0
    again = run("create", "dup")
    assert again.returncode == 1 and b"already exists" in again.stderr
    Path(os.environ["SANDBENCH_CONFIG"]).write_text("isolation = 'sometimes'\n")
    bad = run("ls")
    assert bad.returncode == 2 and b"config.toml" in bad.stderr and b"isolation" in bad.stderr


@pytest.mark.bwrap
def test_exec_streams_and_exits_with_the_command_code(sandbench_home: Path) -> None:
    assert run("create", "ex").returncode == 0
    r = run("exec", "ex", "--env", "A=1", "--cwd", ".", "--", "sh", "-c", 'echo "$A"; echo e >&2; exit 9')
    assert (r.returncode, r.stdout, r.stderr) == (9, b"1\n", b"e\n")
    t = run("exec", "ex", "--timeout", "0.5", "--", "sleep", "10")
    assert t.returncode == 124 and b"timed out" in t.stderr
    piped = run("exec", "ex", "--", "tr", "a-z", "A-Z", stdin=b"shout\n")
    assert piped.stdout == b"SHOUT\n"
    stopped = run("stop", "ex")
    assert stopped.returncode == 0
    auto = run("exec", "ex", "--", "echo", "woke")
    assert auto.returncode == 0 and auto.stdout == b"woke\n"


def test_cp_round_trip(sandbench_home: Path, tmp_path: Path) -> None:
    assert run("create", "cpbox").returncode == 0
    src = tmp_path / "in.bin"
    payload = bytes(range(256)) * 100
    src.write_bytes(payload)
    assert run("cp", str(src), "cpbox:copied.bin").returncode == 0
    assert run("cp", "cpbox:copied.bin", "-").stdout == payload
    out = tmp_path / "out"
    out.mkdir()
    assert run("cp", "cpbox:copied.bin", str(out)).returncode == 0
    assert (out / "copied.bin").read_bytes() == payload
    assert run("cp", "-", "cpbox:from-stdin.txt", stdin=b"piped").returncode == 0
    assert run("cp", "cpbox:from-stdin.txt", "-").stdout == b"piped"


@pytest.mark.parametrize(
    "remote",
    ["../outside", "/etc/passwd", "a/../../x", "nul\x00byte", "x" * 300, "link-out/secret", "link-file", "fifo"],
)
def test_cp_refuses_hostile_paths(sandbench_home: Path, tmp_path: Path, remote: str) -> None:
    """Paths that escape, and symlinks/FIFOs planted in the workspace, are refused; host files stay untouched."""
    assert run("create", "hostile").returncode == 0
    outside = tmp_path / "host-dir"
    outside.mkdir()
    secret = outside / "secret"
    secret.write_text("host secret")
    ws = next((sandbench_home / "sandboxes").iterdir()) / "workspace"
    os.symlink(outside, ws / "link-out")  # what sandboxed code can do in its own workspace
    os.symlink(secret, ws / "link-file")
    os.mkfifo(ws / "fifo")
    if "\x00" in remote:
        pytest.skip("argv cannot carry NUL: the OS refuses before we do (covered in test_paths)")
    read = run("cp", f"hostile:{remote}", "-", timeout=20)
    assert read.returncode != 0 and read.stdout == b"" and b"Traceback" not in read.stderr
    write = run("cp", "-", f"hostile:{remote}", stdin=b"overwritten", timeout=20)
    assert write.returncode != 0
    assert secret.read_text() == "host secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
