"""The host's view of a sandbox's processes, read from /proc: a process's start time (which tells a recorded pid
from a reused one), the live processes of a uid, and killing them all (a dedicated sandbox uid's processes are all
the sandbox's), and the records of the outer bwrap pids a launcher started, kept in the run directory so
`stop` works from any process."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)


def proc_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on; the command name (field 2) may hold spaces and parentheses."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def proc_starttime(pid: int) -> str | None:
    fields = proc_fields(pid)
    # a zombie has finished: it holds nothing and runs nothing, it only waits for its reaper
    if fields is None or len(fields) <= 19 or fields[0] == "Z":
        return None
    return fields[19]


def pids_of_uid(uid: int | None) -> list[int]:
    """Live (non-zombie) processes of a uid. Zombies re-parented to a slow reaper would otherwise make `stop`
    wait for someone else's housekeeping."""
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry.path).st_uid != uid:
                continue
        except OSError:
            continue
        fields = proc_fields(int(entry.name))
        if fields and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def kill_uid(uid: int) -> None:
    for pid in pids_of_uid(uid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def record_pid(folder: Path, pid: int) -> Path | None:
    """Record `pid` (with its start time) in `folder`, so any process of ours can later tell it is still that
    process (`recorded_live_pids`); the file, or None when it could not be written (logged)."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        f = folder / str(pid)
        # whole or not at all: a reader that found it empty would take it for a dead process's and remove it
        tmp = folder / f".{pid}.{os.getpid()}.tmp"
        tmp.write_text(proc_starttime(pid) or "")
        os.replace(tmp, f)
        return f
    except OSError:
        log.exception("could not record pid %s in %s", pid, folder.name)
        with contextlib.suppress(OSError):
            (folder / f".{pid}.{os.getpid()}.tmp").unlink(missing_ok=True)
        return None


def recorded_live_pids(folder: Path) -> list[int]:
    """The pids recorded in `folder` that still run the process recorded (a record of one gone is removed)."""
    pids = []
    for f in folder.glob("*") if folder.is_dir() else []:
        try:
            pid = int(f.name)
            expected = f.read_text()
        except (ValueError, OSError):
            continue
        if proc_starttime(pid) == expected and expected:
            pids.append(pid)
        else:
            with contextlib.suppress(OSError):
                f.unlink()
    return pids
