"""Conformance checks, code: `process.code_run` (one-shot, with argv and exit code) and the stateful code
interpreter (variables kept between runs, contexts isolated from each other, errors with their name)."""

from __future__ import annotations

from tests.conformance.client import Ctx, Output, check


@check(
    "sandbox.process.code_run",
    notes={
        "sandbox.process.code_run": "Python (python3) in the sandbox; `plt.show()` figures come back as "
        "`artifacts.charts` (type, title, labels, elements, PNG) where matplotlib is installed in the sandbox"
    },
)
def code_run(c: Ctx) -> None:
    from daytona import CodeRunParams

    sb = c.sandbox()
    code = "import sys; print(sum(range(10)), sys.argv[1:]); sys.exit(2)"
    r = c.do(sb.process.code_run(code, CodeRunParams(argv=["a b"])))
    assert (r.exit_code, r.result) == (2, "45 ['a b']\n")
    r = c.do(sb.process.code_run("import os; print(os.environ['K'])", CodeRunParams(env={"K": "v"})))
    assert (r.exit_code, r.result) == (0, "v\n")
    plot = "import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [2, 5])\nplt.title('T')\nplt.show()\nprint('ok')"
    r = c.do(sb.process.code_run(plot))
    assert (r.exit_code, r.result) == (0, "ok\n")
    (chart,) = r.artifacts.charts
    assert (chart.type, chart.title, [float(e.value) for e in chart.elements]) == ("bar", "T", [2, 5])
    assert chart.png and chart.png.startswith("iVBORw0KGgo")  # base64 of the PNG signature


@check(
    "sandbox.code_interpreter.run_code",
    "sandbox.code_interpreter.create_context",
    "sandbox.code_interpreter.list_contexts",
    "sandbox.code_interpreter.delete_context",
    notes={
        "sandbox.code_interpreter.run_code": "one Python process per context inside the sandbox; output streamed "
        "over the WebSocket protocol, errors with name/value/traceback",
    },
)
def code_interpreter(c: Ctx) -> None:
    ci = c.sandbox().code_interpreter
    first = c.do(ci.run_code("counter = 41\ndef bump(n):\n    return n + 1\n"))
    assert first.error is None and first.stdout == ""
    out = Output()
    second = c.do(ci.run_code("counter = bump(counter)\nprint(counter)", on_stdout=lambda m: out(m.output)))
    assert (second.error, second.stdout, out.text()) == (None, "42\n", "42\n")
    ctx = c.do(ci.create_context(cwd="/tmp"))
    assert ctx.cwd == "/tmp" and ctx.language == "python"
    assert ctx.id in [x.id for x in c.do(ci.list_contexts())]
    isolated = c.do(ci.run_code("print(counter)", context=ctx))
    assert isolated.error is not None and isolated.error.name == "NameError", isolated
    assert c.do(ci.run_code("import os; print(os.getcwd())", context=ctx)).stdout == "/tmp\n"
    c.do(ci.delete_context(ctx))
    assert ctx.id not in [x.id for x in c.do(ci.list_contexts())]
    boom = c.do(ci.run_code("1/0"))
    assert boom.error is not None and boom.error.name == "ZeroDivisionError" and "division" in boom.error.value
