"""Conformance, files: every check in `tests/conformance/client/files.py`, with the oldest and
newest SDK the project claims, sync and async clients, against the real `sandbench serve` the
conformance modules share (conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conformance.harness import Case

AREA = "files"
pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120), pytest.mark.xdist_group("conformance")]


def test_files(case: Case, conformance: Callable[[Case], str]) -> None:
    conformance(case)
