"""The paths through the survey-licence regulation, as tables of (user, task, data).

The regulation's provider actions 1-7 are the fragment east_kazakhstan_2016_procedure, action 8
(send the result to the State Corporation) is in east_kazakhstan_2016_delivery_state_corporation;
tasks are found by their BPMN id whichever process they stand in.
"""

from reference.seed import UNKNOWN_VALID_IIN as UNKNOWN_IIN  # noqa: F401 - the README's

PASSWORD = "test-password"
PROCESS = "survey_license_east_kazakhstan_2016"
START = {"applicant_iin_bin": "150140000012", "licence_case": "issue"}
INTAKE = [("operator", "attach_documents",
           {"page_count": 12, "certified_with_eds": True})]
TO_QUALIFICATION = INTAKE + [
    ("office", "register_incoming", {"incoming_number": "IN-2026/0001", "receipt_issued": True}),
    ("head", "assign_executor", {"executor": "executor", "resolution": "Check and prepare"}),
    ("executor", "check_completeness", {"documents_complete": True}),
]
ISSUE = TO_QUALIFICATION + [
    ("executor", "check_qualification",
     {"qualification_met": True, "findings": "Staff and equipment meet the requirements"}),
    ("executor", "form_licence",
     {"licence_activity": "engineering_geodetic", "licence_category": "I"}),
    ("head", "sign_licence", {"confirm_signature": True}),
    ("executor", "send_result", {"sent_to_state_corporation": True}),
]
SEND = [("executor", "send_result", {"sent_to_state_corporation": True})]
REFUSAL = TO_QUALIFICATION + [
    ("executor", "check_qualification",
     {"qualification_met": False, "findings": "No certified surveyors on staff"}),
    ("executor", "form_refusal",
     {"refusal_reasons": "No certified surveyors on staff (qualification requirement 2)"}),
] + SEND
# State Corporation condition 2 is the provider's check at action 3: failing it, process 6
DOCUMENTS_REFUSED = INTAKE + TO_QUALIFICATION[1:3] + [
    ("executor", "check_completeness",
     {"documents_complete": False, "completeness_note": "No staff list (item 9 of the Standard)"}),
]
# a portal request skips the office's action 1 and action 8 (its result goes to the cabinet)
PORTAL_ISSUE = [step for step in ISSUE[2:] if step[1] != "send_result"]
PORTAL_REFUSAL = [step for step in REFUSAL[2:] if step[1] != "send_result"]
