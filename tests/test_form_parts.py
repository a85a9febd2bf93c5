"""Shared form parts: written once in forms/_parts, `$ref`-ed, resolved, kept with each version."""

import json
import shutil
from pathlib import Path

import pytest

from app import definitions
from app import form_parts
from app import forms
from app.diagram import DiagramError
from app.models import db
from tests.conftest import Api
from tests.paths import PROCESS
from tests.test_definitions import _deploy
from tests.test_definitions import _edit_json
from tests.test_definitions import _versions
from tests.test_definitions import folders  # noqa: F401 - fixtures used by name
from tests.test_definitions import own_app  # noqa: F401

ROOT = Path(__file__).parent.parent
PARTS = ROOT / "forms" / forms.PARTS
FORM = "forms/p/start.schema.json"
PART = "forms/_parts/person.schema.json"
PERSON = {"$defs": {"iin": {"type": "string", "title": "IIN", "pattern": "^[0-9]{12}$"},
                    "name": {"type": "string", "title": "Name", "minLength": 2},
                    "named": {"$ref": "#/$defs/name", "title": "Named"},
                    "loop": {"$ref": "#/$defs/loop"}}}


def _resolve(value, part=PERSON):
    return form_parts.resolve(FORM, value, {PART: json.dumps(part)})


def test_a_reference_is_replaced_by_the_part_and_keys_beside_it_narrow_it():
    assert _resolve({"$ref": "../_parts/person.schema.json#/$defs/iin"}) == PERSON["$defs"]["iin"]
    narrowed = _resolve({"$ref": "../_parts/person.schema.json#/$defs/name", "maxLength": 9})
    assert narrowed == {"type": "string", "title": "Name", "minLength": 2, "maxLength": 9}
    # a part may use a part (here its own file); references nest inside any value
    nested = _resolve({"properties": {"a": {"$ref": "../_parts/person.schema.json#/$defs/named"}},
                       "allOf": [{"$ref": "../_parts/person.schema.json#/$defs/iin"}]})
    assert nested["properties"]["a"] == {"type": "string", "title": "Named", "minLength": 2}
    assert nested["allOf"] == [PERSON["$defs"]["iin"]]
    assert _resolve({"$defs": {"x": {"const": 1}}, "properties": {"x": {"$ref": "#/$defs/x"}}}
                    )["properties"]["x"] == {"const": 1}


@pytest.mark.parametrize(("ref", "says"), [
    ("../_parts/person.schema.json#/$defs/age", "names nothing in its file"),
    ("../_parts/nobody.schema.json#/$defs/iin", "no file forms/_parts/nobody.schema.json"),
    ("../../app/config.json#/x", "leaves forms/"),
    ("https://example.org/schema.json#/x", "must be a relative path"),
    ("/etc/passwd.json", "must be a relative path"),
    ("../_parts/person.schema.json#$defs", "needs a JSON Pointer"),
    ("../_parts/person.schema.json#/$defs/loop", "nests more than"),
])
def test_a_bad_reference_is_refused_naming_the_file_and_the_reference(ref, says):
    with pytest.raises(form_parts.PartError) as refused:
        _resolve({"$ref": ref})
    assert str(refused.value).startswith((FORM, PART)) and says in str(refused.value)


def test_every_shared_definition_is_used_by_two_forms_or_more_and_nothing_is_served_unresolved():
    texts = forms.read_folder(ROOT / "forms")
    uses = {}
    for name, text in texts.items():
        for ref in form_parts.references(json.loads(text)):
            uses.setdefault(ref, set()).add(name.removesuffix(forms.UI).removesuffix(forms.SCHEMA))
    assert {ref.split("/")[-1] for ref in uses} >= {"applicant_iin_bin", "portal_session"}
    for path in sorted(PARTS.glob("*.schema.json")):
        for name in json.loads(path.read_text(encoding="utf-8"))["$defs"]:
            users = {form for ref, users in uses.items() if ref.endswith(f"/{name}")
                     for form in users}
            assert len(users) >= 2, f"{path.name} {name} is used by {sorted(users)}"
    for form in forms.from_sources(texts).values():
        assert "$ref" not in json.dumps(form.as_dict())


def test_the_api_serves_a_start_form_with_its_parts_inlined_in_every_language(client):
    shown = Api(client).get("operator", f"/processes/{PROCESS}").json["start_form"]
    iin = shown["schema"]["properties"]["applicant_iin_bin"]
    assert iin["format"] == "iin-bin" and iin["pattern"] == "^[0-9]{12}$"
    assert set(shown["ui"]["fields"]["applicant_iin_bin"]["label"]) == {"kk", "ru", "en"}
    assert shown["schema"]["properties"]["channel"]["enum"] == ["state_corporation", "portal"]


def _rename_part_field(folders, title: str) -> None:  # noqa: F811 - the fixture's name
    _edit_json(folders[1] / forms.PARTS / "applicant.schema.json",
               lambda part: part["$defs"]["applicant_iin_bin"].update({"title": title}))


def test_changing_a_part_deploys_every_regulation_that_uses_it_and_keeps_running_cases(
        own_app, folders, make_app, tmp_path):  # noqa: F811
    with own_app.app_context():
        users = {key for key, uses in _part_users(folders[1]).items() if uses}
        before = {r.key: r.version for r in definitions.latest_definitions()}
    _rename_part_field(folders, "Applicant IIN/BIN (v2)")
    with own_app.app_context():
        created = {r.key for r in _deploy(own_app)}
        assert created == users and PROCESS in created
        v1, v2 = _versions()
        assert "(v2)" in v2.sources["forms/_parts/applicant.schema.json"]
        assert "(v2)" not in v1.sources["forms/_parts/applicant.schema.json"]
        assert {r.key: r.version for r in definitions.latest_definitions()} == {
            key: version + (key in users) for key, version in before.items()}
    # a fresh app whose forms folder is gone: each version serves its own part
    app = make_app(tmp_path / "app", BPMN_DIR=str(folders[0]), FORMS_DIR=str(folders[1]))
    shutil.rmtree(folders[1])
    api = Api(app.test_client())
    shown = api.get("operator", f"/processes/{PROCESS}").json["start_form"]["schema"]
    assert shown["properties"]["applicant_iin_bin"]["title"] == "Applicant IIN/BIN (v2)"
    with app.app_context():
        old = definitions.DefinitionCache().get(v1.id).form(PROCESS, "start").schema
    assert old["properties"]["applicant_iin_bin"]["title"] == "Applicant IIN/BIN"


def _part_users(forms_dir: Path) -> dict[str, bool]:
    """Return {regulation key: whether any form it reaches uses the applicant part}."""
    with_part = {name.split("/")[1] for name, text in forms.read_folder(forms_dir).items()
                 if "_parts/applicant.schema.json" in text}
    found = {}
    for row in definitions.latest_definitions():
        found[row.key] = bool(with_part & set(row.manifest["processes"]))
    return found


def test_a_broken_reference_refuses_the_deploy_and_the_cli_says_it_in_one_line(own_app, folders):  # noqa: F811
    start = folders[1] / PROCESS / "start.schema.json"
    _edit_json(start, lambda schema: schema["properties"]["applicant_iin_bin"].update(
        {"$ref": "../_parts/applicant.schema.json#/$defs/passport"}))
    with own_app.app_context():
        with pytest.raises(DiagramError, match="names nothing in its file"):
            _deploy(own_app)
        db.session.rollback()
    result = own_app.test_cli_runner().invoke(args=["deploy"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert f"forms/{PROCESS}/start.schema.json" in result.output


def test_a_field_from_a_part_keeps_its_own_message_for_the_first_problem(client):
    """The part's keywords keep their order (pattern before format), so "12345" gets the
    part's pattern message, not the check-digit one."""
    api = Api(client)
    refused = api.post("operator", "/instances", json={"process": PROCESS, "data": {
        "applicant_iin_bin": "12345", "licence_case": "issue", "channel": "state_corporation"}})
    assert refused.status_code == 422
    assert refused.json["errors"] == {"applicant_iin_bin": "IIN/BIN must be exactly 12 digits."}
