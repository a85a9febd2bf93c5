"""The issuer of a licence, permit or certificate is the provider of the case's regulation.

The shared fragments (issue_licence in almaty_2015_review and east_kazakhstan_2016_procedure, the
head's signature, the Almaty 2019 review) serve regulations of different providers, so the issuer
comes from the start data (`service_provider`, set from the process's `provider_kk`) through the
call activities to the handlers, never from a constant. Regulations of four providers are run
here through the API to their positive result, and the document and its signed XML are read.
"""

import inspect
from pathlib import Path

import pytest
from lxml import etree

import handlers
from app.diagram import NS
from app.diagram import read_processes
from handlers import xmldoc
from tests import portal
from tests.paths import ISSUE

BPMN = Path(__file__).resolve().parent.parent / "bpmn"
BIN = "150140000012"
SITE = "Almaty, Medeu district, Al-Farabi avenue 77, cadastral No 20-311-011-123"
ISSUING_HANDLERS = ("licensing/issue_licence", "eds/sign_document")

# the Almaty 2015 provider-office path to the signed licence (seed 004, steps 1-13)
ALMATY_2015_OFFICE_LICENCE = [
    ("office", "accept_documents", {"page_count": 12, "inventory_copy_given": True}),
    ("office", "register_in_edms", {"incoming_number": "IN-2015/0001"}),
    ("executor", "enter_request", {"service_selected": True}),
    ("executor", "fill_request_form", {"page_count": 12, "documents_attached": True}),
    ("executor", "check_compliance", {"complies": True, "conclusions": "No objections"}),
    ("head", "sign_licence", {"confirm_signature": True}),
]
# the Almaty 2019 provider's procedure to a positive, signed result (para 5 items 1-6)
ALMATY_2019_PERMIT = [
    ("office", "register_application", {"incoming_number": "IN-2026/0001"}),
    ("head", "consider_application", {"resolution": "To the deputy head"}),
    ("head", "check_requirements", {"resolution": "To the department for execution"}),
    ("executor", "prepare_result", {"documents_compliant": True, "minerals_present": False,
                                    "findings": "Checked against the Standard"}),
    ("head", "endorse_result", {"endorsed": True}),
    ("head", "sign_result", {"confirm_signature": True}),
]


def _provider(key: str) -> str:
    """The provider the regulation's diagram names (what its page shows)."""
    return read_processes(BPMN / f"{key}.bpmn")[key]["about"]["provider_kk"]


def _east_kazakhstan_survey(api, base):
    return "operator", {"applicant_iin_bin": BIN, "licence_case": "issue"}, ISSUE


def _almaty_2015_medical(api, base):
    data = {"applicant_iin_bin": BIN, "applicant_name": "Shygys Survey LLP",
            "licence_case": "issue", "channel": "provider_office"}
    return "office", data, ALMATY_2015_OFFICE_LICENCE


def _almaty_2019_permit(api, base):
    key = "mineral_areas_construction_permit_almaty_2019"
    signed = {"applicant_iin_bin": BIN, "site_address": SITE, "service_key": key,
              "service_version": portal.service_version(api, key)}
    data = {"applicant_iin_bin": BIN, "site_address": SITE, "attached_documents": ["a.pdf"],
            "portal_session": portal.session_for(base, BIN),
            "signed_request": portal.signed_request(base, BIN, signed)}
    return "portal", data, ALMATY_2019_PERMIT


def _technical_supervision(api, base):
    data = {"applicant_iin_bin": BIN, "organisation_name": "TOO Qurylys Saraptama",
            "attached_documents": ["a.pdf"]}
    return "portal", data, []  # no person acts: registered, then signed by the head's key


# (process, how to reach its result, outcome, the unsigned document the handlers returned)
CASES = [
    ("survey_license_east_kazakhstan_2016", _east_kazakhstan_survey, "licence_issued",
     "licence", "licence_signature"),
    ("medical_activity_license_almaty_2015", _almaty_2015_medical, "licence_at_office",
     "licence", "licence_signature"),
    ("mineral_areas_construction_permit_almaty_2019", _almaty_2019_permit, "permit_issued",
     None, "result_signature"),
    ("technical_supervision_accreditation_kz_2019", _technical_supervision, "certificate_issued",
     None, "result_signature"),
]


def test_the_regulations_run_here_have_four_different_providers():
    assert len({_provider(key) for key, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize(("key", "application", "outcome", "document", "signature"), CASES)
def test_the_issued_document_names_the_regulations_provider(  # noqa: PLR0917
        api, state_systems, key, application, outcome, document, signature):
    starter, data, steps = application(api, state_systems.url)
    answer = api.post(starter, "/instances", json={"process": key, "data": data})
    assert answer.status_code == 201, answer.json
    api.walk(answer.json["id"], steps)
    instance = api.get("auditor", f"/instances/{answer.json['id']}").json
    assert (instance["status"], instance["outcome"]) == ("completed", outcome)
    provider = _provider(key)
    assert instance["data"]["service_provider"] == provider
    if document:
        assert instance["data"][document]["document"]["issuer"] == provider
    signed = xmldoc.from_xml(instance["data"][signature]["signed_xml"])
    assert signed["issuer"] == provider


def test_the_applicant_cannot_name_the_issuer(api):
    data = {"applicant_iin_bin": BIN, "licence_case": "issue",
            "service_provider": "Someone else's department"}
    answer = api.post("operator", "/instances",
                      json={"process": "survey_license_east_kazakhstan_2016", "data": data})
    assert answer.status_code == 422
    assert "service_provider" in answer.json["errors"]


def _processes():
    for path in sorted(BPMN.glob("*.bpmn")):
        yield from etree.parse(str(path)).getroot().iterfind("bpmn:process", NS)


def test_every_regulation_names_its_provider():
    unnamed = [key for path in sorted(BPMN.glob("*.bpmn"))
               for key, manifest in read_processes(path).items()
               if manifest["is_regulation"] and not manifest["about"].get("provider_kk")]
    assert unnamed == []


def _service_tasks():
    """Yield (process id, task id, operator id, {parameter: expression}) of every service task."""
    for process in _processes():
        for operator in process.iterfind(".//spiffworkflow:serviceTaskOperator", NS):
            task = operator.getparent().getparent()
            parameters = {p.get("id"): p.get("value")
                          for p in operator.iterfind(".//spiffworkflow:parameter", NS)}
            yield process.get("id"), task.get("id"), operator.get("id"), parameters


def test_every_service_task_gives_its_handler_exactly_its_parameters():
    wrong = []
    for process, task, operator, parameters in _service_tasks():
        accepted = inspect.signature(handlers.HANDLERS[operator]).parameters
        required = {name for name, p in accepted.items() if p.default is inspect.Parameter.empty}
        if not required <= set(parameters) <= set(accepted) - {"idempotency_key"}:
            wrong.append((process, task, sorted(set(parameters) ^ required)))
    assert wrong == []


def test_every_issuing_service_task_takes_the_issuer_from_the_service():
    issuing = [(process, task, parameters.get("issuer"))
               for process, task, operator, parameters in _service_tasks()
               if operator in ISSUING_HANDLERS]
    assert len(issuing) == 11  # 3 licence issues, 8 signatures of results
    assert {issuer for *_, issuer in issuing} == {"service_provider"}
