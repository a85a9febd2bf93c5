"""The survey-licence service driven through the staff web UI in headless Chromium."""

import re
import time

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests import paths
from tests.browser.conftest import PASSWORD
from tests.browser.conftest import TIMEOUT_MS

PROCESS = "survey_license_east_kazakhstan_2016"
APPLICATION = {"applicant_iin_bin": "150140000012", "licence_case": "issue"}

# The paths are the API tests' tables (tests/paths.py): True/False pick a checkbox or a
# Yes/No radio button, other values are typed or chosen.
LICENCE_ISSUED = paths.ISSUE
REASONED_REFUSAL = paths.REFUSAL
# Executor-lane tasks arrive assigned to the executor the head chose; the rest are claimed.
PRE_ASSIGNED_ROLES = {"executor"}


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/$"), timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("whoami")).to_contain_text(username, timeout=TIMEOUT_MS)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"), timeout=TIMEOUT_MS)


def fill(page: Page, values: dict) -> None:
    """Type text, pick options, tick checkboxes and choose Yes/No radios by field name."""
    for name, value in values.items():
        if isinstance(value, bool):
            page.check(f'input[name="{name}"][value="{str(value).lower()}"]')
            continue
        field = page.locator(f'[name="{name}"]')
        if field.evaluate("element => element.tagName") == "SELECT":
            field.select_option(str(value))
        else:
            field.fill(str(value))


def goto(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.ok, f"GET {url}: {response and response.status}"


def submit(page: Page, button, expected: int = 302):
    """Click a POST button; fail with the server's answer unless it has the expected status."""
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        button.click()
    response = info.value
    if response.status != expected:
        body = response.text()
        errors = re.findall(r'data-field-error="([^"]+)">([^<]*)<', body)
        pytest.fail(f"POST {response.url} answered {response.status}, not {expected}: "
                    f"{errors or body[:600]}")
    return response


def start_application(page: Page, values: dict, expected: int = 302) -> None:
    """Fill and submit the start form as the signed-in operator."""
    goto(page, "/")
    goto(page, page.get_by_test_id(f"start-{PROCESS}").get_attribute("href"))
    fill(page, values)
    submit(page, page.get_by_role("button", name="Start the application"), expected)


def reload_until(page: Page, url: str, ready) -> None:
    """Load `url` again until `ready(page)` holds: the state systems answer in the background
    (service tasks are jobs), so a page shows their effect a moment after the click."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    goto(page, url)
    while not ready(page) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        goto(page, url)


def open_task(page: Page, instance_id: str, bpmn_id: str) -> None:
    """Open, from the inbox, the ready task bpmn_id that belongs to this instance."""
    links = page.get_by_test_id(f"open-{bpmn_id}")
    reload_until(page, "/", lambda _: links.count() > 0)
    expect(links.first).to_be_visible(timeout=TIMEOUT_MS)
    for href in [link.get_attribute("href") for link in links.all()]:
        goto(page, href)
        if page.locator(f'a[href="/instances/{instance_id}"]').count():
            return
    pytest.fail(f"no ready task {bpmn_id} of instance {instance_id} in the inbox")


def complete_task(page: Page, instance_id: str, role: str, bpmn_id: str, values: dict) -> None:
    sign_in(page, role)
    open_task(page, instance_id, bpmn_id)
    claim = page.get_by_test_id("claim")
    if role in PRE_ASSIGNED_ROLES:
        expect(claim).to_have_count(0, timeout=TIMEOUT_MS)
    else:
        submit(page, claim)
    fill(page, values)
    submit(page, page.get_by_test_id("complete"))
    expect(page).to_have_url(re.compile(rf"/instances/{instance_id}$"), timeout=TIMEOUT_MS)
    expect(page.locator(".flash.ok")).to_contain_text("completed", timeout=TIMEOUT_MS)
    sign_out(page)


def run_path(page: Page, steps: list, outcome: str) -> None:
    """Start an application, walk every step role by role, then audit the result."""
    sign_in(page, "operator")
    start_application(page, APPLICATION)
    expect(page).to_have_url(re.compile(r"/instances/[^/]+$"), timeout=TIMEOUT_MS)
    instance_id = page.url.rsplit("/", 1)[-1]
    sign_out(page)
    for role, bpmn_id, values in steps:
        complete_task(page, instance_id, role, bpmn_id, values)
    sign_in(page, "auditor")
    status = page.get_by_test_id("status")
    reload_until(page, f"/instances/{instance_id}", lambda _: status.inner_text() != "running")
    expect(status).to_have_text("completed", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("outcome")).to_have_text(outcome, timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("chain")).to_contain_text("Journal intact", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("chain")).to_contain_text("hash chain verified",
                                                         timeout=TIMEOUT_MS)
    # a signed licence (long base64 lines) wraps instead of widening the page
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the instance page is {widths[0]} px wide"
    sign_out(page)


def test_licence_issued_through_the_browser(page):
    run_path(page, LICENCE_ISSUED, "licence_issued")


def test_field_errors_are_shown_next_to_fields(page):
    sign_in(page, "operator")
    start_application(page, {**APPLICATION, "applicant_iin_bin": "12345"}, expected=422)
    error = page.locator("small[data-field-error=applicant_iin_bin]")
    expect(error).to_have_text("IIN/BIN must be exactly 12 digits.", timeout=TIMEOUT_MS)
    expect(page.locator("input[name=applicant_iin_bin]")).to_have_value("12345",
                                                                         timeout=TIMEOUT_MS)
    expect(page.locator("select[name=licence_case]")).to_have_value("issue", timeout=TIMEOUT_MS)
    expect(page.locator("small[data-field-error]")).to_have_count(1, timeout=TIMEOUT_MS)
    sign_out(page)


def test_refusal_through_the_browser(page):
    run_path(page, REASONED_REFUSAL, "reasoned_refusal")
