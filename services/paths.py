"""Path policy for paths that come from the UI or the command line (DESIGN §5.3).

A sandbox path is relative to the sandbox root. `normalize` turns what a user typed into the canonical form every
provider receives ('a/b/c', '' for the root) or raises `PathRejected`. It does not touch the filesystem: symlinks
are the provider's business (the local one resolves beneath the workspace without following them).
"""

from __future__ import annotations

from services.errors import PathRejected

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


def normalize(path: str) -> str:
    """Canonical relative form of `path`; normalising it again changes nothing. Absolute paths are refused: a
    sandbox path is relative to its workspace, and a leading '/' would be read by someone as the host's root.
    '~' is an ordinary name (a file may be called that), never a shorthand."""
    if not isinstance(path, str):
        raise PathRejected("path must be text")
    if "\x00" in path:
        raise PathRejected("path contains a NUL byte")
    try:
        encoded = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise PathRejected("path is not valid text") from exc
    if len(encoded) > MAX_PATH_BYTES:
        raise PathRejected(f"path is longer than {MAX_PATH_BYTES} bytes")
    if path.startswith("/"):
        raise PathRejected(f"absolute path refused (paths are relative to the workspace): {path!r}")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise PathRejected(f"path escapes the sandbox root: {path!r}")
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise PathRejected(f"a name in the path is longer than {MAX_NAME_BYTES} bytes")
        parts.append(part)
    return "/".join(parts)


def validate_name(name: str) -> str:
    """A single path component (a new file's name in a dialog)."""
    if name in ("", ".", "..") or "/" in name:
        raise PathRejected(f"not a valid file name: {name!r}")
    return normalize(name)


def join(base: str, name: str) -> str:
    return normalize(f"{base}/{name}" if base else name)


def parent(path: str) -> str:
    return path.rpartition("/")[0]


def basename(path: str) -> str:
    return path.rpartition("/")[2]
