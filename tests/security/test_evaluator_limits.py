"""Resource bombs against the restricted evaluator: refused early, never run or leaked.

Each bomb ran on the live system for seconds and gigabytes, or raised RecursionError or
OverflowError. Here each must end in ExpressionError (ValueError from the calendar) with
next to nothing allocated, which tracemalloc shows without timing anything.
"""

import datetime
import tracemalloc
from pathlib import Path

import pytest

from app.core import engine
from app.core import expressions
from app.core.expressions import ExpressionError
from app.core.expressions import Limits
from app.timing import calendar

FIXTURES = Path(__file__).parent.parent / "fixtures"
FEW_MEGABYTES = 4 * 1024 * 1024
START = "'2026-03-20T10:00:00+05:00'"
MONDAY = datetime.datetime(2026, 11, 23, 10, tzinfo=datetime.timezone(datetime.timedelta(hours=5)))


def _peak_while_refused(source: str, data: dict) -> tuple[ExpressionError, int]:
    """Evaluate `source`, expecting a refusal; return the error and the peak traced memory.

    tracemalloc counts every thread's allocations, so the least of three tries is taken: a
    bomb that allocated would show in all three.
    """
    peaks = []
    for _ in range(3):
        tracemalloc.start()
        try:
            with pytest.raises(ExpressionError) as raised:
                expressions.evaluate(source, data)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return raised.value, min(peaks)


@pytest.fixture
def limits():
    """Let a test set its own limits; put the defaults back afterwards."""
    previous = expressions.configure(Limits())
    yield expressions.configure
    expressions.configure(previous)


TOO_LONG = "would be longer than 100000 items or characters"
TOO_WIDE = "would be wider than 4096 bits"


@pytest.mark.parametrize(("source", "data", "why"), [
    ("'a' * 1000000000", {}, TOO_LONG),
    ("1000000000 * 'a'", {}, TOO_LONG),
    ("[1] * 1000000000", {}, TOO_LONG),
    ("(1,) * 1000000000", {}, TOO_LONG),
    ("word * times", {"word": "a", "times": 10**9}, TOO_LONG),
    ("[[1] * 100000] * 100000", {}, TOO_LONG),
    ("[record] * 1000", {"record": {"name": "x" * 1000}}, TOO_LONG),
    ("'%.999999999f' % 1.0", {}, TOO_LONG),
    ("'%999999999s' % 'x'", {}, TOO_LONG),
    ("'%((a)s)999999999s' % {'(a)s': 1}", {}, TOO_LONG),
    ("template % 1.0", {"template": "%." + "9" * 12 + "f"}, TOO_LONG),
    ("'%*s' % (999999999, 'x')", {}, "'*' widths are not allowed"),
    ("text + text", {"text": "a" * 60000}, TOO_LONG),
    ("items + items", {"items": [0] * 60000}, TOO_LONG),
    ("x * x", {"x": 1 << 4000}, TOO_WIDE),
    ("int(digits)", {"digits": "9" * 4200}, "int() of a text longer than 4096 characters"),
    ("int(bits, 2)", {"bits": "1" * 100000}, "int() of a text longer than 4096 characters"),
    ("int(bits, 36)", {"bits": "z" * 4000}, TOO_WIDE),
    ("round(7, -1000000000)", {}, "round() to more than 4096 digits"),
])
def test_result_bombs_are_refused_before_allocating(source, data, why):
    error, peak = _peak_while_refused(source, data)
    assert why in str(error)
    assert "\n" not in str(error)
    assert peak < FEW_MEGABYTES


@pytest.mark.parametrize("source", [
    "-" * 1990 + "1",
    "+".join(["1"] * 999),
    "not " * 400 + "count",
])
def test_deep_expressions_are_refused_not_a_recursion_error(source):
    for check in (lambda: expressions.evaluate(source, {"count": 1}),
                  lambda: expressions.validate_expression(source),
                  lambda: expressions.execute(f"x={source}", {"count": 1})):
        with pytest.raises(ExpressionError, match="nested deeper than 50 levels"):
            check()


def test_compiler_recursion_becomes_an_expression_error(limits):
    limits(Limits(max_depth=100_000))
    with pytest.raises(ExpressionError, match="nested too deeply"):
        expressions.evaluate("-" * 1990 + "1", {})


def test_parser_recursion_becomes_an_expression_error(monkeypatch):
    def exhausted(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(expressions.ast, "parse", exhausted)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        expressions.validate_expression("1 + 1")


def test_limits_are_configurable(limits):
    limits(Limits(max_result_size=5, max_int_bits=8, max_depth=3))
    assert expressions.evaluate("'ab' * 2", {}) == "abab"
    assert expressions.evaluate("15 * 15", {}) == 225
    assert expressions.evaluate("count", {"count": 1}) == 1
    for source, why in [("'ab' * 3", "longer than 5"), ("'abc' + 'abc'", "longer than 5"),
                        ("'%6s' % 'x'", "longer than 5"), ("16 * 16", "wider than 8 bits"),
                        ("count + 1", "deeper than 3")]:
        with pytest.raises(ExpressionError, match=why):
            expressions.evaluate(source, {"count": 1})


@pytest.mark.parametrize(("source", "why"), [
    (f"add_working_days({START}, 1000000000)", "at most 3660 working days"),
    (f"add_working_days({START}, -1000000000)", "at most 3660 working days"),
    (f"add_working_days({START}, '5')", "whole number of days, not str"),
    (f"add_working_days({START}, 2.5)", "whole number of days, not float"),
    (f"add_working_days({START}, True)", "whole number of days, not bool"),
])
def test_add_working_days_in_expressions_is_bounded(source, why):
    with pytest.raises(ExpressionError, match=why):
        expressions.evaluate(source, {})


def test_calendar_refuses_absurd_working_days():
    assert calendar.add_working_days(MONDAY, calendar.MAX_WORKING_DAYS).year == 2041
    for days in (calendar.MAX_WORKING_DAYS + 1, 10**9, -(10**9)):
        with pytest.raises(ValueError, match="beyond the bound of 3660"):
            calendar.add_working_days(MONDAY, days)


@pytest.mark.parametrize(("duration", "why"), [
    ("999999999WD", "beyond the bound"),
    ("P99999999D", "longer than 3660 days"),
    ("PT999999999999H", "longer than 3660 days"),
    ("P3661D", "longer than 3660 days"),
    ("9" * 5000 + "WD", "unknown duration"),
])
def test_deadline_refuses_absurd_durations(duration, why):
    with pytest.raises(ValueError, match=why):
        calendar.deadline(MONDAY, duration)


def test_bomb_in_a_gateway_condition_becomes_an_incident():
    specs = engine.parse_specs([FIXTURES / "expression_bomb.bpmn"], ["expression_bomb"])
    _, snap = engine.start(specs["expression_bomb"], {"word": "a", "times": 10**9})
    assert snap.status == "incident"
    assert snap.incident["task"] == "choose"
    assert "repetition would be longer than 100000" in snap.incident["error"]
