"""The command line: ``python -m symgrad diff|grad|hessian`` run as subprocesses, checked
against closed forms worked out by hand, and its parser's rejection of hostile input."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

from symgrad import cli
from symgrad.__main__ import main


def symgrad(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "symgrad", *args], capture_output=True,
                          text=True, timeout=120)


def _value(line: str) -> float:
    return float(line.rsplit("=", 1)[1])


def test_grad_of_the_circuit_at_a_point():
    """f = (x + y) z at (-2, 5, -4): f = -12, gradient (z, z, x + y) = (-4, -4, 3)."""
    run = symgrad("grad", "(x + y)*z", "--wrt", "x,y,z", "--at", "x=-2,y=5,z=-4")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split(" = ")[0] for line in lines] == ["f", "df/dx", "df/dy", "df/dz"]
    assert [_value(line) for line in lines] == [-12.0, -4.0, -4.0, 3.0]
    assert lines[1] == "df/dx = z = -4.0" and lines[3] == "df/dz = x + y = 3.0"


def test_hessian_of_rosenbrock_at_its_minimum():
    """f_xx = 1200x² − 400y + 2, f_xy = −400x, f_yy = 200: at (1, 1)."""
    run = symgrad("hessian", "100*(y - x**2)**2 + (1 - x)**2", "--wrt", "x,y", "--at", "x=1,y=1")
    assert run.returncode == 0, run.stderr
    f_line, h_line = run.stdout.splitlines()
    assert _value(f_line) == 0.0
    assert h_line.endswith("= [[802.0, -400.0], [-400.0, 200.0]]")
    assert "Matrix([[1200*x**2 - 400*y + 2, -400*x], [-400*x, 200]])" in h_line
    latex = symgrad("hessian", "100*(y - x**2)**2 + (1 - x)**2", "--wrt", "x,y", "--latex")
    assert r"\nabla^{2} f = \left[\begin{matrix}1200 x^{2} - 400 y + 2" in latex.stdout


def test_second_derivative_simplified_latex_and_code():
    """f = e^{sin x}/(1 + x²): f'' by the quotient rule, evaluated with math at x = 0.7."""
    x = 0.7
    u, du, d2u = (math.exp(math.sin(x)), math.exp(math.sin(x)) * math.cos(x),
                  math.exp(math.sin(x)) * (math.cos(x) ** 2 - math.sin(x)))
    v, dv, d2v = 1 + x * x, 2 * x, 2.0
    expected = (d2u * v - u * d2v) / v ** 2 - 2 * dv * (du * v - u * dv) / v ** 3
    text = "exp(sin(x))/(1+x**2)"
    for extra in ([], ["--simplify"]):
        run = symgrad("diff", text, "--wrt", "x", "--order", "2", "--at", "x=0.7", *extra)
        assert run.returncode == 0, run.stderr
        assert _value(run.stdout.splitlines()[1]) == pytest.approx(expected, rel=1e-12)
    run = symgrad("diff", text, "--wrt", "x", "--order", "2", "--latex", "--code")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[1].startswith(r"\frac{d^{2} f}{d x^{2}} = ")
    assert r"\sin{\left(x \right)}" in lines[1]
    assert lines[2].startswith("def symgrad_fn_") and "np.sin(a0)" in run.stdout


def test_hostile_input_is_rejected_with_status_2():
    run = symgrad("diff", "__import__('os').system('echo INJECTED')", "--wrt", "x")
    assert run.returncode == 2
    assert "INJECTED" not in run.stdout + run.stderr.replace("echo INJECTED", "")
    assert "is not allowed" in run.stderr and "allowed are numbers" in run.stderr


def test_help():
    run = symgrad("--help")
    assert run.returncode == 0 and all(c in run.stdout for c in ("demo", "diff", "grad", "hessian"))
    run = symgrad("diff", "--help")
    assert run.returncode == 0 and "--order" in run.stdout and "--latex" in run.stdout


HOSTILE = {
    "__import__('os').system('id')": "attribute access",
    "__import__('os')": "calling '__import__'",
    "eval('1')": "calling 'eval'",
    "x.real": "attribute access",
    "(lambda: 1)()": "lambda",
    "[x for x in y]": "comprehensions",
    "sum(x for x in y)": "calling 'sum'",
    "x[0]": "subscripts",
    "'a' * x": "the constant 'a'",
    "x * 1j": "the constant 1j",
    "True + x": "the constant True",
    "exp(x=1)": "exp with other than 1 plain argument",
    "maximum(x)": "maximum with other than 2 plain argument",
    "exp(*x)": "*args",
    "(y := 2) * x": "assignment",
    "x if y else z": "use where",
    "x and y": "and/or",
    "0 < x < 1": "Compare",
    "x == y": "Compare",
    "exp + 1": "exp without a call",
    "f'{x}'": "strings",
    "x +": "is not an expression",
    "x; import os": "is not an expression",
    "x > 1": "is a comparison",
}


@pytest.mark.parametrize("text", sorted(HOSTILE))
def test_parser_whitelist(text):
    with pytest.raises(cli.ExpressionError, match="allowed|not an expression|comparison") as err:
        cli.parse(text)
    assert HOSTILE[text] in str(err.value)


def test_parser_builds_the_expression(rng):
    f, variables = cli.parse("where(x > 0, sqrt(x) * pi, -x) + maximum(y, 2) ** 2 / e")
    assert list(variables) == ["x", "y"]
    x, y = variables["x"], variables["y"]
    for xv, yv in rng.uniform(-3, 3, size=(5, 2)):
        expected = (math.sqrt(xv) * math.pi if xv > 0 else -xv) + max(yv, 2) ** 2 / math.e
        assert f.eval({x: xv, y: yv}) == pytest.approx(expected, rel=1e-12)


def test_parser_is_iterative():
    f, variables = cli.parse("+".join(f"x*{k}" for k in range(1500)))
    assert f.eval({variables["x"]: 1.0}) == sum(range(1500))
    with pytest.raises(cli.ExpressionError, match="deeply nested"):
        cli.parse("+".join(["x"] * 20000))


@pytest.mark.parametrize("argv, message", [
    (["diff", "x**2", "--wrt", "y"], "'y' does not occur"),
    (["diff", "x*y", "--wrt", "x,y"], "one variable"),
    (["diff", "x**2", "--wrt", "x", "--order", "-1"], "--order must be 0 or more"),
    (["grad", "x*y", "--wrt", "x", "--at", "x=1"], "no value for y"),
    (["grad", "x*y", "--wrt", "x", "--at", "x=1,y=two"], "'two' is not a number"),
    (["grad", "x*y", "--wrt", "x", "--at", "x=1,q=2"], "expected name=value"),
])
def test_bad_arguments_exit_with_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_main_runs_in_process(capsys):
    assert main(["diff", "sin(x)", "--wrt", "x", "--order", "3"]) == 0
    assert capsys.readouterr().out.splitlines() == ["f = sin(x)", "d3f/dx3 = -cos(x)"]
