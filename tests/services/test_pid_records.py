"""The records of a sandbox's outer bwrap pids (`services/local/host_procs.py`), which `ps`, `kill` and `stop` use to
find its processes where no cgroup holds them: a record is written whole or not seen at all. Written in place, a
reader in another process (a `ps` while an `exec` starts) could read it empty, take it for a dead process's and
delete it — and that command's processes were then invisible to `ps` and `kill`, and outside `stop`'s reach."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from services.local import host_procs


def test_a_record_being_written_is_never_read_empty_and_removed(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        host_procs.record_pid(tmp_path, child.pid)
        missed: list[list[int]] = []
        done = threading.Event()

        def rewrite() -> None:  # each exec records its bwrap as it starts: here one record, again and again
            for _ in range(3000):
                host_procs.record_pid(tmp_path, child.pid)
            done.set()

        writer = threading.Thread(target=rewrite)
        writer.start()
        while not done.is_set():
            seen = host_procs.recorded_live_pids(tmp_path)
            if child.pid not in seen:
                missed.append(seen)
        writer.join()
        assert not missed, f"the live process's record was missed {len(missed)} times"
        assert host_procs.recorded_live_pids(tmp_path) == [child.pid]
        assert [p.name for p in tmp_path.iterdir()] == [str(child.pid)]  # no temp file left
    finally:
        child.kill()
        child.wait()
