"""The catalog page shows a regulation's facts and renders its diagram with bpmn-js."""

from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS
from tests.browser.test_survey_licence_browser import PROCESS
from tests.browser.test_survey_licence_browser import goto
from tests.browser.test_survey_licence_browser import sign_in


def test_the_diagram_renders_on_the_regulations_page(page):
    sign_in(page, "operator")
    goto(page, "/processes")
    goto(page, page.get_by_test_id(f"process-{PROCESS}").get_attribute("href"))
    diagram = page.get_by_test_id("diagram")
    expect(diagram).to_have_attribute("data-rendered", "true", timeout=TIMEOUT_MS)
    assert page.locator("#diagram .djs-shape").count() > 10  # tasks, events, gateways drawn
    assert page.locator("#diagram .djs-connection").count() > 10  # and the flows between them
    expect(page.get_by_test_id(f"start-{PROCESS}")).to_be_visible(timeout=TIMEOUT_MS)
