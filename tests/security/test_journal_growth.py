"""Finding 4: re-claims by the holder write nothing; the history API and page are paginated."""

import re

from tests.paths import START
from tests.security.web import csrf_of
from tests.security.web import sign_in


def test_a_reclaim_by_the_holder_is_a_no_op(api):
    instance_id = api.start(START)
    task_id = api.ready_task("operator", instance_id, "attach_documents")
    for _ in range(20):
        assert api.post("operator", f"/tasks/{task_id}/claim").status_code == 200
    types = [e["type"] for e in api.get("auditor", f"/instances/{instance_id}/history").json]
    assert types.count("task_claimed") == 1


def _walk_history(api, instance_id, limit):
    seqs, url = [], f"/instances/{instance_id}/history?limit={limit}"
    while url:
        answer = api.get("auditor", url)
        assert answer.status_code == 200 and len(answer.json) <= limit
        seqs += [e["seq"] for e in answer.json]
        link = answer.headers.get("Link")
        url = re.search(r"</api/v1([^>]+)>; rel=\"next\"", link).group(1) if link else None
    return seqs


def test_the_history_api_pages_with_a_next_link(api):
    instance_id = api.start(START)
    api.post("operator", f"/tasks/{api.ready_task('operator', instance_id, 'attach_documents')}"
                         "/claim")
    whole = api.get("auditor", f"/instances/{instance_id}/history?limit=500").json
    assert len(whole) >= 3
    assert _walk_history(api, instance_id, 2) == [e["seq"] for e in whole]
    after = api.get("auditor", f"/instances/{instance_id}/history?after=2&limit=1").json
    assert [e["seq"] for e in after] == [3]


def test_the_history_api_refuses_bad_paging(api):
    instance_id = api.start(START)
    for query in ("limit=0", "limit=501", "limit=x", "after=-1", "after=²"):
        answer = api.get("auditor", f"/instances/{instance_id}/history?{query}")
        assert answer.status_code == 422, query


def test_the_instance_page_shows_one_page_of_history(app, client, api):
    instance_id = api.start(START)
    task_id = api.ready_task("operator", instance_id, "attach_documents")
    sign_in(client, "operator")
    page = client.get("/").get_data(as_text=True)
    client.post(f"/tasks/{task_id}/claim", data={"csrf_token": csrf_of(page)})
    from app.views import web  # noqa: PLC0415
    web.HISTORY_PAGE, original = 2, web.HISTORY_PAGE
    try:
        html = client.get(f"/instances/{instance_id}").get_data(as_text=True)
        later = re.search(r'href="([^"]+after=2)" data-testid="history-next"', html)
        assert later, "no link to the later entries"
        rest = client.get(later.group(1).replace("&amp;", "&")).get_data(as_text=True)
        assert "history-first" in rest
    finally:
        web.HISTORY_PAGE = original
