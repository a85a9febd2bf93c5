"""Verify names the first broken link of a tampered journal; the database refuses to change one.

A tamperer here has the database rights to drop the append-only triggers
(`app.audit.append_only`): each test removes them, changes the journal as such a person
would, and puts them back. Runs on SQLite and, in the suite's second run, on PostgreSQL.
"""

import dataclasses
import datetime
import json

import pytest
from sqlalchemy import exc
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from app import audit
from app import create_app
from app.audit import admin_log
from app.audit import verification
from app.core import store
from app.models import db
from tests.conftest import Api
from tests.paths import ISSUE
from tests.paths import START
from tests.tamper import tamper
from tests.test_web import _login

EVENTS, INSTANCES = store.EVENTS, store.INSTANCES
FORGED_AT = datetime.datetime(2026, 3, 21, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def case(app, api):
    """A case three steps in (about ten journal entries): its id."""
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:3])
    return instance_id


def _rows(app, instance_id) -> list:
    with app.app_context(), store.reading() as conn:
        return conn.execute(select(EVENTS).where(EVENTS.c.instance_id == instance_id)
                            .order_by(EVENTS.c.seq)).all()


def _of(instance_id, *where):
    return (EVENTS.c.instance_id == instance_id, *where)


def _shift_up_from(instance_id, seq: int):
    """Renumber entries from `seq` on one up (in two steps: (instance, seq) is unique)."""
    return [update(EVENTS).where(*_of(instance_id, EVENTS.c.seq >= seq))
            .values(seq=EVENTS.c.seq + 1000),
            update(EVENTS).where(*_of(instance_id, EVENTS.c.seq >= 1000))
            .values(seq=EVENTS.c.seq - 999)]


def _forged(instance_id, after=None) -> audit.Entry:
    """A well-sealed entry that follows `after` (or starts a chain), as someone who knows the
    chain would write it."""
    last_seq, last_hash = (after.seq, after.hash) if after else (0, audit.GENESIS)
    [entry] = audit.chain(instance_id, last_seq, last_hash,
                          [("task_completed", {"bpmn_id": "check_completeness",
                                               "data": {"documents_complete": True}})],
                          "executor", at=FORGED_AT)
    return entry


def _verified(api, instance_id) -> dict:
    answer = api.get("auditor", f"/instances/{instance_id}/history/verify")
    assert answer.status_code == 200, answer.json
    return answer.json


def _first_broken(api, instance_id) -> dict:
    result = _verified(api, instance_id)
    assert result["ok"] is False and result["first_broken_seq"] == result["first_broken"]["seq"]
    return result["first_broken"]


def test_an_untouched_case_verifies(app, api, case):
    rows = _rows(app, case)
    assert _verified(api, case) == {"ok": True, "events": len(rows), "first_broken": None,
                                    "first_broken_seq": None}
    page = app.test_client()
    _login(page, "auditor")
    assert f"Chain intact · {len(rows)} events" in page.get(f"/instances/{case}").text
    result = app.test_cli_runner().invoke(args=["verify", case])
    assert result.exit_code == 0, result.output
    assert "1 chains verified: 1 intact, 0 broken" in result.output


def test_the_database_refuses_update_and_delete_of_a_journal_entry(app, case):
    before = _rows(app, case)
    refused = [update(EVENTS).where(*_of(case, EVENTS.c.seq == 2)).values(payload="{}"),
               EVENTS.delete().where(*_of(case, EVENTS.c.seq == 2)),
               EVENTS.delete()]
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            refused.append(text("TRUNCATE audit_event"))
        for statement in refused:
            with pytest.raises(exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
                conn.execute(statement)
        with db.engine.begin() as conn:  # appending is what the journal is for
            conn.execute(insert(EVENTS), [dataclasses.asdict(_forged("another"))])
    assert _rows(app, case) == before


@pytest.mark.edits_the_record
def test_an_edited_payload_is_named(app, api, case):
    original = _rows(app, case)[2]
    tamper(app, update(EVENTS).where(*_of(case, EVENTS.c.seq == 3))
            .values(payload='{"bpmn_id":"attach_documents","data":{"page_count":1}}'))
    broken = _first_broken(api, case)
    assert (broken["seq"], broken["kind"]) == (3, "edited")
    assert broken["expected"] == {"seq": 3, "hash": original.hash}
    assert broken["found"]["type"] == original.type and broken["found"]["hash"] != original.hash
    page = app.test_client()
    _login(page, "auditor")
    assert "Chain broken at event 3 (edited)" in page.get(f"/instances/{case}").text


@pytest.mark.edits_the_record
def test_a_deleted_event_is_named(app, api, case):
    rows = _rows(app, case)
    tamper(app, EVENTS.delete().where(*_of(case, EVENTS.c.seq == 3)))
    broken = _first_broken(api, case)
    assert (broken["seq"], broken["kind"]) == (3, "deleted")
    assert broken["expected"] == {"seq": 3, "prev_hash": rows[1].hash}
    assert (broken["found"]["seq"], broken["found"]["hash"]) == (4, rows[3].hash)


@pytest.mark.edits_the_record
def test_a_deleted_last_event_is_named_by_the_recorded_head(app, api, case):
    rows = _rows(app, case)
    tamper(app, EVENTS.delete().where(*_of(case, EVENTS.c.seq == len(rows))))
    broken = _first_broken(api, case)
    assert (broken["seq"], broken["kind"]) == (len(rows), "deleted")
    assert broken["expected"]["head_hash"] == rows[-1].hash


@pytest.mark.edits_the_record
def test_an_inserted_event_is_named(app, api, case):
    rows = _rows(app, case)
    forged = _forged(case, rows[1])  # slipped in after event 2, later ones renumbered
    tamper(app, *_shift_up_from(case, 3), insert(EVENTS).values(dataclasses.asdict(forged)))
    broken = _first_broken(api, case)
    assert (broken["seq"], broken["kind"]) == (3, "inserted")
    assert broken["found"]["hash"] == forged.hash and broken["found"]["actor"] == "executor"
    assert broken["expected"] == {"seq": 3, "type": rows[2].type, "hash": rows[2].hash}


@pytest.mark.edits_the_record
def test_an_event_appended_past_the_recorded_head_is_named(app, api, case):
    rows = _rows(app, case)
    forged = _forged(case, rows[-1])
    tamper(app, insert(EVENTS).values(dataclasses.asdict(forged)))
    broken = _first_broken(api, case)
    assert (broken["seq"], broken["kind"]) == (forged.seq, "inserted")
    assert broken["found"]["hash"] == forged.hash


@pytest.mark.edits_the_record
def test_swapped_events_are_named_reordered(app, api, case):
    rows = _rows(app, case)
    swap = [update(EVENTS).where(*_of(case, EVENTS.c.seq == 3)).values(seq=-3),
            update(EVENTS).where(*_of(case, EVENTS.c.seq == 4)).values(seq=3),
            update(EVENTS).where(*_of(case, EVENTS.c.seq == -3)).values(seq=4)]
    tamper(app, *swap)
    broken = _first_broken(api, case)
    assert (broken["seq"], broken["kind"]) == (3, "reordered")
    assert (broken["expected"]["hash"], broken["expected"]["now_at"]) == (rows[2].hash, 4)
    assert broken["found"]["hash"] == rows[3].hash


@pytest.mark.edits_the_record
def test_swapped_contents_are_named_reordered(app, api, case):
    rows = _rows(app, case)
    fields = ("type", "actor", "at", "payload")

    def swap(conn):
        for mine, theirs in ((rows[2], rows[3]), (rows[3], rows[2])):
            conn.execute(update(EVENTS).where(*_of(case, EVENTS.c.seq == mine.seq))
                         .values({f: getattr(theirs, f) for f in fields}))
    tamper(app, swap)
    broken = _first_broken(api, case)
    assert (broken["seq"], broken["kind"], broken["expected"]["now_at"]) == (3, "reordered", 4)


def _delete_and_reseal(instance_id, rows):
    """Delete event 3 and reseal every later entry, as one who knows the (unkeyed) seal."""
    def rewrite(conn):
        conn.execute(EVENTS.delete().where(*_of(instance_id, EVENTS.c.seq == 3)))
        prev = rows[1]
        for row in rows[3:]:
            entry = audit.Entry(instance_id, prev.seq + 1, row.type, row.actor, row.at,
                                row.payload, prev.hash, "")
            entry = dataclasses.replace(entry, hash=audit.seal(entry))
            conn.execute(update(EVENTS).where(*_of(instance_id, EVENTS.c.seq == row.seq))
                         .values(seq=entry.seq, prev_hash=entry.prev_hash, hash=entry.hash))
            prev = entry
    return rewrite


@pytest.mark.edits_the_record
def test_a_recomputed_chain_is_caught_by_the_head_unless_the_head_moved_too(app, api, case):
    """Why signed checkpoints exist: whoever reseals the chain and moves the case's recorded
    head leaves nothing the journal itself can show; only a head kept elsewhere can."""
    rows = _rows(app, case)
    tamper(app, _delete_and_reseal(case, rows))
    broken = _first_broken(api, case)
    assert (broken["seq"], broken["kind"]) == (len(rows), "deleted")
    tamper(app, update(INSTANCES).where(INSTANCES.c.id == case)
            .values(journal_seq=len(rows) - 1,
                    journal_hash=_rows(app, case)[-1].hash))
    assert _verified(api, case)["ok"] is True  # fooled: the checkpoint test proves this case


@pytest.mark.edits_the_record
def test_verify_all_lists_each_broken_case_and_the_command_exits_1(app, api, case):
    intact = api.start(START)
    tamper(app, EVENTS.delete().where(*_of(case, EVENTS.c.seq == 2)))
    answer = api.get("auditor", "/verify")
    assert answer.status_code == 200
    assert answer.json["ok"] is False and answer.json["cases"] == 3  # two cases, the admin chain
    assert [(b["instance_id"], b["first_broken"]["kind"]) for b in answer.json["broken"]] == [
        (case, "deleted")]
    assert api.get("operator", "/verify").status_code == 403
    runner = app.test_cli_runner()
    everything = runner.invoke(args=["verify"])
    assert everything.exit_code == 1
    assert f"{case}: broken at event 2 (deleted)" in everything.output
    assert intact not in everything.output
    assert runner.invoke(args=["verify", intact]).exit_code == 0
    unknown = runner.invoke(args=["verify", intact, "no-such-case"])
    assert unknown.exit_code == 2 and "no case 'no-such-case'" in unknown.output


def _admin_chain(app) -> list[tuple]:
    return [(r.type, r.actor, json.loads(r.payload)) for r in _rows(app, admin_log.ADMIN_CHAIN)]


def test_admin_actions_are_journalled_with_before_and_after(clocked_app, clock):
    app, api = clocked_app, Api(clocked_app.test_client())
    api.headers("head")  # a live token of head's
    runner = app.test_cli_runner()
    assert runner.invoke(args=["revoke", "head"]).exit_code == 0
    assert runner.invoke(args=["set-password", "executor", "--password",
                               "a-new-long-password"]).exit_code == 0
    api.headers("analyst")
    assert api.client.delete("/api/v1/users/analyst/tokens",
                             headers=api.headers("admin")).status_code == 200
    before = clock.now()
    assert api.post("admin", "/admin/clock", json={"advance_seconds": 3600}).status_code == 200
    deployed, *actions = _admin_chain(app)
    assert deployed[0] == "deployed" and deployed[1].startswith("cli")
    assert deployed[2]["after"]["survey_license_east_kazakhstan_2016"]["version"] == 1
    assert [(kind, payload["target"], payload["before"], payload["after"])
            for kind, _, payload in actions] == [
        ("credentials_revoked", "head", {"credentials_not_revoked": 1},
         {"credentials_not_revoked": 0}),
        ("password_set", "executor", {"credentials_not_revoked": 0},
         {"credentials_not_revoked": 0, "password": "changed"}),
        ("credentials_revoked", "analyst", {"credentials_not_revoked": 1},
         {"credentials_not_revoked": 0}),
        ("clock_moved", "clock", {"now": before.isoformat()},
         {"now": (before + datetime.timedelta(hours=1)).isoformat()})]
    assert [actor for _, actor, _ in actions][2:] == ["admin", "admin"]
    with app.app_context():
        assert verification.verify_case(admin_log.ADMIN_CHAIN)["ok"] is True
    assert runner.invoke(args=["verify", admin_log.ADMIN_CHAIN]).exit_code == 0


@pytest.fixture
def bare_database(database_uri, tmp_path):
    """An app on an empty database of the run, for a schema made by db.create_all()."""
    (tmp_path / "bare").mkdir()
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret",
                      "SQLALCHEMY_DATABASE_URI": database_uri(tmp_path / "bare")})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_a_schema_made_by_create_all_refuses_changes_too(bare_database):
    entry = _forged("case")
    with bare_database.app_context():
        db.create_all()
        with db.engine.begin() as conn:
            conn.execute(insert(EVENTS), [dataclasses.asdict(entry)])
        with pytest.raises(exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(EVENTS.delete())
        assert verification.verify_case("case")["ok"] is True
