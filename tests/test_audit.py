"""The journal's hash chain and history (tampering: tests/test_verification.py)."""

from tests.paths import ISSUE
from tests.paths import START


def _verify(api, instance_id):
    return api.get("auditor", f"/instances/{instance_id}/history/verify").json


def test_untouched_journal_verifies(api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:3])
    result = _verify(api, instance_id)
    assert result["ok"] and result["events"] >= 5


def test_history_records_who_did_what(api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:2])
    history = api.get("auditor", f"/instances/{instance_id}/history").json
    kinds = [(e["type"], e["actor"]) for e in history]
    assert kinds[0] == ("instance_started", "operator")
    assert ("task_completed", "office") in kinds
    started = history[0]["payload"]
    assert started["data"].items() >= START.items()  # plus the form's defaults
