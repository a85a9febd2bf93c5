"""Finding 6: sessions and API tokens end on sign-out, on request, by an admin and on a password
change, and live only as long as configured."""

from click.testing import CliRunner

from tests.paths import PASSWORD
from tests.security.web import bearer
from tests.security.web import csrf_of
from tests.security.web import sign_in
from tests.security.web import token_of


def _works(client, token) -> bool:
    return client.get("/api/v1/processes", headers=bearer(token)).status_code == 200


def test_a_session_cookie_saved_before_logout_does_not_work_after(app, client):
    sign_in(client, "operator")
    saved = client.get_cookie("session").value
    page = client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_of(page)})
    replayed = app.test_client()
    replayed.set_cookie("session", saved, domain="localhost")
    answer = replayed.get("/")
    assert answer.status_code == 302 and "/login" in answer.location


def test_a_sign_in_does_not_keep_the_visitors_old_session(client):
    client.get("/login")
    before = client.get_cookie("session").value
    sign_in(client, "operator")
    assert client.get_cookie("session").value != before


def test_delete_token_ends_it(client):
    token = token_of(client, "head")
    other = token_of(client, "head")
    assert client.delete("/api/v1/auth/token", headers=bearer(token)).status_code == 204
    assert not _works(client, token)
    assert _works(client, other)  # only the token that was sent ends


def test_a_revoked_token_stays_revoked_after_a_restart(make_app, tmp_path):
    client = make_app(tmp_path).test_client()
    token = token_of(client, "head")
    client.delete("/api/v1/auth/token", headers=bearer(token))
    restarted = make_app(tmp_path).test_client()
    assert not _works(restarted, token)


def test_an_admin_ends_every_token_of_a_user(client):
    head, admin = token_of(client, "head"), token_of(client, "admin")
    assert client.delete("/api/v1/users/head/tokens", headers=bearer(head)).status_code == 403
    answer = client.delete("/api/v1/users/head/tokens", headers=bearer(admin))
    assert answer.status_code == 200 and answer.json["revoked"] >= 1
    assert not _works(client, head) and _works(client, admin)
    assert client.delete("/api/v1/users/nobody/tokens", headers=bearer(admin)).status_code == 404


def test_a_password_change_ends_tokens_and_sessions(app, client):
    browser = app.test_client()
    sign_in(browser, "head")
    token, spare = token_of(client, "head"), token_of(client, "head")
    wrong = client.post("/api/v1/auth/password", headers=bearer(token),
                        json={"current_password": "nope", "new_password": "x" * 12})
    assert wrong.status_code == 403 and _works(client, token)
    weak = client.post("/api/v1/auth/password", headers=bearer(token),
                       json={"current_password": PASSWORD, "new_password": "short"})
    assert weak.status_code == 422 and "new_password" in weak.json["errors"]
    answer = client.post("/api/v1/auth/password", headers=bearer(token),
                         json={"current_password": PASSWORD, "new_password": "a-new-secret-1"})
    assert answer.status_code == 204
    assert not _works(client, token) and not _works(client, spare)
    assert browser.get("/").status_code == 302
    assert _works(client, token_of(client, "head", "a-new-secret-1"))


def test_token_lifetime_is_configurable(make_app, tmp_path):
    client = make_app(tmp_path, API_TOKEN_LIFETIME=0).test_client()
    answer = client.post("/api/v1/auth/token", json={"username": "head", "password": PASSWORD})
    assert answer.json["expires_in"] == 0
    assert not _works(client, answer.json["token"])


def test_the_command_line_ends_a_users_credentials(app, client):
    token = token_of(client, "executor")
    runner = CliRunner()
    result = runner.invoke(app.cli, ["revoke", "executor"], obj=_script_info(app))
    assert result.exit_code == 0 and "ended" in result.output
    assert not _works(client, token)
    result = runner.invoke(app.cli, ["revoke", "nobody"], obj=_script_info(app))
    assert result.exit_code == 2 and result.output.count("\n") == 1


def test_set_password_from_the_command_line(app, client):
    token = token_of(client, "office")
    runner = CliRunner()
    result = runner.invoke(app.cli, ["set-password", "office", "--password", "brand-new-pw-1"],
                           obj=_script_info(app))
    assert result.exit_code == 0, result.output
    assert not _works(client, token)
    refused = runner.invoke(app.cli, ["set-password", "office", "--password", "short"],
                            obj=_script_info(app))
    assert refused.exit_code == 2 and "at least" in refused.output


def _script_info(app):
    from flask.cli import ScriptInfo  # noqa: PLC0415
    return ScriptInfo(create_app=lambda: app)

