"""Finding 5: sign-in is rate-limited per account and per address; unknown usernames cost what
known ones cost."""

import pytest
from werkzeug import security as werkzeug_security

from app.access import auth
from tests.paths import PASSWORD
from tests.security.web import sign_in


@pytest.fixture
def roomy_address_limit(make_app, tmp_path):
    """An app whose per-address limit is high, so only the per-account limit speaks."""
    return make_app(tmp_path, LOGIN_LIMIT_PER_ADDRESS="1000 per minute").test_client()


def test_fifty_wrong_passwords_lock_the_account_then_the_right_one_waits(roomy_address_limit):
    client = roomy_address_limit
    codes = [client.post("/api/v1/auth/token", json={"username": "head", "password": "wrong"})
             .status_code for _ in range(50)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    right = client.post("/api/v1/auth/token", json={"username": "head", "password": PASSWORD})
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) > 0
    assert "too many failed sign-ins" in right.json["error"]
    other = client.post("/api/v1/auth/token", json={"username": "office", "password": PASSWORD})
    assert other.status_code == 200  # the lock is per account


def test_the_web_login_shares_the_account_lock(roomy_address_limit):
    client = roomy_address_limit
    for _ in range(5):
        assert sign_in(client, "head", password="wrong").status_code == 401
    answer = sign_in(client, "head")
    assert answer.status_code == 429 and "Retry-After" in answer.headers


def test_one_address_trying_many_accounts_is_limited(client):
    codes = [client.post("/api/v1/auth/token", json={"username": f"user{i}", "password": "x"})
             .status_code for i in range(40)]
    assert codes[:30] == [401] * 30 and set(codes[30:]) == {429}


def test_unknown_usernames_check_a_password_hash_too(app, monkeypatch):
    checked = []
    real = werkzeug_security.check_password_hash

    def counting(stored, password):
        checked.append(stored.split("$")[0])
        return real(stored, password)

    monkeypatch.setattr(auth, "check_password_hash", counting)
    method = app.config["PASSWORD_HASH_METHOD"]
    with app.app_context():
        assert auth.authenticate("nobody-at-all", "x", method) is None
        assert auth.authenticate("head", "x", method) is None
    assert checked == [method, method]  # the same work, with the same method, either way


def test_each_demo_user_has_its_own_salt(app):
    from sqlalchemy import select  # noqa: PLC0415

    from app.models import User  # noqa: PLC0415
    from app.models import db  # noqa: PLC0415
    with app.app_context():
        hashes = db.session.scalars(select(User.password_hash)).all()
    assert len(hashes) == len(auth.DEMO_USERS) and len(set(hashes)) == len(hashes)


def test_production_hashes_with_scrypt(make_app, tmp_path):
    app = make_app(tmp_path, PASSWORD_HASH_METHOD="scrypt")
    from sqlalchemy import select  # noqa: PLC0415

    from app.models import User  # noqa: PLC0415
    from app.models import db  # noqa: PLC0415
    with app.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.username == "head"))
    assert stored.startswith("scrypt:")
