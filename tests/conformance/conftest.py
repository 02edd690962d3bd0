"""Fixtures of the conformance suite: one `sandbench serve` per module (both SDK versions and both clients drive
it, sharing one sandbox per client), the worker in the oldest SDK's venv (once per session), and the hooks that
record each case's outcome for `scripts/serve_surface.py`.

Under pytest-xdist every worker gets its own servers and SDK worker; the oldest SDK's venv is installed once
behind a file lock. Nothing here asserts a wall-clock bar, so no case is `serial`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.register_assert_rewrite("tests.conformance.client")

from tests.conformance import harness, sdk_venv  # noqa: E402  (after the rewrite hook, so asserts explain)
from tests.conformance.client import Client, clients, run  # noqa: E402
from tests.services.serve_helpers import Serve, running_serve  # noqa: E402


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        area = metafunc.module.AREA
        metafunc.parametrize("case", harness.cases(area))


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    harness.record(report)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # under xdist the controller never loads this conftest (it collects nothing): each worker merges its own
    harness.write_results()


@pytest.fixture(scope="session")
def old_sdk() -> Iterator[harness.Worker]:
    """The worker running checks with the oldest SDK the project claims."""
    try:
        python = sdk_venv.venv_python(sdk_venv.lowest())
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    worker = harness.Worker(python)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def conf_serve() -> Iterator[Serve]:
    with running_serve(other_owner=False) as srv:
        yield srv


@pytest.fixture(scope="module")
def new_sdk(conf_serve: Serve) -> Iterator[dict[str, Client]]:
    """Both clients of the project venv's SDK against this module's server."""
    with clients(conf_serve.api_url, conf_serve.token) as opened:
        yield opened


@pytest.fixture
def conformance(request: pytest.FixtureRequest, conf_serve: Serve, new_sdk: dict[str, Client]) -> Any:
    """Run a case and record what it showed; returns the outcome ("passed", or "absent" when the SDK version
    lacks the calls: then there is nothing to run, and a case expected to fail is not failing either)."""

    def go(case: harness.Case) -> str:
        info = {"check": case.check.id, "version": case.version, "kind": case.kind}
        request.node.user_properties.append(("conformance_case", json.dumps(info)))
        if case.version == sdk_venv.highest():
            outcome = run(new_sdk[case.kind], case.check)
        else:
            old_sdk: harness.Worker = request.getfixturevalue("old_sdk")  # installed only when a case needs it
            outcome = old_sdk.run(case, conf_serve.api_url, conf_serve.token)
        request.node.user_properties.append(("conformance_outcome", outcome))
        if outcome == "absent" and case.check.pending_for(case.version):
            pytest.xfail(f"SDK {case.version} has no {', '.join(case.check.calls)}")
        return outcome

    return go
