"""A client that knows only the API contract and the forms' JSON Schemas drives every deployed
regulation from its start form to an outcome, choosing any allowed value of each enum and
boolean (seeded choices, several walks each)."""

import random
import zlib

import pytest

from tests import portal

WALKS = 4  # per regulation, each with its own seed
MAX_STEPS = 80
TRIES = 6  # a form refused (422) is filled again with other choices


def _value(schema: dict, rng: random.Random):
    """Return a value a schema allows, from what it declares: const, enum, examples, type."""
    if "const" in schema:
        return schema["const"]
    choices = schema.get("enum") or ([True, False] if schema.get("type") == "boolean" else None)
    if choices:
        return rng.choice(choices)
    if schema.get("type") == "object":
        return fill(schema, rng)
    if schema.get("examples"):
        return rng.choice(schema["examples"])
    return schema.get("default")


def fill(schema: dict, rng: random.Random, **chosen) -> dict:
    """Fill a form's schema: every field it describes, with the values `chosen` given."""
    data = {}
    for name, prop in (schema.get("properties") or {}).items():
        if name in chosen:
            data[name] = chosen[name]
            continue
        if prop.get("readOnly"):
            continue
        value = _value(prop, rng)
        if value is not None:
            data[name] = value
    return data


def _post_until_accepted(api, user, path, *, schema, rng, body, chosen=None):
    """POST a filled form; on 422 fill it again (another choice may be what the form needs)."""
    answer = None
    for _ in range(TRIES):
        answer = api.post(user, path, json=body(fill(schema, rng, **(chosen or {}))))
        if answer.status_code != 422:
            return answer
    return answer


def _start(api, process: dict, rng):
    roles = process["roles_allowed_to_start"]
    schema = api.get(roles[0], f"/processes/{process['key']}").json["start_form"]["schema"]
    channels = (schema.get("properties", {}).get("channel") or {}).get("enum")
    chosen = {"channel": rng.choice(channels)} if channels else {}
    user = portal.CHANNEL_ROLES.get(chosen.get("channel"), rng.choice(roles))
    started = _post_until_accepted(api, user, "/instances", schema=schema, rng=rng,
                                   chosen=chosen,
                                   body=lambda data: {"process": process["key"], "data": data})
    assert started.status_code == 201, (process["key"], started.json)
    return started.json["id"]


def _walk(api, process: dict, seed: int) -> dict:
    rng = random.Random(seed)  # noqa: S311 - choices of form values, not secrets
    instance_id = _start(api, process, rng)
    for _ in range(MAX_STEPS):
        instance = api.get("auditor", f"/instances/{instance_id}").json
        if instance["status"] != "running":
            return instance
        ready = [t for t in instance["tasks"] if t["state"] == "ready"]
        assert ready, (process["key"], "running with nothing ready", instance["waits_for"])
        task = ready[0]
        detail = api.get(task["lane"], f"/tasks/{task['id']}")
        assert detail.status_code == 200, (process["key"], task, detail.json)
        form = detail.json["form"]["schema"]
        if not task["assignee"]:
            assert api.post(task["lane"], f"/tasks/{task['id']}/claim").status_code == 200
        answer = _post_until_accepted(api, task["lane"], f"/tasks/{task['id']}/complete",
                                      schema=form, rng=rng, body=lambda data: {"data": data})
        assert answer.status_code == 200, (process["key"], task["bpmn_id"], answer.json)
    pytest.fail(f"{process['key']}: no outcome after {MAX_STEPS} steps")


def test_every_regulation_can_be_driven_to_an_outcome_from_its_schemas(api):
    processes = api.get("auditor", "/processes").json
    assert processes
    outcomes = {}
    for process in processes:
        for walk in range(WALKS):
            instance = _walk(api, process, seed=zlib.crc32(f"{process['key']}/{walk}".encode()))
            assert instance["status"] in ("completed", "incident"), instance["status"]
            assert instance["status"] == "completed", (process["key"], instance["incident"])
            outcomes.setdefault(process["key"], set()).add(instance["outcome"])
    assert all(outcomes.values())
