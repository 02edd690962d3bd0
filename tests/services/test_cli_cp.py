"""`sandbench cp` into folders that do not exist yet (issue 11 §6): `-p` creates them, as the explorer does; without
it the error names the folder and says to use -p. Both directions, the real CLI over a real local sandbox."""

from __future__ import annotations

from pathlib import Path

from tests.services.test_cli import run


def test_cp_into_a_missing_folder_needs_p_and_p_makes_it(sandbench_home: Path, tmp_path: Path) -> None:
    assert run("create", "cpbox").returncode == 0
    src = tmp_path / "in.txt"
    src.write_bytes(b"payload\n")

    refused = run("cp", str(src), "cpbox:deep/er/in.txt")
    assert refused.returncode == 3
    assert b"deep/er: no such folder" in refused.stderr and b"use -p" in refused.stderr
    assert run("cp", "cpbox:deep/er/in.txt", "-").returncode == 3  # nothing was written

    assert run("cp", "-p", str(src), "cpbox:deep/er/in.txt").returncode == 0
    assert run("cp", "cpbox:deep/er/in.txt", "-").stdout == b"payload\n"
    assert run("cp", "--parents", "-", "cpbox:a/b/c.txt", stdin=b"x").returncode == 0
    assert run("cp", "cpbox:a/b/c.txt", "-").stdout == b"x"

    out = tmp_path / "not" / "yet" / "out.txt"
    refused = run("cp", "cpbox:deep/er/in.txt", str(out))
    assert refused.returncode == 3 and b"use -p" in refused.stderr and not out.parent.exists()
    assert run("cp", "-p", "cpbox:deep/er/in.txt", str(out)).returncode == 0
    assert out.read_bytes() == b"payload\n"


def test_help_reads_right() -> None:
    top = run("--help").stdout.decode()
    assert "stop a sandbox and pack its workspace" in top
    assert "the workspace a sandbox" not in top
    assert "-p, --parents" in run("cp", "--help").stdout.decode()
