"""Secrets out of sight: portal session tokens and signed requests are shown only as a hash.

A form marks a secret field with JSON Schema's own `"writeOnly": true`; handlers declare the
parameters that carry secrets in `handlers.SECRET_PARAMETERS`. The workflow data keeps the raw
values (handlers and retries need them); the journal and the read views get `redact`ed copies,
which still prove by hash what was received.
"""

import hashlib
from collections.abc import Mapping
from pathlib import Path

import handlers
from app import forms
from app.audit import canonical_json


def _write_only(schema) -> set[str]:
    """Return the names of the writeOnly properties anywhere in a JSON Schema."""
    if isinstance(schema, list):
        return set().union(*map(_write_only, schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    names = {name for name, prop in (schema.get("properties") or {}).items()
             if isinstance(prop, dict) and prop.get("writeOnly") is True}
    return names.union(*map(_write_only, schema.values()))


def secret_names(forms_of) -> frozenset[str]:
    """Return the names whose values are secrets: writeOnly form fields and secret parameters.

    `forms_of` is a definition version's forms (`Form`s, or {name: Form}, as
    `LoadedDefinition.forms` holds them), or a folder of form files read as a deploy reads it.
    """
    if isinstance(forms_of, str | Path):
        forms_of = forms.from_sources(forms.read_folder(Path(forms_of)))
    if isinstance(forms_of, Mapping):
        forms_of = forms_of.values()
    names: set[str] = set()
    for form in forms_of:
        names |= _write_only(form.schema)
    return frozenset(names) | handlers.SECRET_PARAMETERS


def _is_redacted(value) -> bool:
    """Tell whether value is already a redaction marker (so it is not hashed twice)."""
    return (isinstance(value, dict) and set(value) == {"redacted", "sha256"}
            and value["redacted"] is True)


def digest(value) -> str:
    """Return the SHA-256 hex of a text's UTF-8 bytes, or of any other value's canonical JSON."""
    text = value if isinstance(value, str) else canonical_json(value)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def scrub(text: str, secrets) -> str:
    """Return text with every occurrence of a secret string in secrets replaced by [redacted]."""
    for secret in sorted((s for s in secrets if isinstance(s, str) and s), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


def redact(value, names: frozenset[str] | set[str]):
    """Return a deep copy of value with every dict entry named in names replaced by its hash."""
    if isinstance(value, dict):
        return {key: (item if _is_redacted(item) else {"redacted": True, "sha256": digest(item)})
                if key in names else redact(item, names) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, names) for item in value]
    return value
