"""The paths through the survey-licence regulation, as tables of (user, task, data)."""

from reference.seed import UNKNOWN_VALID_IIN as UNKNOWN_IIN  # noqa: F401 - the README's

PASSWORD = "test-password"
PROCESS = "survey_license_east_kazakhstan_2016"
START = {"applicant_iin_bin": "150140000012", "licence_case": "issue"}
INTAKE = [("operator", "attach_documents",
           {"page_count": 12, "documents_complete": True, "certified_with_eds": True})]
TO_QUALIFICATION = INTAKE + [
    ("office", "register_incoming", {"incoming_number": "IN-2026/0001", "receipt_issued": True}),
    ("head", "assign_executor", {"executor": "executor", "resolution": "Check and prepare"}),
    ("executor", "check_completeness", {"documents_checked": True}),
]
ISSUE = TO_QUALIFICATION + [
    ("executor", "check_qualification",
     {"qualification_met": True, "findings": "Staff and equipment meet the requirements"}),
    ("executor", "form_licence",
     {"licence_activity": "engineering_geodetic", "licence_category": "I"}),
    ("head", "sign_licence", {"confirm_signature": True}),
    ("executor", "send_result", {"sent_to_state_corporation": True}),
]
REFUSAL = TO_QUALIFICATION + [
    ("executor", "check_qualification",
     {"qualification_met": False, "findings": "No certified surveyors on staff"}),
    ("executor", "form_refusal",
     {"refusal_reasons": "No certified surveyors on staff (qualification requirement 2)"}),
]
