"""Conformance checks, files: upload/download (one, many, streamed), folders, listing, info, move, delete,
permissions, find (content), search (names) and replace."""

from __future__ import annotations

import io

from tests.conformance.client import Ctx, check

HOME = "/home/sandbox"


@check(
    "sandbox.fs.upload_file",
    "sandbox.fs.upload_files",
    "sandbox.fs.download_file",
    "sandbox.fs.download_files",
    "sandbox.fs.create_folder",
    "sandbox.fs.list_files",
    "sandbox.fs.get_file_info",
    "sandbox.fs.move_files",
    "sandbox.fs.delete_file",
    notes={
        "sandbox.fs.upload_file": "under /home/sandbox (the workspace, the only folder that persists); a path "
        "outside it is a 400 that says so",
    },
)
def upload_download(c: Ctx) -> None:
    from daytona import DaytonaNotFoundError, FileDownloadRequest, FileUpload

    sb, d = c.sandbox(), c.dir
    c.do(sb.fs.create_folder(f"{HOME}/{d}/src", "755"))
    c.do(sb.fs.upload_file(b"print('hi')\n", f"{HOME}/{d}/src/main.py"))
    c.do(sb.fs.upload_files([FileUpload(b"one", f"{d}/deep/a.txt"), FileUpload(b"two", f"{d}/deep/b.txt")]))
    assert c.do(sb.fs.download_file(f"{d}/src/main.py")) == b"print('hi')\n"
    got = c.do(sb.fs.download_files([FileDownloadRequest(f"{d}/deep/a.txt"), FileDownloadRequest(f"{d}/nope")]))
    by_source = {r.source: r for r in got}
    assert by_source[f"{d}/deep/a.txt"].result == b"one" and by_source[f"{d}/deep/a.txt"].error is None
    assert by_source[f"{d}/nope"].error
    listing = {f.name: f for f in c.do(sb.fs.list_files(f"{HOME}/{d}"))}
    assert set(listing) == {"src", "deep"} and listing["src"].is_dir
    info = c.do(sb.fs.get_file_info(f"{d}/src/main.py"))
    assert (info.name, info.size, info.is_dir) == ("main.py", 12, False)
    c.do(sb.fs.move_files(f"{d}/src/main.py", f"{d}/src/app.py"))
    c.raises(DaytonaNotFoundError, lambda: c.do(sb.fs.download_file(f"{d}/src/main.py")))
    c.do(sb.fs.delete_file(f"{d}/deep", recursive=True))
    assert {f.name for f in c.do(sb.fs.list_files(d))} == {"src"}
    c.do(sb.fs.delete_file(f"{d}/src/app.py"))
    assert c.do(sb.fs.list_files(f"{d}/src")) == []


@check("sandbox.fs.upload_file_stream", "sandbox.fs.download_file_stream")
def streams(c: Ctx) -> None:
    sb, d = c.sandbox(), c.dir
    blob = bytes(range(256)) * 4096  # 1 MiB, every byte value
    c.do(sb.fs.upload_file_stream(io.BytesIO(blob), f"{d}/blob.bin"))
    chunks = c.items(c.do(sb.fs.download_file_stream(f"{d}/blob.bin")))
    assert b"".join(chunks) == blob


@check(
    "sandbox.fs.set_file_permissions",
    notes={"sandbox.fs.set_file_permissions": "mode only: owner and group are the sandbox user's"},
)
def permissions(c: Ctx) -> None:
    sb, d = c.sandbox(), c.dir
    c.do(sb.fs.upload_file(b"#!/bin/sh\necho ran\n", f"{d}/run.sh"))
    c.do(sb.fs.set_file_permissions(f"{d}/run.sh", mode="755"))
    assert c.sh(sb, f"stat -c %a {d}/run.sh && ./{d}/run.sh") == "755\nran\n"


@check("sandbox.fs.find_files", "sandbox.fs.search_files", "sandbox.fs.replace_in_files")
def find_search_replace(c: Ctx) -> None:
    sb, d = c.sandbox(), c.dir
    c.do(sb.fs.upload_file(b"alpha\nneedle = 1\n", f"{d}/a.py"))
    c.do(sb.fs.upload_file(b"nothing\n", f"{d}/b.txt"))
    c.do(sb.fs.upload_file(b"needle again\n", f"{d}/sub/c.py"))
    found = sorted((m.file, m.line, m.content) for m in c.do(sb.fs.find_files(d, "needle")))
    assert found == [(f"{d}/a.py", 2, "needle = 1"), (f"{d}/sub/c.py", 1, "needle again")], found
    names = sorted(c.do(sb.fs.search_files(d, "*.py")).files)
    assert names == [f"{d}/a.py", f"{d}/sub/c.py"], names
    results = c.do(sb.fs.replace_in_files([f"{d}/a.py", f"{d}/b.txt", f"{d}/missing.py"], "needle", "pin"))
    assert [(r.file, r.success) for r in results] == [
        (f"{d}/a.py", True),
        (f"{d}/b.txt", True),
        (f"{d}/missing.py", False),
    ]
    assert c.do(sb.fs.download_file(f"{d}/a.py")) == b"alpha\npin = 1\n"
