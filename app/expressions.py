"""The restricted evaluator for everything a diagram may compute.

Gateway conditions, service-task parameters, timer expressions and one-line script
assignments are parsed with `ast` and checked against a whitelist *before* anything
runs: names from task data, literals, arithmetic, comparisons, boolean logic,
subscripts, and calls to the functions in `SAFE_FUNCTIONS`. Attribute access, imports,
lambdas, comprehensions, dunder names and every builtin are refused, so a diagram
uploaded by an analyst can never run arbitrary Python.
"""

import ast
import datetime
import functools

from app import calendar


class ExpressionError(ValueError):
    """An expression was refused or failed; the message says why, in plain words."""


def _working_days_deadline(start: str, days: int) -> str:
    """Return the ISO deadline `days` working days after the ISO timestamp `start`."""
    moment = datetime.datetime.fromisoformat(start)
    return calendar.add_working_days(moment, int(days)).isoformat()


SAFE_FUNCTIONS = {
    "len": len,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "sorted": sorted,
    "add_working_days": _working_days_deadline,
}

_ALLOWED_NODES = (
    ast.Expression, ast.Module, ast.Expr, ast.Assign,
    ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.IfExp,
    ast.Name, ast.Load, ast.Store, ast.Constant, ast.Subscript, ast.Slice,
    ast.List, ast.Tuple, ast.Dict, ast.Set, ast.Call, ast.keyword,
)
_MAX_LENGTH = 2000


def _refuse(node: ast.AST, why: str) -> None:
    raise ExpressionError(f"{why} (at column {getattr(node, 'col_offset', 0) + 1})")


def _check(tree: ast.AST) -> None:
    """Raise ExpressionError unless every node of `tree` is on the whitelist."""
    attributes = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute)]
    if attributes:
        _refuse(attributes[0], f"attribute access '.{attributes[0].attr}' is not allowed")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            _refuse(node, f"'{type(node).__name__}' is not allowed in diagram expressions")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            _refuse(node, f"names starting with '_' are not allowed: {node.id}")
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            _refuse(node, "only named functions may be called, e.g. len(items)")
        if isinstance(node, ast.Call) and node.func.id not in SAFE_FUNCTIONS:
            _refuse(node, f"function '{node.func.id}' is not allowed; "
                          f"allowed: {', '.join(sorted(SAFE_FUNCTIONS))}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
            _refuse(node, "strings containing '__' are not allowed")


def _parse(source: str, mode: str) -> ast.AST:
    if not isinstance(source, str) or len(source) > _MAX_LENGTH:
        raise ExpressionError(f"expression must be a string of at most {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode=mode)
    except SyntaxError as err:
        raise ExpressionError(f"syntax error: {err.msg}") from None
    _check(tree)
    return tree


@functools.lru_cache(maxsize=4096)
def _compiled(source: str):
    """Check and compile an expression once; diagrams repeat the same few expressions."""
    return compile(_parse(source, "eval"), "<expression>", "eval")


def validate_expression(source: str) -> None:
    """Raise ExpressionError if `source` is not an allowed expression."""
    _parse(source, "eval")


def evaluate(source: str, data: dict):
    """Evaluate the expression `source` against task `data` and return its value."""
    if not isinstance(source, str):
        raise ExpressionError("expression must be a string")
    code = _compiled(source)
    scope = {k: v for k, v in data.items() if not k.startswith("_")}
    try:
        return eval(code, {"__builtins__": {}, **SAFE_FUNCTIONS}, scope)  # noqa: S307 - whitelisted AST
    except NameError as err:
        raise ExpressionError(f"unknown name in '{source}': {err.name}") from None
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as err:
        raise ExpressionError(f"'{source}' failed: {type(err).__name__}: {err}") from None


def execute(source: str, data: dict) -> None:
    """Run a script of simple assignments (`name = expression`, one per line) on `data`."""
    tree = _parse(source, "exec")
    for statement in tree.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            _refuse(statement, "scripts may only assign: name = expression")
        value = ast.Expression(body=statement.value)
        data[statement.targets[0].id] = evaluate(ast.unparse(value), data)
