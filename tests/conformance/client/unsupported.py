"""Conformance checks, what one machine cannot serve: every such call fails at once with a 501 whose message
says "… is not supported by sandbench serve" and names the feature — never a bare 404 (which the SDK turns into
`DaytonaNotFoundError`, as if something were missing), a 405, or a hang."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

from tests.conformance.client import Ctx, check, unique


def dummy(param: inspect.Parameter) -> Any:
    """A plausible argument of the annotated type: the call must reach the server, which refuses it."""
    a = str(param.annotation)
    for name, value in (("int", 1), ("bool", False), ("float", 1.0), ("bytes", b""), ("str", "x")):
        if name in a:
            return value
    return None


def sweep(c: Ctx, service: Any, feature: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Call every public method of `service` with plausible arguments; each must be refused. The names called."""
    called = []
    for name, method in inspect.getmembers(service, inspect.ismethod):
        if name.startswith("_") or name in skip:
            continue
        params = inspect.signature(method).parameters.values()
        args = [dummy(p) for p in params if p.default is p.empty and p.kind is not p.VAR_KEYWORD]
        c.refused(lambda m=method, a=args: c.do(m(*a)), feature)
        called.append(name)
    return called


@check(
    "sandbox.computer_use.*",
    "sandbox.computer_use.mouse.*",
    "sandbox.computer_use.keyboard.*",
    "sandbox.computer_use.screenshot.*",
    "sandbox.computer_use.display.*",
    "sandbox.computer_use.recording.*",
    "sandbox.computer_use.accessibility.*",
    expect="501",
    notes={"sandbox.computer_use.*": "no desktop in a local sandbox"},
)
def computer_use(c: Ctx) -> None:
    from daytona import ScreenshotRegion

    cu = c.sandbox().computer_use
    assert sweep(c, cu, "computer use")
    for part in ("mouse", "keyboard", "display", "accessibility"):
        if hasattr(cu, part):
            assert sweep(c, getattr(cu, part), "computer use"), part
    region = ScreenshotRegion(x=0, y=0, width=10, height=10)
    assert sweep(c, cu.screenshot, "computer use", skip=("take_region", "take_compressed_region"))
    c.refused(lambda: c.do(cu.screenshot.take_region(region)), "computer use")
    if hasattr(cu, "recording"):
        # download streams the file to a local path: its refusal arrives as the HTTP status the SDK reports
        assert sweep(c, cu.recording, "computer use", skip=("download",))


def deprecated(method: Any, *args: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return method(*args)


@check(
    "sandbox.create_lsp_server",
    "lsp_server.start",
    "lsp_server.stop",
    "lsp_server.did_open",
    "lsp_server.did_close",
    "lsp_server.document_symbols",
    "lsp_server.completions",
    "lsp_server.sandbox_symbols",
    "lsp_server.workspace_symbols",
    notes={
        "sandbox.create_lsp_server": "passed through to a language server inside the sandbox (python-lsp-server)",
        "lsp_server.sandbox_symbols": "refused (501): python-lsp-server answers no workspace/symbol; use "
        "document_symbols",
    },
    requires=("sandbox.create_lsp_server", "lsp_server.sandbox_symbols"),
)
def lsp(c: Ctx) -> None:
    from daytona import LspCompletionPosition

    sb, d = c.sandbox(), c.dir
    path = f"/home/sandbox/{d}/main.py"
    c.do(sb.fs.upload_file(b"def hello_there():\n    return 1\n\nhello_t", path))
    server = sb.create_lsp_server("python", f"/home/sandbox/{d}")
    c.do(server.start())
    c.do(server.did_open(path))
    symbols = c.do(server.document_symbols(path))
    assert "hello_there" in [s.name for s in symbols], symbols
    done = c.do(server.completions(path, LspCompletionPosition(line=3, character=7)))
    assert any(i.label.startswith("hello_there") for i in done.items), done
    c.refused(lambda: c.do(server.sandbox_symbols("hello")))
    if hasattr(server, "workspace_symbols"):
        c.refused(lambda: c.do(deprecated(server.workspace_symbols, "hello")))
    c.do(server.did_close(path))
    c.do(server.stop())


@check(
    "sandbox.create_ssh_access",
    "sandbox.validate_ssh_access",
    "sandbox.revoke_ssh_access",
    "sandbox.download_url",
    "sandbox.upload_url",
    "sandbox.rotate_signing_key",
    expect="501",
    notes={"sandbox.create_ssh_access": "use a PTY session", "sandbox.download_url": "use the file API"},
    requires=("sandbox.create_ssh_access", "sandbox.validate_ssh_access", "sandbox.revoke_ssh_access"),
)
def access_refused(c: Ctx) -> None:
    sb = c.sandbox()
    c.refused(lambda: c.do(sb.create_ssh_access(60)))
    c.refused(lambda: c.do(sb.validate_ssh_access("x")))
    c.refused(lambda: c.do(sb.revoke_ssh_access("x")))
    for name in ("download_url", "upload_url"):
        if hasattr(sb, name):
            c.refused(lambda n=name: c.do(getattr(sb, n)("a.txt")))
    if hasattr(sb, "rotate_signing_key"):
        c.refused(lambda: c.do(sb.rotate_signing_key()))


@check(
    "sandbox.update_secrets",
    "daytona.secret.*",
    expect="501",
    notes={"daytona.secret.*": "use env_vars or update_env"},
)
def secrets_refused(c: Ctx) -> None:
    from daytona import CreateSecretParams, UpdateSecretParams

    c.refused(lambda: c.do(c.sandbox().update_secrets({"K": "v"})), "secrets")
    s = c.d.secret
    for call in (
        lambda: s.list(),
        lambda: s.get("x"),
        lambda: s.create(CreateSecretParams(name="k", value="v")),
        lambda: s.update("x", UpdateSecretParams(value="v")),
        lambda: s.delete("x"),
    ):
        c.refused(lambda f=call: c.do(f()), "secret")


@check("daytona.warm_pool.*", expect="501")
def warm_pool_refused(c: Ctx) -> None:
    w = c.d.warm_pool
    for call in (
        lambda: w.list(),
        lambda: w.create("daytona-small", 1),
        lambda: w.update("x", 2),
        lambda: w.delete("x"),
    ):
        c.refused(lambda f=call: c.do(f()), "warm pool")


@check(
    "daytona.create",
    expect="501",
    notes={"daytona.create": "a GPU request (`resources=Resources(gpu=…)`) must be refused: there is no GPU here"},
)
def gpu_refused(c: Ctx) -> None:
    from daytona import CreateSandboxFromImageParams, Resources

    params = CreateSandboxFromImageParams(name=unique("gpu"), image="python:3.12", resources=Resources(gpu=1))
    msg = c.refused(lambda: c.made.append(c.do(c.d.create(params, timeout=20))))
    assert "gpu" in msg.lower(), msg
