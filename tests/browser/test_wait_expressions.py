"""Every `wait_for_function` in the browser tests passes a function, never a bare expression.

Playwright evaluates the expression with `eval` on each poll unless it is a function (a
function is evaluated once and kept). The kiosk's Content-Security-Policy forbids `eval`, and
only the first poll runs inside Playwright's own evaluation, which the policy exempts; so a
bare expression that is false at the first poll fails on the second with an EvalError. That
made a bfcache test fail in CI only when the page was still loading at the first check."""

import ast
from pathlib import Path


def bare_wait_expressions(source: str) -> list[int]:
    """Line numbers of wait_for_function calls whose first argument is a string without `=>`."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "wait_for_function"
            and node.args
        ):
            first = node.args[0]
            text = first.value if isinstance(first, ast.Constant) else None
            if isinstance(first, ast.JoinedStr):
                text = "".join(v.value for v in first.values if isinstance(v, ast.Constant))
            if isinstance(text, str) and not is_function(text):
                lines.append(node.lineno)
    return lines


def is_function(text: str) -> bool:
    return "=>" in text or text.lstrip().startswith("function")


def test_the_check_finds_a_bare_expression():
    bare = "page.wait_for_function(\"document.readyState !== 'loading'\")"
    assert bare_wait_expressions(bare) == [1]
    assert bare_wait_expressions('page.wait_for_function("() => document.title")') == []


def test_no_browser_test_waits_on_a_bare_expression():
    found = {
        path.name: lines
        for path in Path(__file__).parent.glob("*.py")
        if path.name != Path(__file__).name and (lines := bare_wait_expressions(path.read_text()))
    }
    assert found == {}
