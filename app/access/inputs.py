"""The input gate: what every request body must be before it reaches a service.

JSON bodies and web form fields are checked here, once, before anything reaches the engine,
a state system or the database: well-formed UTF-8 JSON without lone surrogates, nesting at
most `MAX_DEPTH` deep, integers a JSON number can hold exactly (±2^53−1), no NaN/Infinity,
strings of sane length. A failure is `BadInput` with the HTTP status to answer (400 for a
body that is not acceptable JSON at all, 422 for a value) and the field it concerns.
"""

import json

from werkzeug.exceptions import NotFound

MAX_DEPTH = 32
MAX_INTEGER = 2**53 - 1
MAX_STRING = 1_000_000  # characters; forms set tighter limits field by field


class BadInput(ValueError):
    """A request body or field is not acceptable; `status` is 400 or 422."""

    def __init__(self, message: str, *, status: int = 400, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


def _refuse_constant(name: str):
    raise BadInput(f"'{name}' is not a JSON number")


def parse_json(raw: bytes):
    """Return the JSON value of a request body; raise BadInput if it is not acceptable."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("the body is not UTF-8 text") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadInput(f"JSON is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as err:
        if isinstance(err, BadInput):
            raise
        raise BadInput(f"malformed JSON: {str(err)[:120]}") from None
    check(value)
    return value


def _field(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "_"


def _check_scalar(value, path: tuple) -> None:
    if isinstance(value, str):
        check_text(value, _field(path))
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        raise BadInput(f"integer out of range: use at most {MAX_INTEGER} in absolute value",
                       status=422, field=_field(path))


def check(value) -> None:
    """Raise BadInput unless a parsed JSON value is within the gate's limits (no recursion)."""
    todo = [(value, (), 1)]
    while todo:
        item, path, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise BadInput(f"JSON is nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            for key, inner in item.items():
                check_text(key, _field(path))
                todo.append((inner, (*path, key), depth + 1))
        elif isinstance(item, list):
            todo.extend((inner, (*path, i), depth + 1) for i, inner in enumerate(item))
        else:
            _check_scalar(item, path)


def check_text(text: str, field: str = "_") -> None:
    """Raise BadInput if `text` is not valid Unicode (a lone surrogate), holds NUL or is too long.

    NUL (U+0000) is refused on every database alike: PostgreSQL cannot store it in text.
    """
    if len(text) > MAX_STRING:
        raise BadInput(f"text longer than {MAX_STRING} characters", status=422, field=field)
    if "\x00" in text:
        raise BadInput("text holds a NUL character (U+0000)", status=422, field=field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput("text is not valid Unicode (it holds a lone surrogate)",
                       status=422, field=field) from None


def check_url(_endpoint, values) -> None:
    """Answer 404 for a path parameter holding NUL: no id holds it (PostgreSQL cannot).

    Registered with `app.url_value_preprocessor`, before every view.
    """
    if values and any(isinstance(v, str) and "\x00" in v for v in values.values()):
        raise NotFound()


def check_form(fields) -> None:
    """Raise BadInput if a submitted web form holds a field the gate refuses."""
    for name, value in fields.items(multi=True):
        check_text(name)
        check_text(value, name)


def count_arg(args, name: str, default: int) -> int:
    """Return the query argument `name` as a whole number 0…999,999,999, else BadInput (422)."""
    raw = args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise BadInput("a whole number is expected", status=422, field=name)
    return int(raw)
