"""The restricted evaluator for everything a diagram may compute.

Gateway conditions, service-task parameters, timer expressions and one-line script
assignments are parsed with `ast` and checked against a whitelist *before* anything
runs: names from task data, literals, arithmetic, comparisons, boolean logic,
subscripts, and calls to the functions in `SAFE_FUNCTIONS`. Attribute access, imports,
lambdas, comprehensions, dunder names and every builtin are refused, so a diagram
uploaded by an analyst can never run arbitrary Python.

Nor can it exhaust the host: an expression nested deeper than `Limits.max_depth` is
refused before it is compiled, and every `*`, `+` and `%` is compiled into a call of a
checked helper that refuses, before anything is allocated, a string or sequence longer
than `Limits.max_result_size` or an integer wider than `Limits.max_int_bits`.
"""

import ast
import dataclasses
import datetime
import functools
import itertools
import operator
import re

from app.timing import calendar


class ExpressionError(ValueError):
    """An expression was refused or failed; the message says why, in plain words."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """How large a result an expression may build, and how deeply it may nest."""

    max_result_size: int = 100_000  # items of a sequence or characters of a string
    max_int_bits: int = 4096
    max_depth: int = 50  # levels of the parsed syntax tree


_limits = Limits()
_SEQUENCES = (str, bytes, list, tuple)
_CONTAINERS = (list, tuple, set, frozenset, dict)
_SIZED = (str, bytes, *_CONTAINERS)
_SCALARS = frozenset((int, float, bool, type(None)))


def configure(limits: Limits) -> Limits:
    """Use `limits` for every later evaluation and return the limits used until now."""
    global _limits
    previous, _limits = _limits, limits
    _compiled.cache_clear()
    return previous


def _too_large(what: str) -> ExpressionError:
    return ExpressionError(f"{what} would be longer than {_limits.max_result_size} "
                           f"items or characters")


def _check_bits(bits: int, what: str) -> None:
    if bits > _limits.max_int_bits:
        raise ExpressionError(f"{what} would be wider than {_limits.max_int_bits} bits")


def _size(value, budget: int) -> int:
    """Count the characters and items in `value`, nested ones too; stop once past `budget`.

    Shared parts count every time they appear, as they would when written out, so
    `[[1] * 1000] * 1000` counts a million.
    """
    total, pending = 0, [value]
    while pending and total <= budget:
        item = pending.pop()
        total += len(item) if isinstance(item, _SIZED) else 0
        if isinstance(item, _CONTAINERS) and total <= budget:
            parts = _parts(item)
            plain = map(_SCALARS.__contains__, map(type, parts))  # at C speed: big data
            pending.extend(itertools.compress(parts, map(operator.not_, plain)))
    return total


def _parts(container):
    return (*container.keys(), *container.values()) if isinstance(container, dict) else container


def _repeated_size(left, right) -> int:
    """Return the size of `left * right` if it repeats a sequence, else 0; stop past the limit.

    Nested items count: repeating a list repeats everything it refers to when written out.
    """
    sequence, times = (right, left) if isinstance(left, int) else (left, right)
    if not (isinstance(sequence, _SEQUENCES) and isinstance(times, int)) or times <= 1:
        return 0
    return _size(sequence, _limits.max_result_size // times) * times


def _checked_mul(left, right):
    """Compute `left * right`, refusing a too long repetition or too wide integer first."""
    if isinstance(left, int) and isinstance(right, int):
        _check_bits(left.bit_length() + right.bit_length(), "the product")
    elif _repeated_size(left, right) > _limits.max_result_size:
        raise _too_large("the repetition")
    return left * right


def _checked_add(left, right):
    """Compute `left + right`, refusing a too long concatenation first.

    Only the top level counts: a concatenation copies references and adds nothing nested.
    """
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES) \
            and len(left) + len(right) > _limits.max_result_size:
        raise _too_large("the concatenation")
    return left + right


_PARENTHESES = {"(": 1, ")": -1}
_CONVERSION = re.compile(r"[#0 +-]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?.", re.DOTALL)


def _format_key(text: str, at: int) -> tuple[str | None, int]:
    """Return the `(key)` of a conversion starting at `at`, as Python reads it, and its end."""
    if not text.startswith("(", at):
        return None, at
    depth = 0
    for index in range(at, len(text)):
        depth += _PARENTHESES.get(text[index], 0)
        if depth == 0:
            return text[at + 1:index], index + 1
    return None, len(text)


def _conversions(text: str):
    """Yield (key, width, precision) for every conversion of a %-format string."""
    at = text.find("%")
    while at >= 0:
        key, at = _format_key(text, at + 1)
        spec = _CONVERSION.match(text, at)
        if spec is None:
            return
        if "*" in spec.groups():
            raise ExpressionError("'*' widths are not allowed in % formatting; write the number")
        yield key, spec.group(1), spec.group(2) or ""
        at = text.find("%", spec.end())


def _number(digits: str) -> int:
    return int(digits or 0) if len(digits) < 10 else _limits.max_result_size + 1


def _formatted_size(text: str, arguments) -> int:
    """Bound the length of `text % arguments` from its widths, precisions and arguments."""
    total, keys = len(text), []
    for key, width, precision in _conversions(text):
        keys.append(key)
        total += _number(width) + _number(precision)
        if total > _limits.max_result_size:
            return total
    named = [key for key in keys if key is not None]
    if isinstance(arguments, dict) and named:
        arguments = [arguments.get(key) for key in named]
    elif not isinstance(arguments, tuple):
        arguments = [arguments]
    return total + sum(_size(argument, _limits.max_result_size) for argument in arguments)


def _checked_mod(left, right):
    """Compute `left % right`, refusing a %-format whose result would be too long first."""
    if isinstance(left, (str, bytes)):
        text = left.decode("latin-1") if isinstance(left, bytes) else left
        if _formatted_size(text, right) > _limits.max_result_size:
            raise _too_large("the formatted string")
    return left % right


def _checked_int(value=0, /, *args, **kwargs) -> int:
    """Convert like int(), refusing a number wider than the limits."""
    if isinstance(value, (str, bytes)) and len(value) > _limits.max_int_bits:
        raise ExpressionError(f"int() of a text longer than {_limits.max_int_bits} characters")
    number = int(value, *args, **kwargs)
    _check_bits(number.bit_length(), "the integer")
    return number


def _checked_round(number, ndigits=None):
    """Round like round(), refusing a number of digits no integer here could have."""
    if isinstance(ndigits, int) and abs(ndigits) > _limits.max_int_bits:
        raise ExpressionError(f"round() to more than {_limits.max_int_bits} digits")
    return round(number, ndigits)


def _working_days_deadline(start: str, days: int) -> str:
    """Return the ISO deadline `days` working days after the ISO timestamp `start`."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise ExpressionError(f"add_working_days needs a whole number of days, "
                              f"not {type(days).__name__}")
    if abs(days) > calendar.MAX_WORKING_DAYS:
        raise ExpressionError(f"add_working_days allows at most {calendar.MAX_WORKING_DAYS} "
                              f"working days either way")
    moment = datetime.datetime.fromisoformat(start)
    return calendar.add_working_days(moment, days).isoformat()


SAFE_FUNCTIONS = {
    "len": len,
    "str": str,
    "int": _checked_int,
    "float": float,
    "bool": bool,
    "abs": abs,
    "min": min,
    "max": max,
    "round": _checked_round,
    "sorted": sorted,
    "add_working_days": _working_days_deadline,
}
# Operators compiled into calls of checked helpers; user source cannot name them ('_').
_CHECKED_OPERATORS = {ast.Mult: "_checked_mul", ast.Add: "_checked_add", ast.Mod: "_checked_mod"}
_GLOBALS = {"__builtins__": {}, **SAFE_FUNCTIONS, "_checked_mul": _checked_mul,
            "_checked_add": _checked_add, "_checked_mod": _checked_mod}

_ALLOWED_NODES = (
    ast.Expression, ast.Module, ast.Expr, ast.Assign,
    ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.IfExp,
    ast.Name, ast.Load, ast.Store, ast.Constant, ast.Subscript, ast.Slice,
    ast.List, ast.Tuple, ast.Dict, ast.Call, ast.keyword,
)  # no ast.Set: a set's order depends on hashing, so a replay could differ
_MAX_LENGTH = 2000


def _refuse(node: ast.AST, why: str) -> None:
    raise ExpressionError(f"{why} (at column {getattr(node, 'col_offset', 0) + 1})")


def _check_depth(tree: ast.AST) -> None:
    """Raise ExpressionError if `tree` nests deeper than the limit; walks without recursion."""
    pending = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > _limits.max_depth:
            _refuse(node, f"expression is nested deeper than {_limits.max_depth} levels")
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


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
    except (RecursionError, MemoryError):
        raise ExpressionError("expression is nested too deeply to parse") from None
    _check_depth(tree)
    _check(tree)
    return tree


class _CheckOperators(ast.NodeTransformer):
    """Turn `a * b`, `a + b` and `a % b` into calls of the checked helpers."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:  # noqa: N802 - ast visitor name
        """Rewrite one operation after its operands."""
        self.generic_visit(node)
        helper = _CHECKED_OPERATORS.get(type(node.op))
        if helper is None:
            return node
        call = ast.Call(func=ast.Name(id=helper, ctx=ast.Load()),
                        args=[node.left, node.right], keywords=[])
        return ast.copy_location(call, node)


@functools.lru_cache(maxsize=4096)
def _compiled(source: str):
    """Check and compile an expression once; diagrams repeat the same few expressions."""
    tree = _parse(source, "eval")
    try:
        return compile(ast.fix_missing_locations(_CheckOperators().visit(tree)),
                       "<expression>", "eval")
    except (RecursionError, MemoryError):
        raise ExpressionError("expression is nested too deeply to compile") from None


def validate_expression(source: str) -> None:
    """Raise ExpressionError if `source` is not an allowed expression."""
    _parse(source, "eval")


def _run(code, source: str, scope: dict):
    try:
        return eval(code, _GLOBALS, scope)  # noqa: S307 - whitelisted, checked AST
    except ExpressionError:
        raise
    except NameError as err:
        raise ExpressionError(f"unknown name in '{source}': {err.name}") from None
    except (TypeError, ValueError, KeyError, IndexError, ArithmeticError) as err:
        raise ExpressionError(f"'{source}' failed: {type(err).__name__}: {err}") from None
    except (RecursionError, MemoryError) as err:
        raise ExpressionError(f"'{source}' failed: {type(err).__name__}") from None


def evaluate(source: str, data: dict):
    """Evaluate the expression `source` against task `data` and return its value."""
    if not isinstance(source, str):
        raise ExpressionError("expression must be a string")
    scope = {k: v for k, v in data.items() if not k.startswith("_")}
    return _run(_compiled(source), source, scope)


def execute(source: str, data: dict) -> None:
    """Run a script of simple assignments (`name = expression`, one per line) on `data`."""
    tree = _parse(source, "exec")
    for statement in tree.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            _refuse(statement, "scripts may only assign: name = expression")
        value = ast.Expression(body=statement.value)
        data[statement.targets[0].id] = evaluate(ast.unparse(value), data)
