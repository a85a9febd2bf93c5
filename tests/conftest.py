"""Shared fixtures: a fresh app per test (own SQLite files), API clients per role, paths."""

from pathlib import Path

import pytest

from app import create_app
from app.cli import prepare_demo
from tests.paths import PASSWORD
from tests.paths import PROCESS


def make_app(folder, **overrides):
    """Create an app whose databases and keys live in `folder`."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    config = {
        "TESTING": True, "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/qyzmet.sqlite",
        "STATE_SYSTEMS_DATABASE_URI": f"sqlite:///{folder}/state.sqlite",
        "KEYS_DIR": f"{folder}/keys", **overrides,
    }
    app = create_app(config)
    with app.app_context():
        prepare_demo(PASSWORD)
    return app


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """Calls /api/v1 as a named demo user, fetching tokens once."""

    def __init__(self, client):
        self.client = client
        self.tokens = {}

    def headers(self, user):
        if user not in self.tokens:
            answer = self.client.post("/api/v1/auth/token",
                                      json={"username": user, "password": PASSWORD})
            assert answer.status_code == 200, answer.json
            self.tokens[user] = answer.json["token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, user, path, **kwargs):
        return self.client.get(f"/api/v1{path}", headers=self.headers(user), **kwargs)

    def post(self, user, path, **kwargs):
        return self.client.post(f"/api/v1{path}", headers=self.headers(user), **kwargs)

    def ready_task(self, user, instance_id, bpmn_id):
        """Return the id of the instance's ready task `bpmn_id`, as `user` sees it."""
        tasks = self.get(user, f"/tasks?instance={instance_id}&state=ready").json
        matching = [t["id"] for t in tasks if t["bpmn_id"] == bpmn_id]
        assert matching, f"{bpmn_id} is not ready; ready: {[t['bpmn_id'] for t in tasks]}"
        return matching[0]

    def start(self, data, user="operator"):
        answer = self.post(user, "/instances", json={"process": PROCESS, "data": data})
        assert answer.status_code == 201, answer.json
        return answer.json["id"]

    def walk(self, instance_id, steps):
        """Complete each (user, task id, data) step in order, asserting 200 each time."""
        for user, bpmn_id, data in steps:
            task_id = self.ready_task(user, instance_id, bpmn_id)
            answer = self.post(user, f"/tasks/{task_id}/complete", json={"data": data})
            assert answer.status_code == 200, (bpmn_id, answer.json)



@pytest.fixture
def api(client):
    return Api(client)
