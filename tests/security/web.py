"""Signing in through the web forms, as a browser does: fetch the page, post its CSRF token."""

import re

from tests.paths import PASSWORD


def csrf_of(page: str) -> str:
    """Return the CSRF token a rendered page carries."""
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, username: str, password: str = PASSWORD, next_path: str | None = None):
    """Post the login form with its CSRF token; return the answer."""
    token = csrf_of(client.get("/login").get_data(as_text=True))
    url = "/login" if next_path is None else f"/login?next={next_path}"
    return client.post(url, data={"username": username, "password": password,
                                  "csrf_token": token})


def token_of(client, username: str, password: str = PASSWORD) -> str:
    """Return a fresh API token for a user."""
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.json
    return answer.json["token"]


def bearer(token: str) -> dict:
    """Return the Authorization header for an API token."""
    return {"Authorization": f"Bearer {token}"}
