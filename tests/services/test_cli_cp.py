"""`sandbench cp` where its source or destination is a folder or missing, as `cp` users expect: a local file copied
onto a sandbox folder lands inside it, stdin onto a folder is refused (stdin has no name), and a local file that is
missing or a folder is said plainly, with the not-found exit code, never "unexpected error"."""

from __future__ import annotations

from pathlib import Path

from tests.services.test_cli import run_here


def test_cp_onto_a_folder_and_from_missing_or_folder_sources(sandbench_home: Path, tmp_path: Path) -> None:
    assert run_here("create", "cpdir").returncode == 0
    assert run_here("exec", "cpdir", "--", "mkdir", "d").returncode == 0
    local = tmp_path / "notes.txt"
    local.write_bytes(b"notes")

    assert run_here("cp", str(local), "cpdir:d").returncode == 0  # an existing folder, no trailing slash
    assert run_here("cp", "cpdir:d/notes.txt", "-").stdout == b"notes"

    piped = run_here("cp", "-", "cpdir:newdir/", stdin=b"piped")
    assert piped.returncode == 2
    assert b"names a folder and stdin has no file name" in piped.stderr
    listing = run_here("exec", "cpdir", "--", "ls", "-A").stdout.split()
    assert b"newdir" not in listing  # no file named after the folder

    missing = run_here("cp", str(tmp_path / "nope.txt"), "cpdir:x")
    assert (missing.returncode, missing.stderr.strip()) == (
        3,
        f"sandbench: {tmp_path}/nope.txt: no such file or folder".encode(),
    )
    folder = run_here("cp", str(tmp_path), "cpdir:x")
    assert folder.returncode == 2 and b"is a folder: cp copies one file" in folder.stderr
    assert b"unexpected" not in missing.stderr + folder.stderr

    out = tmp_path / "out"
    out.mkdir()
    assert run_here("cp", "cpdir:d/notes.txt", str(out)).returncode == 0  # into a local folder
    assert (out / "notes.txt").read_bytes() == b"notes"
    assert [p.name for p in out.iterdir()] == ["notes.txt"]  # no temp file left
