"""The client side of the conformance suite: checks that drive the unmodified `daytona` SDK, and what they need.

This package (the registry and the SDK's surface here, running checks in `runtime.py`) imports only the standard
library and `daytona`, because it runs in two interpreters: the project's venv (the newest SDK the project claims,
in the pytest process itself) and a venv holding the oldest one (`tests/conformance/sdk_venv.py`), where
`worker.py` runs the same checks as a subprocess.

A check is one function `def name(c: Ctx) -> None` written once for both clients: every SDK call goes through
`c.do(...)`, which returns a sync call's value as it is and runs an async call's coroutine to its end on the
client's own event loop thread. `@check(...)` registers it with the SDK calls it covers (the rows of the generated
table in docs/serve.md), whether it asserts the call works (`expect="yes"`) or is refused at once with a clear 501
(`expect="501"`), notes on how it differs locally, and the SDK versions where it is still expected to fail
(`pending`, a strict xfail that names the branch it lands with).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.conformance.client.runtime import Ctx

AREAS = (
    "lifecycle",
    "files",
    "process",
    "interpreter",
    "pty",
    "git",
    "snapshots",
    "volumes",
    "preview",
    "unsupported",
)
CLIENTS = ("sync", "async")


@dataclass(frozen=True)
class Check:
    area: str
    name: str
    fn: Callable[[Ctx], None]
    calls: tuple[str, ...]
    expect: str  # "yes": works as Daytona documents it; "501": refused at once, naming the feature
    notes: dict[str, str]
    pending: dict[str, str]  # SDK version ("*" = any) -> why it still fails (a strict xfail)
    clients: tuple[str, ...]
    requires: tuple[str, ...]  # the calls an SDK must have for the check to run (the others it guards itself)

    @property
    def id(self) -> str:
        return f"{self.area}.{self.name}"

    def pending_for(self, version: str) -> str | None:
        return self.pending.get(version) or self.pending.get("*")


REGISTRY: dict[str, Check] = {}


def check(
    *calls: str,
    expect: str = "yes",
    notes: dict[str, str] | None = None,
    pending: dict[str, str] | None = None,
    clients: tuple[str, ...] = CLIENTS,
    requires: tuple[str, ...] | None = None,
) -> Callable[[Callable[[Ctx], None]], Callable[[Ctx], None]]:
    """Register a check covering `calls` (names as `daytona.create`, `sandbox.fs.upload_file`, a trailing `.*` for
    every call of a service). An SDK without all of `requires` (default: every call) skips it as "absent"; the
    table marks each call by whether that SDK has it."""
    assert expect in ("yes", "501"), expect

    def register(fn: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
        area = fn.__module__.rsplit(".", 1)[-1]
        assert area in AREAS, area
        needs = calls if requires is None else requires
        c = Check(area, fn.__name__, fn, calls, expect, dict(notes or {}), dict(pending or {}), clients, needs)
        assert c.id not in REGISTRY, c.id
        REGISTRY[c.id] = c
        return fn

    return register


def load_all() -> dict[str, Check]:
    for area in AREAS:
        importlib.import_module(f"{__name__}.{area}")
    return REGISTRY


# -- the SDK's public surface ----------------------------------------------------------------------------------
# class name (sync form; the async one is "Async" + it) -> how user code reaches it
SERVICES = {
    "Daytona": "daytona",
    "Sandbox": "sandbox",
    "FileSystem": "sandbox.fs",
    "Process": "sandbox.process",
    "Git": "sandbox.git",
    "CodeInterpreter": "sandbox.code_interpreter",
    "LspServer": "lsp_server",
    "ComputerUse": "sandbox.computer_use",
    "Mouse": "sandbox.computer_use.mouse",
    "Keyboard": "sandbox.computer_use.keyboard",
    "Screenshot": "sandbox.computer_use.screenshot",
    "Display": "sandbox.computer_use.display",
    "RecordingService": "sandbox.computer_use.recording",
    "Accessibility": "sandbox.computer_use.accessibility",
    "SnapshotService": "daytona.snapshot",
    "VolumeService": "daytona.volume",
    "SecretService": "daytona.secret",
    "WarmPoolService": "daytona.warm_pool",
    "PtyHandle": "pty_handle",
}
MODULES = {"sync": "daytona._sync", "async": "daytona._async"}
# the generated DTO's (de)serialisers the Sandbox inherits: data, not calls to a server
DATA_METHODS = {"from_dict", "from_json", "to_dict", "to_json", "to_str"}
# public calls no check drives, and why; each is a row of the table saying so
NOT_CHECKED = {
    "daytona.snapshot.process_image_context": "a client-side helper of image builds (`snapshot.create(image=…)`), "
    "which serve refuses",
}


def sdk_version() -> str:
    from importlib.metadata import version

    return version("daytona")


def surface(kind: str) -> set[str]:
    """Every public call of this SDK's `kind` client, named as user code reaches it. Pydantic's own model methods
    (the Sandbox is a model) and properties are data, not calls."""
    import pkgutil

    import pydantic

    model_attrs = set(dir(pydantic.BaseModel))
    classes: dict[str, type] = {}
    pkg = importlib.import_module(MODULES[kind])
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        for name, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == mod.__name__:
                classes[name] = cls
    handles = importlib.import_module(
        "daytona.handle.pty_handle" if kind == "sync" else "daytona.handle.async_pty_handle"
    )
    for name, cls in inspect.getmembers(handles, inspect.isclass):
        classes[name] = cls
    found: set[str] = set()
    for base, prefix in SERVICES.items():
        cls = classes.get(base if kind == "sync" else f"Async{base}")
        if cls is None:
            continue
        for name, member in inspect.getmembers(cls):
            if name.startswith("_") or name in model_attrs or name in DATA_METHODS:
                continue
            if not callable(member) or isinstance(member, type):
                continue
            found.add(f"{prefix}.{name}")
    return found


def covers(pattern: str, call: str) -> bool:
    return call == pattern or (
        pattern.endswith(".*") and call.startswith(pattern[:-1]) and "." not in call[len(pattern) - 1 :]
    )


def missing_calls(chk: Check, calls: set[str]) -> list[str]:
    """The calls a check needs that this SDK client does not have (the check then says so instead of running)."""
    return [p for p in chk.requires if not any(covers(p, c) for c in calls)]


from tests.conformance.client.runtime import (  # noqa: E402  (the runtime needs the registry above)
    Client,
    Ctx,
    Loop,
    Output,
    Pty,
    clients,
    run,
    unique,
)

__all__ = [
    "AREAS",
    "CLIENTS",
    "NOT_CHECKED",
    "Check",
    "Client",
    "Ctx",
    "Loop",
    "Output",
    "Pty",
    "check",
    "clients",
    "covers",
    "load_all",
    "missing_calls",
    "run",
    "sdk_version",
    "surface",
    "unique",
]
