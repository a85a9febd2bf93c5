"""Conventions that keep diagrams, forms, handlers and layers in step."""

import ast
import datetime
import subprocess
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

import handlers
from app import forms as form_files
from app.diagram import NS
from app.diagram import properties
from app.timing import calendar

ROOT = Path(__file__).parent.parent
DI = "http://www.omg.org/spec/BPMN/20100524/DI"
DIAGRAMS = sorted((ROOT / "bpmn").glob("*.bpmn"))
FORMS = form_files.from_sources(form_files.read_folder(ROOT / "forms"))  # $refs resolved


def _elements(kind):
    for path in DIAGRAMS:
        for process in etree.parse(str(path)).getroot().iterfind("bpmn:process", NS):
            for element in process.iterfind(f".//bpmn:{kind}", NS):
                yield process.get("id"), element


def test_every_service_task_has_a_handler_and_every_handler_is_used():
    operators = {op.get("id") for _, task in _elements("serviceTask")
                 for op in task.iterfind(".//spiffworkflow:serviceTaskOperator", NS)}
    assert operators == set(handlers.HANDLERS)


def test_every_user_task_has_a_form_and_every_form_a_user_task():
    tasks = {f"{pid}/{task.get('id')}" for pid, task in _elements("userTask")}
    starts = {f"{p.get('id')}/start" for path in DIAGRAMS
              for p in etree.parse(str(path)).getroot().iterfind("bpmn:process", NS)
              if (ROOT / "forms" / p.get("id") / "start.schema.json").exists()}
    assert set(FORMS) == tasks | starts
    layouts = {str(p.relative_to(ROOT / "forms")).removesuffix(".ui.json")
               for p in (ROOT / "forms").glob("*/*.ui.json")
               if p.parent.name != form_files.PARTS}
    assert layouts == set(FORMS)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_field_has_a_valid_example(form):
    schema = FORMS[form].schema
    Draft202012Validator.check_schema(schema)
    example = {}
    for name, prop in schema["properties"].items():
        assert prop.get("examples"), f"{name} has no examples"
        example[name] = prop["examples"][0]
    assert not list(Draft202012Validator(schema).iter_errors(example))


def test_every_user_task_stands_in_a_lane():
    for pid, task in _elements("userTask"):
        process = task.getparent()
        refs = {r.text.strip() for r in process.iterfind(".//bpmn:flowNodeRef", NS)}
        assert task.get("id") in refs, f"{pid}/{task.get('id')} is in no lane"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_layers():
    """SpiffWorkflow only in the engine core; views above everything; lower packages never
    import the services, queries or views above them; no private names across modules."""
    upper = ("app.services", "app.queries", "app.views", "app.jobs")
    for path in sorted((ROOT / "app").rglob("*.py")):
        imported = _imports(path)
        if "core" not in path.parts:
            assert not any(n.startswith("SpiffWorkflow") for n in imported), path
        if {"core", "timing"} & set(path.parts):
            assert not any(n.startswith(upper) for n in imported), path
        if "views" not in path.parts and path.name != "__init__.py":
            assert not any(n.startswith("app.views") for n in imported), path
        private = [n for n in imported if n.startswith(("app.", "handlers."))
                   and n.rsplit(".", 1)[-1].startswith("_")]
        assert not private, (path, private)
    for path in sorted((ROOT / "handlers").rglob("*.py")):
        assert not any(n.split(".")[0] in ("flask", "app") for n in _imports(path)), path


def test_diagrams_read_cleanly_in_bpmn_js_and_pass_bpmnlint():
    node_modules = ROOT / "node_modules" / "bpmnlint"
    assert node_modules.exists(), "run ./qyzmet test: it installs the node packages (npm ci)"
    checked = subprocess.run(["node", str(ROOT / "tests" / "js" / "check_bpmn.mjs"),
                              *map(str, DIAGRAMS)], capture_output=True, text=True, check=False,
                             timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_step_task_says_its_step_and_duration_and_is_drawn():
    for path in DIAGRAMS:
        root = etree.parse(str(path)).getroot()
        drawn = {s.get("bpmnElement") for s in root.iter(f"{{{DI}}}BPMNShape")}
        drawn |= {e.get("bpmnElement") for e in root.iter(f"{{{DI}}}BPMNEdge")}
        for process in root.iterfind("bpmn:process", NS):
            for element in process:
                if element.get("id") and not element.tag.endswith(("laneSet", "extensionElements")):
                    assert element.get("id") in drawn, f"{path.name}: {element.get('id')} not drawn"
            for task in process.iterfind("bpmn:userTask", NS):
                props = properties(task)
                if "regulation_step" in props:  # one duration, or a case map of them
                    for part in props["duration"].split(";"):
                        calendar.deadline(datetime.datetime.now(datetime.UTC),
                                          part.partition("=")[2].strip() or part.strip())
