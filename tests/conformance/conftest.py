"""Fixtures of the conformance suite: one `sandbench serve` per session (both SDK versions and both clients of
each drive it, sharing one sandbox per client), the worker in the oldest SDK's venv (once per session), and the
hooks that record each case's outcome for `scripts/serve_surface.py`.

Every module is in one `xdist_group("conformance")`, so under the Makefile's `--dist loadgroup` the whole suite
runs on one worker: one server, one old-SDK worker (its import alone is a second or two of CPU) and four shared
sandboxes per run, instead of one server and two shared sandboxes per module and an old-SDK worker on every
worker. The server can be shared because every check works in a folder or sandboxes of its own, named uniquely,
and deletes what it made. Under another `--dist` each worker makes its own; the oldest SDK's venv is installed
once behind a file lock either way. Nothing here asserts a wall-clock bar, so no case is `serial`.
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


@pytest.fixture(scope="session")
def conf_serve() -> Iterator[Serve]:
    with running_serve(other_owner=False) as srv:
        yield srv


@pytest.fixture(scope="session")
def new_sdk(conf_serve: Serve) -> Iterator[dict[str, Client]]:
    """Both clients of the project venv's SDK against the session's server."""
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
