"""The first look at the local provider's state database, cheap enough to run before the app's first frame.

Reading 16 bytes tells an SQLite file from anything else (a file overwritten with garbage, another program's
file): such a file is `StateDatabaseDamaged` at once, with the one line that says how to repair it, before the
app draws anything or the provider (sqlite, the store) is even imported. A file whose header is right but whose
pages are damaged is found later, by the store itself, and reported the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

from services.errors import StateDatabaseDamaged

NAME = "state.db"
SQLITE_HEADER = b"SQLite format 3\x00"


def check_header(path: Path) -> None:
    """Raise `StateDatabaseDamaged` when `path` exists, holds something, and is not an SQLite database."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except (FileNotFoundError, IsADirectoryError):
        return
    except OSError:
        return  # unreadable here: the store says why when it opens it
    try:
        head = os.read(fd, len(SQLITE_HEADER))
    finally:
        os.close(fd)
    if head and head != SQLITE_HEADER:
        raise StateDatabaseDamaged(path, "file is not a database")
