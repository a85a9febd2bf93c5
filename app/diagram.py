"""Read what the host needs from BPMN files, beside the engine: titles, lanes, step properties.

The result is a plain JSON "manifest" stored with each definition version, so inboxes,
deadlines and permissions never need the engine.
"""

from pathlib import Path

from lxml import etree

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
TASK_KINDS = ("userTask", "serviceTask", "scriptTask", "manualTask", "callActivity", "task")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)


class DiagramError(ValueError):
    """A BPMN file cannot be read; the message names the file and the problem."""


def parse_xml(path: Path) -> etree._Element:
    """Parse a BPMN file safely (no entities, no network)."""
    try:
        return etree.parse(str(path), _PARSER).getroot()
    except etree.XMLSyntaxError as err:
        raise DiagramError(f"{path.name}: not well-formed XML: {err}") from None


def properties(element) -> dict[str, str]:
    """Return the spiffworkflow:property name/value pairs of an element."""
    found = element.findall("bpmn:extensionElements/spiffworkflow:properties/"
                            "spiffworkflow:property", NS)
    return {p.get("name"): p.get("value", "") for p in found}


def _lanes(process) -> tuple[dict[str, str], dict[str, str]]:
    """Return ({lane id: lane name}, {flow node id: lane id}) for a process."""
    names, member = {}, {}
    for lane in process.iterfind(".//bpmn:lane", NS):
        names[lane.get("id")] = lane.get("name") or lane.get("id")
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            member[(ref.text or "").strip()] = lane.get("id")
    return names, member


def _process_manifest(process) -> dict:
    lane_names, lane_of = _lanes(process)
    tasks = {}
    for kind in TASK_KINDS:
        for el in process.iterfind(f"bpmn:{kind}", NS):
            props = properties(el)
            tasks[el.get("id")] = {
                "kind": kind, "name": el.get("name") or el.get("id"),
                "lane": lane_of.get(el.get("id")),
                "regulation_step": props.get("regulation_step"), "duration": props.get("duration"),
                "called": el.get("calledElement"),
            }
    starts = process.findall("bpmn:startEvent", NS)
    return {"lanes": lane_names, "tasks": tasks,
            "start_lanes": sorted({lane_of[s.get("id")] for s in starts if s.get("id") in lane_of})}


def read_processes(path: Path) -> dict[str, dict]:
    """Return {process id: manifest} for every executable process in a BPMN file."""
    root = parse_xml(path)
    found = {}
    for process in root.iterfind("bpmn:process", NS):
        if process.get("isExecutable") != "true":
            continue
        props = properties(process)
        manifest = _process_manifest(process)
        manifest["title"] = {lang: props.get(f"title_{lang}") or process.get("name") or
                             process.get("id") for lang in ("kk", "ru", "en")}
        manifest["regulation"] = props.get("regulation")
        manifest["is_regulation"] = "title_en" in props
        if props.get("start_roles"):
            manifest["start_lanes"] = sorted(props["start_roles"].split())
        found[process.get("id")] = manifest
    return found
