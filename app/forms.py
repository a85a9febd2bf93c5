"""User-task forms: JSON Schema + layout files found by convention, validated on the server.

`forms/<process_id>/<task_id>.schema.json` and `<task_id>.ui.json`; the start form of a
process is `start`. Parts that several forms share are written once in `forms/_parts/` and
`$ref`-ed (app.form_parts). A deploy reads the forms and the parts they use with the diagrams and
stores them with the definition version (app.definitions), so a running case keeps the forms of
its own version. Errors come back as {field: message}, ready for a 422 or the page.
"""

import functools
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema import FormatChecker
from jsonschema.exceptions import SchemaError

from app import form_parts
from handlers import identifiers

START = "start"
PREFIX = "forms/"  # a definition version's form files: forms/<process>/<task>.schema.json
SCHEMA = ".schema.json"
UI = ".ui.json"
PARTS = "_parts"  # forms/_parts/: shared definitions, not the forms of a process
_INTEGER = re.compile(r"-?[0-9]{1,15}")  # ASCII digits only: "²".isdigit() is True
FORMATS = FormatChecker()


@FORMATS.checks("iin-bin")
def _is_iin_bin(value) -> bool:
    """Check a 12-digit IIN or BIN with its check digit (forms mark it `format: iin-bin`)."""
    return not isinstance(value, str) or identifiers.is_valid_iin_bin(value)


@dataclass(frozen=True)
class Form:
    """A form's JSON Schema and its layout (labels in kk/ru/en)."""

    schema: dict
    ui: dict

    @cached_property
    def validator(self) -> Draft202012Validator:
        """Return the schema's validator, built once per form."""
        return Draft202012Validator(self.schema, format_checker=FORMATS)

    def as_dict(self) -> dict:
        """Return the form as the API shows it."""
        return {"schema": self.schema, "ui": self.ui}


class FormMissing(LookupError):
    """No form file exists for a user task."""


class FormError(ValueError):
    """A form file is unreadable, not JSON, or its schema is not a Draft 2020-12 JSON Schema."""


def _json_object(name: str, text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise FormError(f"{name}: not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise FormError(f"{name}: must be a JSON object")
    return value


@functools.lru_cache(maxsize=1024)
def _schema_problem(schema_text: str) -> str | None:
    """Return where and why a (JSON object) schema text is not a valid schema, or None.

    Checked once per text: every deploy reads every form again, and checking a schema costs
    more than reading it.
    """
    try:
        Draft202012Validator.check_schema(json.loads(schema_text))
    except SchemaError as err:
        return f"at {'/'.join(map(str, err.path)) or '(root)'}: {err.message}"
    return None


def parse(name: str, schema_text: str, ui_text: str | None = None,
          sources: dict[str, str] | None = None) -> Form:
    """Return the form of a schema text (and its layout text); FormError names `name`.

    `$ref`s to shared parts are resolved against `sources` ({"forms/…": text}).
    """
    ui_name = name.removesuffix(SCHEMA) + UI
    try:
        schema = form_parts.resolve(name, _json_object(name, schema_text), sources or {})
        ui = (form_parts.resolve(ui_name, _json_object(ui_name, ui_text), sources or {})
              if ui_text is not None else {})
    except form_parts.PartError as err:
        raise FormError(str(err)) from None
    problem = _schema_problem(json.dumps(schema, sort_keys=True))
    if problem:
        raise FormError(f"{name}: not a valid JSON Schema (Draft 2020-12) {problem}")
    return Form(schema, ui)


def _read(forms_dir: Path, name: str) -> str:
    try:
        return (forms_dir / name.removeprefix(PREFIX)).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FormError(f"{name}: cannot be read ({err})") from None


def read_folder(forms_dir: Path, process_ids=None) -> dict[str, str]:
    """Return {"forms/<process>/<file>": text} for the form files of the processes (or all),
    with the shared parts (forms/_parts/…) they reference.

    This is how a deploy takes the forms with the diagrams; nothing else reads form files.
    """
    forms_dir = Path(forms_dir)
    if process_ids is None:
        process_ids = ([p.name for p in forms_dir.iterdir() if p.name != PARTS]
                       if forms_dir.is_dir() else [])
    found = {}
    for pid in sorted(process_ids):
        for path in sorted((forms_dir / pid).glob("*.json")):
            if path.name.endswith((SCHEMA, UI)):
                name = f"{PREFIX}{pid}/{path.name}"
                found[name] = _read(forms_dir, name)
    pending = list(found)
    while pending:
        name = pending.pop()
        try:
            targets = {form_parts.target_file(name, ref)
                       for ref in form_parts.references(_json_object(name, found[name]))}
        except form_parts.PartError as err:
            raise FormError(str(err)) from None
        for target in sorted(targets - set(found)):
            found[target] = _read(forms_dir, target)
            pending.append(target)
    return dict(sorted(found.items()))


def from_sources(sources: dict[str, str]) -> dict[str, Form]:
    """Return {"<process>/<task>": Form} for the form files among a definition's sources."""
    found = {}
    for name, text in sorted(sources.items()):
        if (name.startswith(PREFIX) and name.endswith(SCHEMA)
                and not name.startswith(f"{PREFIX}{PARTS}/")):
            ui_text = sources.get(name.removesuffix(SCHEMA) + UI)
            found[name.removeprefix(PREFIX).removesuffix(SCHEMA)] = parse(name, text, ui_text,
                                                                          sources)
    return found


_TYPE_WORDS = {"integer": "a whole number", "number": "a number", "string": "text",
               "boolean": "yes or no", "object": "an object", "array": "a list"}
# Messages that never echo the submitted value: it may be huge, or not meant to be shown.
_MESSAGES = {
    "required": lambda error: "This field is required.",
    "const": lambda error: "Please confirm.",
    "maxLength": lambda error: f"Use at most {error.validator_value} characters.",
    "minLength": lambda error: f"Use at least {error.validator_value} characters.",
    "maximum": lambda error: f"Use at most {error.validator_value}.",
    "minimum": lambda error: f"Use at least {error.validator_value}.",
    "pattern": lambda error: "This is not in the expected format.",
    "enum": lambda error: "Choose one of: " + ", ".join(map(str, error.validator_value)) + ".",
    "type": lambda error: "Enter " + _TYPE_WORDS.get(str(error.validator_value), "a value") + ".",
    "format": lambda error: (
        "Not a valid IIN/BIN: 12 digits with a correct check digit."
        if error.validator_value == "iin-bin" else f"Not a valid {error.validator_value}."),
}


def _message(error) -> str:
    custom = error.schema.get("x-messages", {}) if isinstance(error.schema, dict) else {}
    if error.validator in custom:
        return custom[error.validator]
    if error.validator in _MESSAGES:
        return _MESSAGES[error.validator](error)
    if error.validator == "additionalProperties":
        unexpected = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return "Unexpected fields: " + ", ".join(name[:40] for name in unexpected[:5]) + "."
    return "This value is not accepted."


def validate(form: Form, data, role_of=None) -> dict[str, str]:
    """Return {field: message} for every problem in `data`; empty when valid.

    `role_of(username) -> set[str]` checks fields marked `"x-role": <role>`.
    """
    if not isinstance(data, dict):
        return {"_": "Form data must be a JSON object."}
    errors = {}
    for error in form.validator.iter_errors(data):
        if error.validator == "required":
            field = error.message.split("'")[1]
        elif error.validator == "additionalProperties":
            field = "_"
        else:
            field = error.path[0] if error.path else "_"
        errors.setdefault(str(field), _message(error))
    for name, prop in form.schema.get("properties", {}).items():
        role = prop.get("x-role")
        if role and name not in errors and name in data and role_of is not None:
            if role not in role_of(data[name]):
                errors[name] = f"No user '{str(data[name])[:40]}' with the role '{role}'."
    return errors


def with_defaults(form: Form, data):
    """Return `data` with the schema's `default` for every field it leaves out."""
    if not isinstance(data, dict):
        return data
    defaults = {name: prop["default"] for name, prop in form.schema.get("properties", {}).items()
                if "default" in prop and name not in data}
    return {**defaults, **data}


def role_fields(form: Form, data: dict) -> dict[str, str]:
    """Return {role: username} for the fields that assign people to a role."""
    return {prop["x-role"]: data[name] for name, prop in form.schema.get("properties", {}).items()
            if prop.get("x-role") and name in data}


def coerce(form: Form, fields: dict) -> dict:
    """Turn HTML form strings into the JSON types the schema asks for."""
    out = {}
    for name, prop in form.schema.get("properties", {}).items():
        kind, raw = prop.get("type"), fields.get(name)
        if kind == "boolean":
            if raw is not None:
                out[name] = raw in ("true", "on", "1", "yes")
            continue
        if raw is None or raw == "":
            continue
        if kind == "integer":
            out[name] = int(raw) if _INTEGER.fullmatch(raw) else raw
        else:
            out[name] = raw
    return out
