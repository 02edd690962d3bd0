"""LocalProvider is its lifecycle plus mixins, one per job (services/local/provider.py's docstring): each method
is defined in exactly one of its parts, so none is reachable two ways and no part silently shadows another's."""

from __future__ import annotations

import inspect

from services.local.provider import LocalProvider


def _parts() -> list[type]:
    return [c for c in LocalProvider.__mro__ if c.__module__.startswith("services.local.")]


def test_the_parts_are_the_lifecycle_state_and_one_mixin_per_job() -> None:
    assert {c.__module__.rpartition(".")[2] for c in _parts()} == {
        "provider",
        "provider_state",
        "provider_files",
        "provider_exec",
        "provider_observe",
        "provider_snapshots",
    }


def test_no_method_is_defined_in_two_parts() -> None:
    where: dict[str, list[str]] = {}
    for part in _parts():
        for name, value in vars(part).items():
            if callable(value) or isinstance(value, (property, staticmethod, classmethod)):
                where.setdefault(name, []).append(part.__name__)
    twice = {name: owners for name, owners in where.items() if len(owners) > 1}
    assert not twice, f"defined in more than one part of LocalProvider: {twice}"


def test_every_part_says_what_it_owns() -> None:
    for part in _parts():
        module = inspect.getmodule(part)
        assert module is not None and (module.__doc__ or "").strip(), part.__module__
