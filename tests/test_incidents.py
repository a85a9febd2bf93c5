"""Failure semantics: retries per the diagram, incidents, retry without doing anything twice."""

import json
import re
import urllib.request

from tests.paths import ISSUE
from tests.paths import START

BEFORE_LICENCE = ISSUE[:5]  # up to check_qualification; form_licence triggers issue_licence
FORM_LICENCE = ISSUE[5]


def _fault(state_systems, system, mode, count=1, delay=0.0):
    body = json.dumps({"system": system, "mode": mode, "count": count, "delay": delay}).encode()
    request = urllib.request.Request(f"{state_systems.url}/_control/faults", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()


def _complete(api, instance_id, step):
    user, bpmn_id, data = step
    task_id = api.ready_task(user, instance_id, bpmn_id)
    return api.post(user, f"/tasks/{task_id}/complete", json={"data": data})


def _journal(api, instance_id, kind):
    history = api.get("auditor", f"/instances/{instance_id}/history").json
    return [e["payload"] for e in history if e["type"] == kind]


def _licences_of(state_systems, application_number):
    url = f"{state_systems.url}/elicense/licences?holder=150140000012"
    with urllib.request.urlopen(url) as answer:
        return [lic for lic in json.loads(answer.read())
                if lic["application_number"] == application_number]


def test_system_down_mid_process_raises_an_incident_and_retry_completes(api, state_systems):
    instance_id = api.start(START)
    api.walk(instance_id, BEFORE_LICENCE)
    state_systems.stop()
    assert _complete(api, instance_id, FORM_LICENCE).status_code == 200
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert instance["status"] == "incident"
    assert instance["incident"]["task"] == "issue_licence"
    assert "unreachable" in instance["incident"]["error"]
    attempts = _journal(api, instance_id, "service_unavailable")
    assert [a["attempt"] for a in attempts] == [1, 2, 3]  # 1 + retries="2" in the diagram
    still_down = api.post("executor", f"/instances/{instance_id}/retry")
    assert (still_down.status_code, still_down.json["status"]) == (200, "incident")
    assert len(_journal(api, instance_id, "service_unavailable")) == 6
    state_systems.start()
    retried = api.post("executor", f"/instances/{instance_id}/retry")
    assert (retried.status_code, retried.json["status"]) == (200, "running")
    api.walk(instance_id, ISSUE[6:])
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert (instance["status"], instance["outcome"]) == ("completed", "licence_issued")
    number = instance["data"]["application"]["application_number"]
    assert len(_licences_of(state_systems, number)) == 1
    kinds = [e["type"] for e in api.get("auditor", f"/instances/{instance_id}/history").json]
    assert kinds.count("incident_raised") >= 1 and "retried" in kinds
    assert api.get("auditor", f"/instances/{instance_id}/history/verify").json["ok"]


def test_one_failed_attempt_is_retried_without_an_incident(api, state_systems):
    instance_id = api.start(START)
    api.walk(instance_id, BEFORE_LICENCE)
    _fault(state_systems, "elicense", "error", count=1)
    assert _complete(api, instance_id, FORM_LICENCE).status_code == 200
    assert api.get("auditor", f"/instances/{instance_id}").json["status"] == "running"
    calls = _journal(api, instance_id, "service_called")
    assert calls[-1]["operator"] == "licensing/issue_licence" and calls[-1]["attempt"] == 2


def test_garbage_answer_is_an_incident_not_a_crash(api, state_systems):
    instance_id = api.start(START)
    api.walk(instance_id, BEFORE_LICENCE)
    _fault(state_systems, "elicense", "garbage", count=1)
    assert _complete(api, instance_id, FORM_LICENCE).status_code == 200
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert instance["status"] == "incident" and "not JSON" in instance["incident"]["error"]
    assert api.post("executor", f"/instances/{instance_id}/retry").json["status"] == "running"


def test_slow_system_times_out_into_an_incident(api, state_systems):
    instance_id = api.start(START)
    api.walk(instance_id, BEFORE_LICENCE)
    _fault(state_systems, "elicense", "slow", count=3, delay=1.3)
    assert _complete(api, instance_id, FORM_LICENCE).status_code == 200
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert instance["status"] == "incident" and "did not answer" in instance["incident"]["error"]
    assert api.post("executor", f"/instances/{instance_id}/retry").json["status"] == "running"
    number = api.get("auditor", f"/instances/{instance_id}").json["data"]["application"][
        "application_number"]
    assert len(_licences_of(state_systems, number)) == 1  # slow calls landed; the key held


def test_incident_shows_in_the_ui_with_a_retry_button(api, client, state_systems):
    instance_id = api.start(START)
    api.walk(instance_id, BEFORE_LICENCE)
    _fault(state_systems, "elicense", "error", count=3)
    _complete(api, instance_id, FORM_LICENCE)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "executor", "password": "test-password",
                                "csrf_token": token})
    html = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert "Incident at" in html and "issue_licence" in html and ">Retry<" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # new session, new token
    answer = client.post(f"/instances/{instance_id}/retry", data={"csrf_token": token})
    assert answer.status_code == 302
    assert api.get("auditor", f"/instances/{instance_id}").json["status"] == "running"
