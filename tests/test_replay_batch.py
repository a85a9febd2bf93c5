"""Batch replay for auditors: every regulation's cases, finished and running, on a happy and a
refusal path, replay without divergence; a changed stored BPMN or a changed state-system answer
is reported at its event with both sides; cases are selected by process, version and period."""

import datetime
import random
import re
import shutil
import zlib
from pathlib import Path

import pytest
from sqlalchemy import select

from app import definitions
from app.models import ProcessDefinition
from app.models import ProcessInstance
from app.models import db
from tests.paths import ISSUE
from tests.paths import PROCESS
from tests.paths import START
from tests.regulations.test_almaty_2019_and_accreditations import CONCLUSION
from tests.regulations.test_almaty_2019_and_accreditations import PERMIT
from tests.regulations.test_almaty_2019_and_accreditations import _at_the_portal
from tests.test_replay import _edit_payload  # the triggers dropped, as an attacker would
from tests.test_replay import _journal
from tests.test_schema_client import _post_until_accepted
from tests.test_schema_client import _start

BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"
SEEDS = 40  # walks tried per regulation until both a happy and a refusal outcome are seen
PORTAL_ONLY = (PERMIT, CONCLUSION)  # Almaty 2019: requests come only through the portal
END_EVENT = re.compile(r'<bpmn:endEvent id="([^"]+)"')
# end events that refuse or stop a request (the rest deliver what was asked)
REFUSING = ("refus", "not_", "missing", "returned")


def _drive(api, process: dict, seed: int, steps: int | None = None, *,
           portal_base: str = "") -> tuple[str, int, dict]:
    """Walk a case from its schemas with seeded choices (as tests/test_schema_client.py does),
    for at most `steps` completions (to its end when None); return (id, steps taken, case).

    The portal-only regulations start with a request the applicant signed (tests/portal.py):
    a form filled at random never carries a valid portal session and signature.
    """
    rng = random.Random(seed)  # noqa: S311 - choices of form values, not secrets
    if process["key"] in PORTAL_ONLY:
        instance_id = _at_the_portal(api, portal_base, process["key"])
    else:
        instance_id = _start(api, process, rng)
    taken = 0
    while True:
        case = api.get("auditor", f"/instances/{instance_id}").json
        if case["status"] != "running" or taken == steps:
            return instance_id, taken, case
        task = next(t for t in case["tasks"] if t["state"] == "ready")
        form = api.get(task["lane"], f"/tasks/{task['id']}").json["form"]["schema"]
        if not task["assignee"]:
            assert api.post(task["lane"], f"/tasks/{task['id']}/claim").status_code == 200
        answer = _post_until_accepted(api, task["lane"], f"/tasks/{task['id']}/complete",
                                      schema=form, rng=rng, body=lambda data: {"data": data})
        assert answer.status_code == 200, (process["key"], task["bpmn_id"], answer.json)
        taken += 1
        assert taken < 80, (process["key"], "no outcome")


def _path_kind(outcome: str) -> str:
    return "refusal" if any(word in outcome for word in REFUSING) else "happy"


def _paths_of(app, process: dict) -> set[str]:
    """Return the kinds of path the process's diagrams end in ("happy", "refusal"): one
    regulation (technical supervision, 2019) knows no refusal."""
    with app.app_context():
        version = definitions.latest(process["key"])
        return {_path_kind(end) for text in version.sources.values()
                for end in END_EVENT.findall(text)}


def _both_paths(api, process: dict, portal_base: str) -> dict:
    """Return {path kind: (seed, steps)}: a finished case of each kind the process has."""
    wanted, found = _paths_of(api.client.application, process), {}
    for walk in range(SEEDS):
        seed = zlib.crc32(f"{process['key']}/replay/{walk}".encode())
        _, steps, case = _drive(api, process, seed, portal_base=portal_base)
        assert case["status"] == "completed", (process["key"], case["incident"])
        found.setdefault(_path_kind(case["outcome"]), (seed, steps))
        if set(found) == wanted:
            return found
    pytest.fail(f"{process['key']}: only {sorted(found)} paths in {SEEDS} walks")


def _batch(api, user="auditor", **selection):
    return api.post(user, "/replay", json=selection)


def test_every_regulation_replays_finished_and_running_on_happy_and_refusal_paths(
        api, state_systems):
    processes = api.get("auditor", "/processes").json
    assert len(processes) == 21
    running = 0
    for process in processes:
        for seed, steps in _both_paths(api, process, state_systems.url).values():
            if steps > 1:  # the same choices again, stopped half-way: a running case
                _, _, case = _drive(api, process, seed, steps // 2,
                                    portal_base=state_systems.url)
                assert case["status"] == "running"
                running += 1
    with api.client.application.app_context():
        statuses = db.session.scalars(select(ProcessInstance.status)).all()
    assert statuses.count("running") == running >= 21
    assert statuses.count("completed") == len(statuses) - running >= 21 + 20  # one has no refusal
    report = _batch(api, limit=1000).json
    assert report == {"cases": len(statuses), "ok": len(statuses), "diverged": [], "failed": [],
                      "truncated": False}
    per_process = _batch(api, process=processes[0]["key"], version=processes[0]["version"]).json
    assert 3 <= per_process["cases"] == per_process["ok"] < len(statuses)


def _only_divergence(report: dict, instance_id: str) -> dict:
    assert report["failed"] == []
    [diverged] = [case for case in report["diverged"] if case["instance_id"] == instance_id]
    return diverged["divergence"]


@pytest.mark.edits_the_record
def test_a_changed_state_system_answer_diverges_at_that_event_with_both_sides(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE)
    untouched = api.start(START)
    api.walk(untouched, ISSUE[:4])
    journal = _journal(app, instance_id)
    called = next(s for s, kind, p in journal
                  if kind == "service_called" and p["task"] == "issue_licence")
    job = journal[called - 1][2]["job"]
    applied = next(s for s, kind, p in journal if kind == "service_applied" and p["job"] == job)
    original = journal[called - 1][2]["result"]["licence_number"]
    _edit_payload(app, instance_id, called, lambda payload: payload["result"].update(
        licence_number="FORGED-0001"))
    report = _batch(api, process=PROCESS).json
    assert (report["cases"], report["ok"]) == (2, 1)
    divergence = _only_divergence(report, instance_id)
    assert (divergence["seq"], divergence["type"]) == (applied, "service_applied")
    recorded, replayed = divergence["recorded"], divergence["replayed"]
    assert recorded["event"]["payload"]["task"] == "issue_licence"
    assert recorded["answer"]["result"]["licence_number"] == "FORGED-0001"
    assert recorded["state_digest"] == divergence["expected"] != replayed["state_digest"]
    assert replayed["refused"] is None and replayed["state"]["status"] == "running"
    assert [step["type"] for step in recorded["then"]][-1] == "task_completed"
    before, after = replayed["changed"]["licence"]  # what the forged answer put in the data
    assert (before, after["licence_number"]) == (None, "FORGED-0001") != (None, original)
    assert divergence["differences"]


@pytest.mark.edits_the_record
def test_a_changed_stored_bpmn_diverges_where_its_condition_is_used(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE)
    with app.app_context():
        row = db.session.get(ProcessInstance, instance_id)
        version = db.session.get(ProcessDefinition, row.definition_id)
        sources = dict(version.sources)
        name = next(n for n, text in sources.items() if ">qualification_met<" in text)
        sources[name] = (sources[name].replace(">qualification_met<", ">SWAP<")
                         .replace(">not qualification_met<", ">qualification_met<")
                         .replace(">SWAP<", ">not qualification_met<"))  # the flows swap
        version.sources = sources
        db.session.commit()
    seq = next(s for s, kind, p in _journal(app, instance_id)
               if kind == "task_completed" and p["bpmn_id"] == "check_qualification")
    answer = api.post("auditor", f"/instances/{instance_id}/replay").json
    divergence = answer["divergence"]
    assert (answer["ok"], divergence["seq"], divergence["type"]) == (
        False, seq, "task_completed")
    assert divergence["recorded"]["event"]["payload"]["bpmn_id"] == "check_qualification"
    assert divergence["recorded"]["then"][0]["bpmn_id"] == "form_licence"
    waiting = divergence["replayed"]["state"]["ready"]
    assert waiting and not any("form_licence" in task for task in waiting)
    assert any(line.startswith("the journal next completes form_licence #1")
               for line in divergence["differences"])
    runner = app.test_cli_runner()
    batch = runner.invoke(args=["replay", "--process", PROCESS])
    assert batch.exit_code == 1
    assert f"divergence at event {seq} (task_completed)" in batch.output
    assert "the journal next completes form_licence #1" in batch.output


def _deploy_second_version(app, folder: Path) -> int:
    """Deploy the survey licence again with one comment added: its version 2."""
    shutil.copytree(BPMN_DIR, folder)
    path = folder / f"{PROCESS}.bpmn"
    path.write_text(path.read_text(encoding="utf-8") + "<!-- v2 -->\n", encoding="utf-8")
    with app.app_context():
        [deployed] = definitions.deploy_directory(folder, "test")
        return deployed.version


def test_batch_selects_by_process_version_and_period(clocked_app, clocked_api, clock,
                                                     tmp_path):
    api = clocked_api
    march = api.start(START)  # Friday 20 March 2026, 09:00 in Kazakhstan
    clock.set(datetime.datetime(2026, 4, 1, 19, 30, tzinfo=datetime.UTC))  # 2 April, 00:30
    api.tokens.clear()
    april = api.start(START)
    other = next(p for p in api.get("auditor", "/processes").json if p["key"] != PROCESS)
    elsewhere = _start(api, other, random.Random(1))  # noqa: S311 - form values
    assert _deploy_second_version(clocked_app, tmp_path / "v2") == 2
    second = api.start(START)

    def selected(**selection):
        answer = _batch(api, **selection)
        assert answer.status_code == 200, answer.json
        report = answer.json
        assert report["ok"] == report["cases"]
        return report["cases"], report["truncated"]
    assert selected() == (4, False)
    assert selected(process=PROCESS) == (3, False)
    assert selected(process=PROCESS, version=1) == (2, False)
    assert selected(process=PROCESS, version=2) == (1, False)
    assert selected(process=other["key"]) == (1, False)
    assert selected(until="2026-03-20") == (1, False)  # a bare date counts its whole day
    assert selected(since="2026-04-02") == (3, False)  # 00:30 in Kazakhstan is still 1 April UTC
    assert selected(since="2026-03-21", until="2026-04-01") == (0, False)
    assert selected(since="2026-03-20T04:00:00+00:00", until="2026-03-20T04:00:01Z") == (
        1, False)
    assert selected(limit=2) == (2, True)
    assert len({march, april, elsewhere, second}) == 4
    runner = clocked_app.test_cli_runner()
    ok = runner.invoke(args=["replay", "--process", PROCESS, "--version", "1"])
    assert ok.exit_code == 0, ok.output
    assert "2 cases replayed: 2 ok, 0 diverged, 0 failed" in ok.output


def test_bad_selections_are_refused_with_their_fields_and_roles_are_checked(app, api):
    for user in ("operator", "head", "executor"):
        assert _batch(api, user).status_code == 403
    assert _batch(api, "admin").json["cases"] == 0
    refused = _batch(api, version=0, since="yesterday", until="2026-01-01", limit=1001,
                     period="Q1", process=None)
    assert refused.status_code == 422
    assert set(refused.json["errors"]) == {"version", "since", "limit", "period", "process"}
    assert "version" in _batch(api, version=1).json["errors"]  # a version needs its process
    backwards = _batch(api, since="2026-03-02", until="2026-03-01")
    assert set(backwards.json["errors"]) == {"until"}
    runner = app.test_cli_runner()
    for args in (["--since", "yesterday"], ["--limit", "0"], ["--version", "1"],
                 ["some-case", "--process", PROCESS], ["--version", "one"]):
        result = runner.invoke(args=["replay", *args])
        assert result.exit_code == 2, (args, result.output)
