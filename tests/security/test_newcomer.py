"""Finding 12: what a newcomer trying the README met — every promise of the README holds."""

import re

from tests.paths import PROCESS
from tests.paths import START
from tests.paths import UNKNOWN_IIN
from tests.security.web import csrf_of
from tests.security.web import sign_in


def test_the_analyst_has_a_processes_page(client):
    sign_in(client, "analyst")
    answer = client.get("/processes")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and PROCESS in html and "v1" in html
    assert 'href="/processes"' in client.get("/").get_data(as_text=True)


def _start_in_browser(client, data):
    sign_in(client, "operator")
    page = client.get(f"/processes/{PROCESS}/start").get_data(as_text=True)
    answer = client.post(f"/processes/{PROCESS}/start", data={**data,
                                                              "csrf_token": csrf_of(page)})
    assert answer.status_code == 302
    return client.get(answer.location).get_data(as_text=True)


def test_a_start_that_ends_at_intake_is_not_announced_as_started(client):
    html = _start_in_browser(client, {**START, "applicant_iin_bin": UNKNOWN_IIN})
    assert 'class="flash ok"' not in html
    assert re.search(r'class="flash error"[^>]*>Application \S+ ended at intake', html)


def test_a_start_that_goes_on_is_announced_as_started(client):
    html = _start_in_browser(client, START)
    assert re.search(r'class="flash ok"[^>]*>Application \S+ started', html)


def test_a_task_has_one_name_on_the_instance_and_task_pages(client, api):
    instance_id = api.start(START)
    task_id = api.ready_task("operator", instance_id, "attach_documents")
    sign_in(client, "operator")
    instance_page = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    listed = re.search(r'data-testid="task-name"><a href="/tasks/[^"]+">([^<]+)<', instance_page)
    task_page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    heading = re.search(r'<h1 data-testid="task-name">([^<]+)</h1>', task_page)
    assert listed and heading and listed.group(1) == heading.group(1)
