"""Finding 1: redirects go only to paths on this site (login `next`, language `Referer`)."""

import pytest

from app.access import security
from tests.security.web import csrf_of
from tests.security.web import sign_in

HOSTILE = ["/%09/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/",
           "javascript:alert(1)", "/%0a/evil.example", "\t//evil.example", "http:/evil.example"]


@pytest.mark.parametrize("target", HOSTILE)
def test_login_never_redirects_off_site(client, target):
    answer = sign_in(client, "operator", next_path=target)
    assert answer.status_code == 302
    assert answer.location == "/", answer.location


def test_login_keeps_a_same_site_next_path(client):
    answer = sign_in(client, "operator", next_path="/instances?x=1")
    assert answer.location == "/instances?x=1"


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\\/evil", "//evil", "https://e/x", ""])
def test_same_origin_path_refuses_what_browsers_read_as_another_host(target):
    assert security.same_origin_path(target, "/fallback") == "/fallback"


def test_language_ignores_a_foreign_referrer(client):
    sign_in(client, "operator")
    page = client.get("/").get_data(as_text=True)
    answer = client.post("/language", data={"lang": "kk", "csrf_token": csrf_of(page)},
                         headers={"Referer": "https://evil.example/phish"})
    assert answer.status_code == 302 and answer.location == "/"


def test_language_returns_to_the_page_it_came_from(client):
    sign_in(client, "operator")
    page = client.get("/instances").get_data(as_text=True)
    answer = client.post("/language", data={"lang": "ru", "csrf_token": csrf_of(page)},
                         headers={"Referer": "http://localhost/instances"})
    assert answer.location == "/instances"
