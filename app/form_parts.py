"""Shared form parts: definitions written once in `forms/_parts/` and `$ref`-ed by forms.

A form file (schema or layout) may put `{"$ref": "../_parts/applicant.schema.json#/$defs/iin_bin"}`
wherever a value stands: a relative reference from the file that holds it, then a JSON Pointer.
Keys beside `$ref` replace the part's keys of the same name (write only ones that narrow it, such
as a smaller `enum`: JSON Schema would apply both). `"#/…"` refers within the same file.

References are resolved when forms are parsed, so every form the API serves and validates against
is self-contained, and a deploy stores the parts a version uses with its forms: a later change of a
part is a new version of every regulation that uses it, never a change under a running case.
"""

import json
import posixpath

MAX_DEPTH = 8  # a part may use another part; deeper than this is taken for a cycle


class PartError(ValueError):
    """A `$ref` that is malformed, leaves forms/, or names a missing file or place."""


def references(value) -> set[str]:
    """Return every `$ref` string in a parsed JSON value."""
    if isinstance(value, list):
        return set().union(*map(references, value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found = {value["$ref"]} if isinstance(value.get("$ref"), str) else set()
    return found.union(*map(references, value.values()))


def target_file(name: str, ref: str) -> str:
    """Return the source name ("forms/…") a reference in file `name` points into."""
    path = ref.partition("#")[0]
    if not path:
        return name
    if ":" in path or path.startswith("/") or not path.endswith(".json"):
        raise PartError(f"{name}: $ref '{ref[:80]}' must be a relative path to a .json file"
                        " in forms/")
    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), path))
    if not target.startswith("forms/"):
        raise PartError(f"{name}: $ref '{ref[:80]}' leaves forms/")
    return target


def _pointer(name: str, ref: str, document):
    """Return the value at the JSON Pointer after '#' in `ref` (the whole document if none)."""
    pointer = ref.partition("#")[2]
    if pointer and not pointer.startswith("/"):
        raise PartError(f"{name}: $ref '{ref[:80]}' needs a JSON Pointer after '#' (#/…)")
    value = document
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            raise PartError(f"{name}: $ref '{ref[:80]}' names nothing in its file")
    return value


def resolve(name: str, value, sources: dict[str, str], document=None, depth: int = 0):
    """Return `value` (found in file `name`) with every `$ref` replaced by what it names.

    `sources` maps "forms/…" names to file texts, as a deploy reads them; `document` is the
    parsed file `name` (for "#/…" references), `value` itself when not given.
    """
    document = value if document is None else document
    if isinstance(value, list):
        return [resolve(name, item, sources, document, depth) for item in value]
    if not isinstance(value, dict):
        return value
    rest = {key: resolve(name, item, sources, document, depth)
            for key, item in value.items() if key != "$ref"}
    ref = value.get("$ref")
    if not isinstance(ref, str):
        return rest
    if depth >= MAX_DEPTH:
        raise PartError(f"{name}: $ref '{ref[:80]}' nests more than {MAX_DEPTH} deep (a cycle?)")
    target = target_file(name, ref)
    if target == name:
        target_document = document
    elif target in sources:
        target_document = _load(target, sources[target])
    else:
        raise PartError(f"{name}: $ref '{ref[:80]}': no file {target}")
    found = resolve(target, _pointer(name, ref, target_document), sources, target_document,
                    depth + 1)
    if not isinstance(found, dict):
        if rest:
            raise PartError(f"{name}: $ref '{ref[:80]}' names a value, not an object, so"
                            " nothing may stand beside it")
        return found
    return {**found, **rest}


def _load(name: str, text: str):
    try:
        return json.loads(text)
    except ValueError as err:
        raise PartError(f"{name}: not valid JSON ({err})") from None
