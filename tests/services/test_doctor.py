"""`sandbench doctor` and `doctor --repair` as a user runs them: the real CLI over a real data directory.

A damaged state database must say so (naming the file, offering the repair) instead of "unexpected error", and
the repair must bring back every sandbox with its name, owner and spec, and never lose a workspace file. The steps
that only make the sandboxes to damage and read them back go through the CLI's `main()` in this process
(`run_here`); the damaged `ls`, the app's start, `doctor` and `doctor --repair` are real `sandbench` processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.test_cli import REPO, run, run_here


def _damage(db: Path, how: str) -> None:
    if how == "truncated":
        os.truncate(db, db.stat().st_size // 3)
    elif how == "garbage":
        with open(db, "r+b") as f:
            f.write(os.urandom(4096))
    else:  # emptied: sqlite would take it for a new database
        os.truncate(db, 0)


@pytest.mark.bwrap
@pytest.mark.parametrize("how", ["truncated", "garbage", "emptied"])
def test_damaged_state_db_is_named_and_repair_brings_every_sandbox_back(sandbench_home: Path, how: str) -> None:
    made = run_here("create", "alpha", "--cpu", "2", "--memory", "1.5", "--label", "team=core", "--auto-stop", "0")
    assert made.returncode == 0, made.stderr
    assert run_here("create", "beta", "--disk", "2").returncode == 0
    assert run_here("exec", "alpha", "--", "sh", "-c", "echo kept > notes.txt").returncode == 0
    assert run_here("snapshot", "alpha", "snap1").returncode == 0
    assert run_here("stop", "alpha").returncode == 0
    before = {i["name"]: i for i in json.loads(run_here("ls", "--json").stdout)}
    db = sandbench_home / "state.db"
    _damage(db, how)

    broken = run("ls")
    assert broken.returncode == 1
    line = broken.stderr.decode()
    assert len(line.strip().splitlines()) == 1 and "unexpected error" not in line and "Traceback" not in line
    assert f"state database {db} is damaged" in line and "sandbench doctor --repair" in line
    if how == "garbage":  # the app says the same, in one line, before it would draw anything
        app = run(timeout=30)
        assert app.returncode == 1 and app.stderr.decode().strip() == line.strip()
    diag = run("doctor", "--json")
    assert diag.returncode == 1
    state = next(c for c in json.loads(diag.stdout)["checks"] if c["id"] == "state_db")
    assert state["status"] == "fail" and state["fix"] == "sandbench doctor --repair"

    fixed = run("doctor", "--repair")
    assert fixed.returncode == 0, fixed.stderr
    assert b"moved the damaged state database to" in fixed.stdout and b"rebuilt 2 sandbox(es)" in fixed.stdout
    assert len(list(sandbench_home.glob("state.db.damaged-*"))) >= 1  # kept, not deleted

    after = {i["name"]: i for i in json.loads(run_here("ls", "--json").stdout)}
    assert sorted(after) == ["alpha", "beta"]
    for name, old in before.items():
        new = after[name]
        for key in ("id", "owner", "labels", "resources", "auto_stop_minutes", "network", "ephemeral", "created_at"):
            assert new[key] == old[key], (name, key)
    assert after["alpha"]["state"] == "stopped"
    assert [s["name"] for s in json.loads(run_here("snapshots", "--json").stdout)] == ["snap1"]
    got = run_here("exec", "alpha", "--", "cat", "notes.txt")
    assert (got.returncode, got.stdout) == (0, b"kept\n")
    again = run("doctor", "--repair")
    assert again.returncode == 0 and b"nothing to repair" in again.stdout


def test_repair_refuses_while_the_database_is_open_elsewhere(sandbench_home: Path) -> None:
    assert run("create", "busy").returncode == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; f = open(sys.argv[1], 'rb'); print('ok', flush=True); time.sleep(60)",
            str(sandbench_home / "state.db"),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"ok\n"
        r = run("doctor", "--repair")
        assert r.returncode == 1 and f"process {holder.pid}".encode() in r.stderr and b"close the app" in r.stderr
    finally:
        holder.kill()
        holder.wait()
    assert (sandbench_home / "state.db").exists() and not list(sandbench_home.glob("state.db.damaged-*"))


def test_doctor_reports_the_level_a_new_sandbox_gets(sandbench_home: Path) -> None:
    r = run("doctor", "--json")
    report = json.loads(r.stdout)
    assert r.returncode == (0 if report["ok"] else 1)
    assert set(report) >= {"ok", "isolation", "why", "runnable", "bwrap", "data_dir", "checks"}
    assert set(report["bwrap"]) == {"path", "source", "version", "works"}
    ids = [c["id"] for c in report["checks"]]
    assert ids == ["userns", "bwrap", "cgroup", "netstack", "tun", "data_dir", "state_db"]
    for c in report["checks"]:
        assert c["status"] in ("ok", "warn", "fail") and "\n" not in c["summary"]
        assert c["status"] == "ok" or c["fix"], c  # every shortfall comes with its fix
    made = json.loads(run("create", "probe", "--json").stdout)
    assert made["isolation"] == report["isolation"]
    text = run("doctor")
    assert text.returncode == r.returncode
    assert text.stdout.decode().splitlines()[0].startswith(f"isolation would be {report['isolation']}")


@pytest.mark.skipif(os.geteuid() != 0, reason="the trap is the sandbox uid's, which exists only in root mode")
def test_doctor_under_a_0700_folder_says_sandboxes_run(sandbench_home: Path) -> None:
    """A data dir under a folder the sandbox uids cannot traverse (mktemp -d, /root) used to be a trap; the
    launcher now binds the workspace on a mount point of its own, so the doctor must not report one."""
    base = sandbench_home.parent
    os.chmod(base, 0o700)
    r = run("doctor", "--json")
    report = json.loads(r.stdout)
    assert report["runnable"] is True, report
    check = next(c for c in report["checks"] if c["id"] == "data_dir")
    assert check["status"] == "ok" and any("NOT traversable" in d for d in check["details"])


def test_doctor_names_a_missing_bwrap_and_the_fix(sandbench_home: Path) -> None:
    missing = str(sandbench_home.parent / "no-such-bwrap")
    r = subprocess.run(
        [sys.executable, "-m", "tui.cli", "doctor", "--json"],
        capture_output=True,
        cwd=REPO,
        env={**os.environ, "SANDBENCH_BWRAP": missing},
        timeout=60,
    )
    report = json.loads(r.stdout)
    assert r.returncode == 1 and report["ok"] is False and report["isolation"] == "none"
    check = next(c for c in report["checks"] if c["id"] == "bwrap")
    assert check["status"] == "fail" and "SANDBENCH_BWRAP" in check["summary"]
    assert check["fix"] and "auto" in check["fix"]
    assert report["why"] == check["summary"]


def test_doctor_never_prints_secrets(sandbench_home: Path) -> None:
    secret = "dtn_" + "s3cr3t" * 4
    Path(os.environ["SANDBENCH_CONFIG"]).write_text(f'git_token = "{secret}"\n[daytona]\napi_key = "{secret}"\n')
    env = {**os.environ, "DAYTONA_API_KEY": secret}
    r = subprocess.run(
        [sys.executable, "-m", "tui.cli", "doctor", "--json"], capture_output=True, cwd=REPO, env=env, timeout=60
    )
    assert r.returncode in (0, 1) and json.loads(r.stdout)["checks"]
    assert secret.encode() not in r.stdout + r.stderr


LONG_PARTS = ("home-with-a-rather-long-folder-name", "and-another-quite-long-folder-name-here", "sandbench-data")


def _on_a_terminal(argv: list[str], env: dict[str, str], cols: int, rows: int = 50) -> str:
    """What `argv` prints on a real terminal (a PTY) `cols` wide: the program sees a tty and asks its size."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO, close_fds=True)
    os.close(slave)
    out = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the program has exited and closed its side
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    proc.wait(60)
    return out.decode("utf-8", "replace").replace("\r\n", "\n")


def test_doctor_on_an_80_column_terminal_wraps_a_long_path_between_names(sandbench_home: Path) -> None:
    """A data folder path longer than the terminal is wrapped after a `/` or at a space, never inside a folder's
    name (the terminal's own wrap cut it anywhere); a pipe still gets one line per finding."""
    home = sandbench_home.parent.joinpath(*LONG_PARTS)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # the size is the terminal's
    env["SANDBENCH_HOME"] = str(home)
    text = _on_a_terminal([sys.executable, "-m", "tui.cli", "doctor"], env, cols=80)
    lines = text.splitlines()
    assert lines[0].startswith("isolation would be"), text
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    shown = [line for line in lines if "home-with" in line or "and-another" in line or "sandbench-data" in line]
    assert shown, text
    for part in LONG_PARTS:  # each name whole on some line: a wrap fell between names
        assert any(part in line for line in lines), (part, shown)
    piped = subprocess.run([sys.executable, "-m", "tui.cli", "doctor"], capture_output=True, env=env, cwd=REPO)
    assert any(line.startswith("[") and str(home) in line for line in piped.stdout.decode().splitlines())
