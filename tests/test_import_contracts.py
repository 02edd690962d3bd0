"""The import contracts (`[tool.importlinter]` in pyproject.toml, run by `make lint`) cover every provider module.

The contracts themselves are checked by `lint-imports`; this guards the one thing a contract cannot say about
itself: a provider module added later (a `services/daytona_*.py` split off `daytona.py`, a new provider package)
that the "widgets never import a provider" list would silently not name.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# services/ modules that are (parts of) a provider or the server built on one; everything else is the
# provider-neutral surface widgets may use (SandboxService, models, errors, git, text, ...)
PROVIDER_PREFIXES = ("daytona", "local", "server")


def _contract(cid: str) -> dict[str, list[str]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return next(c for c in config["contracts"] if c["id"] == cid)


def test_every_provider_module_is_forbidden_to_widgets() -> None:
    forbidden = set(_contract("widgets-no-provider")["forbidden_modules"])
    provider_modules = {
        f"services.{p.stem if p.is_file() else p.name}"
        for p in (REPO / "services").iterdir()
        if p.name.startswith(PROVIDER_PREFIXES) and (p.suffix == ".py" or (p / "__init__.py").exists())
    }
    assert {"services.daytona", "services.local", "services.server"} <= provider_modules  # the scan sees them
    assert provider_modules <= forbidden, f"add to widgets-no-provider: {sorted(provider_modules - forbidden)}"


def test_the_layers_are_the_three_packages_in_order() -> None:
    assert _contract("layers")["layers"] == ["tui", "widgets", "services"]
    assert {"textual", "rich"} <= set(_contract("services-ui-free")["forbidden_modules"])
