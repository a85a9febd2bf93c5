"""Shared fixtures: a fresh app per test (own SQLite files), API clients per role, paths."""

import urllib.request
from pathlib import Path

import pytest

import reference
from app import create_app
from app.cli import prepare_demo
from reference import nca
from reference.server import ReferenceServer
from tests.paths import PASSWORD
from tests.paths import PROCESS


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory):
    """Create the reference NCA's PKI once per test session (RSA keys take a moment)."""
    folder = tmp_path_factory.mktemp("pki")
    nca.ensure_pki(str(folder))
    return folder


@pytest.fixture(scope="session")
def state_systems(tmp_path_factory, pki_dir):
    """Serve the reference state systems over real HTTP on loopback, with fault injection."""
    folder = tmp_path_factory.mktemp("reference")
    app = reference.create_app(f"sqlite:///{folder}/reference.sqlite", faults=True,
                               extra_blueprints=[nca.create_blueprint(str(pki_dir))])
    server = ReferenceServer(app).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _state_systems_healthy(state_systems):
    """Clear injected faults and restart a stopped reference server after every test."""
    yield
    if not state_systems.running:
        state_systems.start()
    urllib.request.urlopen(urllib.request.Request(  # noqa: S310 - loopback test server
        f"{state_systems.url}/_control/faults", method="DELETE")).close()


@pytest.fixture
def make_app(state_systems, pki_dir):
    """Return a factory of apps whose databases and keys live in a given folder."""
    def factory(folder, **overrides):
        Path(folder).mkdir(parents=True, exist_ok=True)
        config = {
            "TESTING": True, "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/qyzmet.sqlite",
            "REFERENCE_URL": state_systems.url, "PKI_DIR": str(pki_dir),
            "TRUST_CHAIN": str(pki_dir / "ca-chain.pem"), "KEYS_DIR": f"{folder}/keys",
            "RETRY_DELAY": 0.0, "STATE_SYSTEM_TIMEOUT": 1.0,
            # a cheap hash keeps hundreds of test apps fast; production uses scrypt
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", **overrides,
        }
        app = create_app(config)
        with app.app_context():
            prepare_demo(PASSWORD)
        return app
    return factory


@pytest.fixture
def app(make_app, tmp_path):
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
