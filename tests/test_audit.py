"""The journal's hash chain detects any change, removal or reordering."""

import pytest
from sqlalchemy import delete
from sqlalchemy import update

from app.models import AuditEvent
from app.models import db
from tests.paths import ISSUE
from tests.paths import START


def _verify(api, instance_id):
    return api.get("auditor", f"/instances/{instance_id}/history/verify").json


def test_untouched_journal_verifies(api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:3])
    result = _verify(api, instance_id)
    assert result["ok"] and result["events"] >= 5


@pytest.mark.edits_the_record
def test_edited_payload_is_detected(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:3])
    with app.app_context():
        db.session.execute(update(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                    AuditEvent.seq == 3)
                           .values(payload='{"forged":true}'))
        db.session.commit()
    assert _verify(api, instance_id) == {"ok": False, "events": _verify(api, instance_id)["events"],
                                         "first_broken_seq": 3}


@pytest.mark.edits_the_record
def test_removed_entry_is_detected(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:3])
    with app.app_context():
        db.session.execute(delete(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                    AuditEvent.seq == 2))
        db.session.commit()
    assert _verify(api, instance_id)["first_broken_seq"] == 3


def test_history_records_who_did_what(api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:2])
    history = api.get("auditor", f"/instances/{instance_id}/history").json
    kinds = [(e["type"], e["actor"]) for e in history]
    assert kinds[0] == ("instance_started", "operator")
    assert ("task_completed", "office") in kinds
    started = history[0]["payload"]
    assert started["data"].items() >= START.items()  # plus the form's defaults
