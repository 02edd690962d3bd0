"""The table in docs/serve.md cannot drift from the suite: every public call of each SDK version is a row (a check
covers it, or it is listed in NOT_CHECKED with why), every call a check names exists in some version, and the
committed table is what a green run of the suite generates (`python -m scripts.serve_surface`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scripts import serve_surface
from tests.conformance import sdk_venv
from tests.conformance.client import CLIENTS, NOT_CHECKED, covers, load_all, surface

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("conformance")]


def surfaces_of(request: pytest.FixtureRequest, version: str) -> dict[str, list[str]]:
    if version == sdk_venv.highest():
        return {kind: sorted(surface(kind)) for kind in CLIENTS}
    got: dict[str, Any] = request.getfixturevalue("old_sdk").surface()
    assert got["version"] == version
    return {kind: got[kind] for kind in CLIENTS}


@pytest.mark.parametrize("version", sdk_venv.versions())
def test_every_public_call_has_a_row(request: pytest.FixtureRequest, version: str) -> None:
    found = surfaces_of(request, version)
    request.node.user_properties.append(("conformance_surface", json.dumps({"version": version, **found})))
    patterns = [p for chk in load_all().values() for p in chk.calls]
    calls = {c for cs in found.values() for c in cs}
    assert len(calls) > 100, "the SDK's surface was not found"  # a renamed module must not pass as "all covered"
    unlisted = sorted(c for c in calls if not any(covers(p, c) for p in patterns) and c not in NOT_CHECKED)
    assert unlisted == [], f"SDK {version} calls no check covers (add a check, or NOT_CHECKED with why)"
    stale = sorted(c for c in NOT_CHECKED if any(covers(p, c) for p in patterns))
    assert stale == [], "NOT_CHECKED lists calls a check covers"


def test_every_named_call_exists_and_the_committed_table_is_current(request: pytest.FixtureRequest) -> None:
    surfaces = {v: surfaces_of(request, v) for v in sdk_venv.versions()}
    checks = load_all()
    every = {c for kinds in surfaces.values() for cs in kinds.values() for c in cs}
    unknown = sorted({p for chk in checks.values() for p in chk.calls if not any(covers(p, c) for c in every)})
    assert unknown == [], "checks name calls no SDK version has (a typo?)"
    table = serve_surface.render(checks, serve_surface.expected_outcomes(checks, surfaces), surfaces)
    committed = serve_surface.section(serve_surface.DOC.read_text())
    assert committed == table, "docs/serve.md's table is stale: run `python -m scripts.serve_surface --run`"


def _v(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def test_the_versions_run_are_the_ends_of_the_pinned_range() -> None:
    low, below = sdk_venv.pinned_range()
    assert sdk_venv.versions()[0] == low
    # the project venv resolves the pin to its newest release: the upper end the suite runs
    assert _v(low) < _v(sdk_venv.highest()) < _v(below)


def test_an_sdk_that_cannot_be_installed_fails_naming_what_to_do(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sdk_venv, "VENVS", tmp_path)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens: as offline as it gets
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    with pytest.raises(RuntimeError) as err:
        sdk_venv.venv_python("0.190.1")
    msg = str(err.value)
    assert "daytona==0.190.1" in msg and "PyPI" in msg and "install.log" in msg
    assert not (tmp_path / "0.190.1" / ".installed.json").exists()  # nothing half-made is taken as cached
