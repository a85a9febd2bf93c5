"""The auditor in headless Chromium: finds a finished case, steps through its history on the
diagram, downloads its journal and opens its printable report. Screenshots (and the report as
PDF) are kept in test-results/auditor/ (git-ignored) as the run's artefacts."""

import csv
import io
import json
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.test_survey_licence_browser import APPLICATION
from tests.browser.test_survey_licence_browser import PROCESS
from tests.browser.test_survey_licence_browser import goto
from tests.browser.test_survey_licence_browser import sign_in
from tests.paths import ISSUE

ARTEFACTS = Path(__file__).resolve().parents[2] / "test-results" / "auditor"


def _issue_over_the_api(base: str) -> dict:
    """Run a survey licence to its end over the live server's API; return the instance."""
    with httpx.Client(base_url=f"{base}/api/v1", timeout=10) as http:
        tokens = {}

        def call(user, method, path, **kwargs):
            if user not in tokens:
                answer = http.post("/auth/token", json={"username": user, "password": PASSWORD})
                tokens[user] = answer.json()["token"]
            answer = http.request(method, path, headers={"Authorization": f"Bearer {tokens[user]}"},
                                  **kwargs)
            assert answer.status_code < 300, (path, answer.text)
            return answer.json()

        started = call("operator", "POST", "/instances",
                       json={"process": PROCESS, "data": APPLICATION})
        for user, bpmn_id, data in ISSUE:  # the state systems answer in the background (jobs)
            task = _wait_for(lambda u=user, b=bpmn_id: next(
                (t for t in call(u, "GET", f"/tasks?instance={started['id']}&state=ready")
                 if t["bpmn_id"] == b), None), bpmn_id)
            call(user, "POST", f"/tasks/{task['id']}/complete", json={"data": data})
        _wait_for(lambda: call("auditor", "GET", f"/instances/{started['id']}")["status"]
                  == "completed" or None, "the end")
        return started


def _wait_for(probe, what):
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"waited in vain for {what}")


def _shot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def _marked(page: Page) -> dict:
    """Return the stepper's state: the entry shown and how many elements each marker holds."""
    return page.locator("#diagram").evaluate(
        "box => ({step: box.dataset.step, completed: box.dataset.completed, "
        "active: box.dataset.active, painted: box.querySelectorAll('.step-completed').length})")


def _download(page: Page, testid: str) -> str:
    with page.expect_download() as info:
        page.get_by_test_id(testid).click()
    target = ARTEFACTS / info.value.suggested_filename
    info.value.save_as(target)
    return target.read_text(encoding="utf-8")


def test_auditor_steps_through_a_case_and_hands_out_its_record(page, live_server):
    case = _issue_over_the_api(live_server)
    sign_in(page, "auditor")
    goto(page, "/instances")
    page.get_by_role("link", name=case["business_key"]).click()
    expect(page.get_by_test_id("status")).to_have_text("completed", timeout=TIMEOUT_MS)
    page.get_by_test_id("history-viewer").click()
    diagram = page.locator("#diagram[data-rendered=true]")
    expect(diagram).to_have_count(1, timeout=TIMEOUT_MS)
    expect(page.locator("ol.steps > li")).to_have_count(18, timeout=TIMEOUT_MS)
    last = page.locator("ol.steps > li").last
    expect(last).to_have_class("current", timeout=TIMEOUT_MS)
    _shot(page, "1-history-last-step")

    page.get_by_test_id("step-first").click()
    expect(page.locator("#diagram[data-step='1']")).to_have_count(1, timeout=TIMEOUT_MS)
    first = _marked(page)
    assert first["active"] != "0", first  # the GBD look-up waits for its answer
    _shot(page, "2-history-first-step")
    for _ in range(3):
        page.get_by_test_id("step-next").click()
    expect(page.locator("#diagram[data-step='4']")).to_have_count(1, timeout=TIMEOUT_MS)
    page.keyboard.press("ArrowRight")  # the keyboard moves the stepper too
    expect(page.locator("#diagram[data-step='5']")).to_have_count(1, timeout=TIMEOUT_MS)
    expect(diagram).to_have_count(1, timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("current-sentence")).to_contain_text("Completed the step",
                                                                    timeout=TIMEOUT_MS)
    fifth = _marked(page)
    assert fifth != first and int(fifth["painted"]) > 0, (first, fifth)
    _shot(page, "3-history-fifth-step")
    page.get_by_test_id("step-last").click()
    expect(page.locator("#diagram[data-step='18']")).to_have_count(1, timeout=TIMEOUT_MS)
    assert _marked(page)["active"] == "0"  # the case ended: nothing left open

    lines = _download(page, "export-jsonl").splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, 19))
    rows = list(csv.DictReader(io.StringIO(_download(page, "export-csv"), newline="")))
    assert [row["hash"] for row in rows] == [json.loads(line)["hash"] for line in lines]

    page.get_by_test_id("report-link").first.click()
    expect(page.get_by_test_id("report-verification")).to_contain_text("hash chain verified",
                                                                        timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("report-checkpoint")).not_to_be_empty(timeout=TIMEOUT_MS)
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden(timeout=TIMEOUT_MS)
    _shot(page, "4-report-printed")
    page.pdf(path=str(ARTEFACTS / f"{case['business_key']}-report.pdf"))
