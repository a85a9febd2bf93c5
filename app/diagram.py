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
ANY_CASE = "*"  # the key of a fee that applies to every case
COUNTED, NOT_COUNTED = "counted", "not_counted"  # values of a process's `acceptance_day`
# start data the service sets from the deployed diagram, never the applicant
SERVICE_FIELDS = ("fee_mci", "service_key", "service_version", "service_provider")
# process properties shown on the regulation's page (kk and en where the catalog has both)
ABOUT = ("provider_kk", "provider_en", "region", "act", "channels")
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


def _fee(text: str) -> int:
    """Return a fee in whole MCI from text; raise ValueError unless it is a positive integer."""
    fee = int(text.strip())
    if fee < 1:
        raise ValueError(f"a fee must be at least 1 MCI, not {fee}")
    return fee


def parse_fee_mci(text: str) -> dict[str, int]:
    """Return {case: fee in MCI} from "issue=10; reissue=1" ("*" for a plain number: any case)."""
    if "=" not in text:
        return {ANY_CASE: _fee(text)}
    fees = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        case, _, fee = item.partition("=")
        if not case.strip() or case.strip() in fees:
            raise ValueError(f"case {case.strip()!r} is empty or given twice")
        fees[case.strip()] = _fee(fee)
    return fees


def fee_for(fees: dict[str, int] | None, case) -> int | None:
    """Return the fee in MCI for case from a manifest's fee_mci map, or None if none applies."""
    if not fees:
        return None
    return fees.get(case, fees.get(ANY_CASE)) if isinstance(case, str) else fees.get(ANY_CASE)


def _matches(key: str, case, data: dict) -> bool:
    """Tell whether a case map's key applies: `<field>:<value>` names a start field and its
    value (`channel:portal`), a plain key the case itself."""
    field, colon, value = key.partition(":")
    if colon:
        return field.strip() in data and str(data[field.strip()]) == value.strip()
    return isinstance(case, str) and key == case


def case_value(text: str | None, case, data: dict | None = None) -> str | None:
    """Return the value of a case map for `case` and the start `data`, or the plain text itself.

    A map is "issue=2WD; duplicate=1WD" (keyed by the case) or "channel:portal=1WD;
    channel:provider_office=2WD" (keyed by any start field's value), or both: the first key
    that applies wins, in the order written, and "*" when none does. None when nothing applies.
    """
    if not text or "=" not in text:
        return text or None
    fallback = None
    for item in filter(None, (part.strip() for part in text.split(";"))):
        key, _, value = (part.strip() for part in item.partition("="))
        if key == ANY_CASE:
            fallback = value if fallback is None else fallback
        elif _matches(key, case, data or {}):
            return value
    return fallback


def counts_acceptance_day(manifest: dict) -> bool:
    """Tell whether the regulation's working-day terms count the day of acceptance (the day a
    case or step begins): its process property `acceptance_day`, `counted` or `not_counted`.

    A regulation that says the day of acceptance is not counted sets `not_counted`; one that is
    silent sets `counted`. Without the property the day is not counted (the engine's default).
    """
    return manifest.get("acceptance_day") == COUNTED


def case_of(manifest: dict, data: dict):
    """Return the case an application is of: the start-data field the process names in its
    `case_field` property (`licence_case` by default)."""
    return (data or {}).get(manifest.get("case_field") or "licence_case")


def service_fields(manifest: dict, key: str, version: int, case) -> dict:
    """Return the start data the service sets: fee in MCI for case, service key and version,
    and `service_provider`, the regulation's provider as it names it (`provider_kk`): the issuer
    that the handlers stamp on its documents, passed on to the called fragments with the data.
    None when the diagram names no provider, so a handler that needs the issuer refuses.

    Raise LookupError if the regulation has fees but none for case.
    """
    fields = {"service_key": key, "service_version": version,
              "service_provider": (manifest.get("about") or {}).get("provider_kk")}
    if manifest.get("fee_mci"):
        fee = fee_for(manifest["fee_mci"], case)
        if fee is None:
            raise LookupError(f"The regulation sets no fee for the case {case!r}.")
        fields["fee_mci"] = fee
    return fields


def _fees(path: Path, process, props: dict[str, str]) -> dict[str, int] | None:
    """Return the process's fee_mci property as {case: MCI}; DiagramError if it is malformed."""
    if "fee_mci" not in props:
        return None
    try:
        return parse_fee_mci(props["fee_mci"])
    except ValueError as err:
        raise DiagramError(f"{path.name}: process {process.get('id')}: fee_mci "
                           f"{props['fee_mci']!r} is not 'N' or 'case=N; ...': {err}") from None


def _acceptance_day(path: Path, process, props: dict[str, str]) -> str | None:
    """Return the process's acceptance_day property; DiagramError unless a known value."""
    value = props.get("acceptance_day")
    if value not in (None, COUNTED, NOT_COUNTED):
        raise DiagramError(f"{path.name}: process {process.get('id')}: acceptance_day "
                           f"{value!r} is not '{COUNTED}' or '{NOT_COUNTED}'")
    return value


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
        manifest["fee_mci"] = _fees(path, process, props)
        manifest["terms"] = props.get("terms")  # the overall terms, a case map ("issue=15WD; …")
        manifest["case_field"] = props.get("case_field")  # the start field naming the case
        # whether working-day terms count the day they begin (see counts_acceptance_day)
        manifest["acceptance_day"] = _acceptance_day(path, process, props)
        # what the catalog page says of the service: who provides it, where, under which act
        manifest["about"] = {name: props[name] for name in ABOUT if props.get(name)}
        manifest["file"] = path.name
        if props.get("start_roles"):
            manifest["start_lanes"] = sorted(props["start_roles"].split())
        found[process.get("id")] = manifest
    return found
