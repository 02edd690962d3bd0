"""The path policy: what a user types becomes a canonical workspace-relative path, or a clear refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services import paths
from services.errors import PathRejected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        (".", ""),
        ("a", "a"),
        ("a/b/c", "a/b/c"),
        ("a//b/./c/", "a/b/c"),
        ("~", "~"),
        ("./~/notes.txt", "~/notes.txt"),
        ("dir with spaces/[bold]x", "dir with spaces/[bold]x"),
        ("-rf", "-rf"),
    ],
)
def test_normalize_accepts(raw: str, expected: str) -> None:
    assert paths.normalize(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["..", "../etc/passwd", "a/../../b", "a/..", "/etc/passwd", "/", "a\x00b", "x" * 256, "a/" * 2100],
)
def test_normalize_refuses(raw: str) -> None:
    with pytest.raises(PathRejected):
        paths.normalize(raw)


def test_refusal_messages_are_short_and_clear() -> None:
    with pytest.raises(PathRejected, match="escapes the sandbox root"):
        paths.normalize("../x")
    with pytest.raises(PathRejected, match="absolute path refused"):
        paths.normalize("/etc/shadow")
    with pytest.raises(PathRejected, match="NUL"):
        paths.normalize("a\x00")


@given(st.lists(st.sampled_from(["a", "b", "/", ".", "..", "\x00", "é", "~", " "]), max_size=40).map("".join))
def test_normalized_paths_never_escape(raw: str) -> None:
    try:
        out = paths.normalize(raw)
    except PathRejected:
        return
    parts = out.split("/") if out else []
    assert ".." not in parts and "." not in parts and "" not in parts
    assert not out.startswith("/") and "\x00" not in out
    assert paths.normalize(out) == out  # canonical: normalising again changes nothing


def test_validate_name() -> None:
    assert paths.validate_name("file.txt") == "file.txt"
    for bad in ("", ".", "..", "a/b"):
        with pytest.raises(PathRejected):
            paths.validate_name(bad)
