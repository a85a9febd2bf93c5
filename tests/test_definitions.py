"""Forms are part of a definition version: deployed, fingerprinted, stored and kept with it."""

import json
import shutil
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

import handlers
from app import definitions
from app import forms
from app.audit import redaction
from app.diagram import DiagramError
from app.models import ProcessDefinition
from app.models import db
from app.timing import calendar
from tests.conftest import Api
from tests.paths import INTAKE
from tests.paths import PROCESS
from tests.paths import START

ROOT = Path(__file__).parent.parent
FORM = "forms/east_kazakhstan_2016_procedure/register_incoming.schema.json"
# the processes the survey licence reaches (its own, its intake, procedure and delivery fragments)
REACHED = {PROCESS, "state_corporation_intake", "portal_intake",
           "east_kazakhstan_2016_procedure", "east_kazakhstan_2016_delivery_state_corporation",
           "east_kazakhstan_2016_delivery_portal"}
V1_DATA = {"incoming_number": "IN-2026/0001", "receipt_issued": True}


@pytest.fixture
def folders(tmp_path):
    """Copy bpmn/ and forms/ to a temp folder; return (bpmn dir, forms dir)."""
    bpmn, forms_dir = tmp_path / "src" / "bpmn", tmp_path / "src" / "forms"
    shutil.copytree(ROOT / "bpmn", bpmn)
    shutil.copytree(ROOT / "forms", forms_dir)
    return bpmn, forms_dir


@pytest.fixture
def own_app(make_app, tmp_path, folders):
    """An app deploying from the temp copies of bpmn/ and forms/."""
    bpmn, forms_dir = folders
    return make_app(tmp_path / "app", BPMN_DIR=str(bpmn), FORMS_DIR=str(forms_dir))


def _versions(key: str = PROCESS) -> list[ProcessDefinition]:
    return list(db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                                   .order_by(ProcessDefinition.version)))


def _deploy(app) -> list[ProcessDefinition]:
    return definitions.deploy_directory(Path(app.config["BPMN_DIR"]), "test")


def _edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text(encoding="utf-8"))
    change(value)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2), encoding="utf-8")


def _stricter_register_form(forms_dir: Path) -> None:
    """Make v2's register_incoming form ask for a field v1's did not know."""
    def change(schema):
        schema["required"].append("register_page")
        schema["properties"]["register_page"] = {"type": "integer", "minimum": 1,
                                                 "examples": [1]}
    _edit_json(forms_dir / FORM.removeprefix("forms/"), change)


def test_a_version_stores_its_diagrams_and_the_forms_of_every_process_it_reaches(app):
    with app.app_context():
        [row] = _versions()
        names = set(row.sources)
        assert {"survey_license_east_kazakhstan_2016.bpmn", "state_corporation_intake.bpmn",
                "portal_intake.bpmn"} <= names
        on_disk = {f"forms/{p.parent.name}/{p.name}" for p in (ROOT / "forms").glob("*/*.json")
                   if p.parent.name in REACHED}
        stored = {n for n in names if n.startswith("forms/")}
        parts = {n for n in stored if n.startswith("forms/_parts/")}
        assert stored - parts == on_disk
        # exactly the shared parts the reached forms reference, and nothing unresolved is served
        referenced = {f"forms/_parts/{name}" for name in ("applicant.schema.json",
                      "applicant.ui.json", "portal.schema.json", "portal.ui.json",
                      "request.schema.json", "request.ui.json", "staff.schema.json",
                      "staff.ui.json")
                      if any(f"_parts/{name}" in row.sources[n] for n in on_disk)}
        assert parts == referenced and referenced
        assert row.sources[FORM] == (ROOT / FORM).read_text(encoding="utf-8")
        assert row.sha256 == definitions.digest_of(row.sources)
        fingerprint = row.manifest["fingerprint"]
        assert set(fingerprint) == {"bpmn", "forms", "handlers", "calendar"}
        assert fingerprint["bpmn"] == definitions.digest_of(
            {n: x for n, x in row.sources.items() if n.endswith(".bpmn")})
        assert fingerprint["bpmn"] != row.sha256 != fingerprint["forms"]


def test_deploying_the_same_files_twice_makes_no_new_version(own_app):
    with own_app.app_context():
        before = [(r.id, r.sha256) for r in definitions.all_definitions()]
        assert _deploy(own_app) == []
        assert _deploy(own_app) == []
        assert [(r.id, r.sha256) for r in definitions.all_definitions()] == before


@pytest.mark.parametrize("changed", ["register_incoming.schema.json", "register_incoming.ui.json"])
def test_changing_only_a_form_deploys_a_new_version(own_app, folders, changed):
    path = folders[1] / "east_kazakhstan_2016_procedure" / changed
    _edit_json(path, lambda value: value.update({"title": "Register the application (v2)"}))
    with own_app.app_context():
        [created] = [r for r in _deploy(own_app) if r.key == PROCESS]
        v1, v2 = _versions()
        assert (created.id, created.version) == (v2.id, 2)
        assert v2.sha256 != v1.sha256
        assert v2.manifest["fingerprint"]["bpmn"] == v1.manifest["fingerprint"]["bpmn"]
        assert v2.manifest["fingerprint"]["forms"] != v1.manifest["fingerprint"]["forms"]
        assert "(v2)" in v2.sources[f"forms/east_kazakhstan_2016_procedure/{changed}"]
        assert _deploy(own_app) == []


def _to_register(api: Api) -> tuple[str, str]:
    """Start a case and walk it to the office's register_incoming; return (instance, task)."""
    instance_id = api.start(START)
    api.walk(instance_id, INTAKE)
    return instance_id, api.ready_task("office", instance_id, "register_incoming")


def test_a_case_keeps_the_forms_of_its_version(own_app, make_app, tmp_path, folders):
    old_case, old_task = _to_register(Api(own_app.test_client()))
    _stricter_register_form(folders[1])
    with own_app.app_context():
        assert [r.version for r in _deploy(own_app) if r.key == PROCESS] == [2]
    # a fresh app (empty caches) whose forms folder then disappears: forms come from the versions
    app = make_app(tmp_path / "app", BPMN_DIR=str(folders[0]), FORMS_DIR=str(folders[1]))
    shutil.rmtree(folders[1])
    api = Api(app.test_client())
    assert api.get("office", f"/instances/{old_case}").json["version"] == 1
    shown = api.get("office", f"/tasks/{old_task}").json["form"]["schema"]
    assert "register_page" not in shown["properties"]

    new_case, new_task = _to_register(api)
    assert api.get("office", f"/instances/{new_case}").json["version"] == 2
    assert "register_page" in api.get("office", f"/tasks/{new_task}").json["form"]["schema"][
        "properties"]
    refused = api.post("office", f"/tasks/{new_task}/complete", json={"data": V1_DATA})
    assert refused.status_code == 422 and "register_page" in refused.json["errors"]

    done = api.post("office", f"/tasks/{old_task}/complete", json={"data": V1_DATA})
    assert done.status_code == 200, done.json
    ready = api.get("head", f"/tasks?instance={old_case}&state=ready").json
    assert [t["bpmn_id"] for t in ready] == ["assign_executor"]
    assert api.post("office", f"/tasks/{new_task}/complete",
                    json={"data": {**V1_DATA, "register_page": 3}}).status_code == 200


def test_the_start_form_is_the_newest_versions(own_app, folders):
    def change(schema):
        schema["properties"]["licence_case"]["title"] = "Case (v2)"
    _edit_json(folders[1] / PROCESS / "start.schema.json", change)
    with own_app.app_context():
        _deploy(own_app)
    process = Api(own_app.test_client()).get("operator", f"/processes/{PROCESS}").json
    assert process["version"] == 2
    assert process["start_form"]["schema"]["properties"]["licence_case"]["title"] == "Case (v2)"


@pytest.mark.parametrize(("text", "says"), [
    ('{"type": "objekt"}', "not a valid JSON Schema"),
    ('{"type": "object", "properties": {"a": {"minLength": "3"}}}', "properties/a/minLength"),
    ('{"type": "object",', "not valid JSON"),
    ('["type", "object"]', "must be a JSON object"),
])
def test_a_broken_form_schema_refuses_the_deploy_naming_the_file(own_app, folders, text, says):
    (folders[1] / FORM.removeprefix("forms/")).write_text(text, encoding="utf-8")
    with own_app.app_context():
        with pytest.raises(DiagramError) as refused:
            _deploy(own_app)
        assert FORM in str(refused.value) and says in str(refused.value)
        db.session.rollback()
        assert [r.version for r in _versions()] == [1]
    result = own_app.test_cli_runner().invoke(args=["deploy"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and FORM in result.output


def test_a_broken_layout_refuses_the_deploy_too(own_app, folders):
    ui = FORM.removesuffix(".schema.json") + ".ui.json"
    (folders[1] / ui.removeprefix("forms/")).write_text("{", encoding="utf-8")
    with own_app.app_context(), pytest.raises(DiagramError, match=ui):
        _deploy(own_app)


def _extra_handler(**_):
    """A handler that only this test registers."""
    return {}


def test_the_fingerprint_changes_with_each_component(app, monkeypatch):
    with app.app_context():
        sources = _versions()[0].sources
    base = definitions.fingerprint(sources)
    with app.app_context():
        assert base == _versions()[0].manifest["fingerprint"]

    def differs(fingerprint) -> set[str]:
        return {part for part in base if fingerprint[part] != base[part]}

    diagram = "survey_license_east_kazakhstan_2016.bpmn"
    changed_bpmn = {**sources, diagram: sources[diagram].replace("Intake channel?", "Channel?")}
    assert differs(definitions.fingerprint(changed_bpmn)) == {"bpmn"}
    changed_form = {**sources, FORM: sources[FORM].replace("20", "21")}
    assert differs(definitions.fingerprint(changed_form)) == {"forms"}
    more_handlers = {**handlers.HANDLERS, "test/extra": _extra_handler}
    assert differs(definitions.fingerprint(sources, more_handlers)) == {"handlers"}
    monkeypatch.setattr(calendar, "version", lambda: "kz-test-calendar", raising=False)
    assert differs(definitions.fingerprint(sources)) == {"calendar"}
    assert definitions.fingerprint(sources)["calendar"] == "kz-test-calendar"


def test_the_handlers_part_covers_the_source_of_the_handlers_modules(tmp_path, monkeypatch):
    module = tmp_path / "fingerprinted_handlers.py"
    module.write_text('"""v1."""\n\n\ndef call(**_):\n    """Answer."""\n    return {}\n',
                      encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fingerprinted_handlers", raising=False)
    import fingerprinted_handlers  # noqa: PLC0415 - a module written by this test

    registry = {"fingerprinted_handlers/call": fingerprinted_handlers.call}
    first = definitions.handlers_digest(registry)
    assert definitions.handlers_digest(registry) == first
    module.write_text('"""v2."""\n\n\ndef call(**_):\n    """Answer."""\n    return {"a": 1}\n',
                      encoding="utf-8")
    assert definitions.handlers_digest(registry) != first
    assert definitions.handlers_digest({"other/id": fingerprinted_handlers.call}) != first


def test_secret_names_come_from_the_versions_forms(app):
    rt = app.extensions["qyzmet"]
    with app.app_context():
        loaded = rt.definitions.get(_versions()[0].id)
    assert loaded.secrets == redaction.secret_names(ROOT / "forms")
    assert {"portal_session", "signed_request"} <= loaded.secrets
    assert loaded.secrets == redaction.secret_names(loaded.forms)


def test_a_version_deployed_before_forms_were_versioned_reads_them_once(own_app, folders):
    with own_app.app_context():
        [v1] = _versions()
        legacy = ProcessDefinition(
            key=PROCESS, version=2, sha256="0" * 64, deployed_by="before",
            sources={n: x for n, x in v1.sources.items() if n.endswith(".bpmn")},
            specs=v1.specs, manifest={k: v for k, v in v1.manifest.items() if k != "fingerprint"})
        db.session.add(legacy)
        db.session.commit()
        loaded = own_app.extensions["qyzmet"].definitions.get(legacy.id)
    shutil.rmtree(folders[1])
    on_disk = forms.from_sources(forms.read_folder(ROOT / "forms", REACHED))
    register = "east_kazakhstan_2016_procedure/register_incoming"
    assert loaded.form(*register.split("/")).schema == on_disk[register].schema
    with pytest.raises(LookupError, match="no form"):
        loaded.form(PROCESS, "no_such_task")
