"""The regulation's page: its facts, its diagram as stored in the version, the bpmn-js viewer."""

from tests.paths import PROCESS
from tests.test_web import _login


def test_a_regulations_page_shows_its_facts_and_serves_its_diagram(client):
    assert client.get(f"/processes/{PROCESS}").status_code == 302  # sign in first
    _login(client, "operator")
    page = client.get(f"/processes/{PROCESS}").get_data(as_text=True)
    assert 'data-testid="diagram"' in page and f'data-testid="start-{PROCESS}"' in page
    assert "state_corporation_intake" in page  # the fragments it calls
    diagram = client.get(f"/processes/{PROCESS}/diagram.bpmn")
    assert diagram.mimetype == "application/xml"
    assert f'<bpmn:process id="{PROCESS}"' in diagram.get_data(as_text=True)
    assert client.get("/processes/no_such_process").status_code == 404
    assert client.get("/processes/no_such_process/diagram.bpmn").status_code == 404


def test_the_viewer_is_served_from_the_pinned_package_only(client):
    viewer = client.get("/vendor/bpmn-js/bpmn-viewer.js")
    assert viewer.status_code == 200 and b"BpmnJS" in viewer.get_data()
    viewer.close()
    css = client.get("/vendor/bpmn-js/bpmn-js.css")
    assert css.status_code == 200
    css.close()
    assert client.get("/vendor/bpmn-js/..%2Fpackage.json").status_code == 404
    assert client.get("/vendor/bpmn-js/bpmn-modeler.production.min.js").status_code == 404


def test_a_start_button_only_for_roles_that_may_start(client):
    _login(client, "executor")
    page = client.get(f"/processes/{PROCESS}").get_data(as_text=True)
    assert f'data-testid="start-{PROCESS}"' not in page
