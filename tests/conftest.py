"""Shared fixtures: a fresh app per test (own database), API clients per role, paths.

Apps use SQLite files in the test's folder, or, when QYZMET_TEST_DATABASE names a PostgreSQL
database (`./qyzmet test` does so for its second run), a fresh schema of that database per
folder: the same folder gives the same schema (a restart), and the schemas end with the test.
"""

import datetime
import itertools
import os
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url

import reference
from app import create_app
from app.audit import replay
from app.cli import prepare_demo
from app.models import ProcessInstance
from app.models import db
from app.timing import calendar
from app.timing.clock import ManualClock
from reference import nca
from reference.server import ReferenceServer
from tests import flows
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


TEST_DATABASE = os.environ.get("QYZMET_TEST_DATABASE", "")
SCHEMA_PREFIX = "qyzmet_test_"


class Schemas:
    """Hand out a fresh PostgreSQL schema per app folder on one test database."""

    def __init__(self, url: str):
        self.url = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", pool_size=1)
        self.numbers = itertools.count()
        self.folders: dict[str, str] = {}
        self._drop_orphans()

    def uri(self, folder) -> str:
        """Return the database URI of `folder`'s schema, creating the schema the first time."""
        key = str(Path(folder).resolve())
        if key not in self.folders:
            name = f"{SCHEMA_PREFIX}{os.getpid()}_{next(self.numbers)}"
            self._execute(f'CREATE SCHEMA "{name}"')
            self.folders[key] = name
        options = {"options": f"-csearch_path={self.folders[key]}"}
        return self.url.update_query_dict(options).render_as_string(hide_password=False)

    def drop(self, folders=None) -> None:
        """Drop the schemas of `folders` (of every folder when None)."""
        keys = list(self.folders) if folders is None else [str(Path(f).resolve()) for f in folders]
        for key in keys:
            name = self.folders.pop(key, None)
            if name is not None:
                self._execute(f'DROP SCHEMA "{name}" CASCADE')

    def _drop_orphans(self) -> None:
        # schemas left by test runs that were killed; a live run's pid still answers
        with self.admin.connect() as conn:
            names = conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                                 {"p": SCHEMA_PREFIX + "%"}).scalars().all()
        for name in names:
            pid = int(name.removeprefix(SCHEMA_PREFIX).split("_")[0])
            if not Path(f"/proc/{pid}").exists():
                self._execute(f'DROP SCHEMA "{name}" CASCADE')

    def _execute(self, statement: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(statement)


@pytest.fixture(scope="session")
def schemas():
    """The PostgreSQL schemas of this run, or None when the apps use SQLite files."""
    if not TEST_DATABASE:
        yield None
        return
    handed_out = Schemas(TEST_DATABASE)
    yield handed_out
    handed_out.drop()
    handed_out.admin.dispose()


@pytest.fixture
def database_uri(schemas):
    """Return a function giving the database URI of an app folder (SQLite file or schema)."""
    folders = []

    def uri(folder) -> str:
        if schemas is None:
            return f"sqlite:///{folder}/qyzmet.sqlite"
        folders.append(folder)
        return schemas.uri(folder)
    yield uri
    if schemas is not None:
        schemas.drop(folders)


@pytest.fixture
def make_app(request, state_systems, pki_dir, database_uri):
    """Return a factory of apps whose databases and keys live in a given folder."""
    made = []

    def factory(folder, **overrides):
        Path(folder).mkdir(parents=True, exist_ok=True)
        config = {
            "TESTING": True, "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": database_uri(folder),
            "REFERENCE_URL": state_systems.url, "PKI_DIR": str(pki_dir),
            "TRUST_CHAIN": str(pki_dir / "ca-chain.pem"), "KEYS_DIR": f"{folder}/keys",
            "RETRY_DELAY": 0.0, "STATE_SYSTEM_TIMEOUT": 1.0, "JOBS": "eager",
            # a short snapshot interval: every restore in the suite also replays a tail
            "STATE_SNAPSHOT_EVERY": 3,
            # a cheap hash keeps hundreds of test apps fast; production uses scrypt
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", **overrides,
        }
        app = create_app(config)
        made.append(app)
        with app.app_context():
            prepare_demo(PASSWORD)
        return app
    yield factory
    replays_every_case = request.node.get_closest_marker("edits_the_record") is None
    diverged = []
    for app in made:  # close pooled connections before the schemas go
        _stop_background_threads(app)
        with app.app_context():
            if replays_every_case:
                diverged += _cases_that_do_not_replay(app)
            db.engine.dispose()
    assert not diverged, f"cases of this test that do not replay: {diverged}"


def _stop_background_threads(app) -> None:
    """Stop an app's embedded scheduler and job workers, if it started them."""
    stop = app.extensions.get("qyzmet_scheduler")
    if stop is not None:
        stop.set()
    workers_stop = getattr(app.extensions["qyzmet"].jobs, "stop", None)
    if workers_stop is not None:
        workers_stop.set()
        app.extensions["qyzmet"].jobs.wake.set()


def _cases_that_do_not_replay(app) -> list:
    """Replay every case the app holds, finished or running; return those that diverge.

    Every test's cases are replayed at its end (issue 7: every path of the suite replays);
    a test that edits the record on purpose is marked `edits_the_record`.
    """
    with db.engine.connect() as conn:  # not the session: its connection would outlive dispose()
        ids = conn.execute(select(ProcessInstance.id)).scalars().all()
    diverged = []
    for instance_id in ids:
        workflow = replay.replayed_workflow(app.extensions["qyzmet"], instance_id)
        if workflow is None:
            diverged.append((instance_id, replay.replay(app.extensions["qyzmet"],
                                                        instance_id)["divergence"]))
        else:
            flows.record(workflow)  # the flow-coverage report at the end of the run
    return diverged


def pytest_terminal_summary(terminalreporter):
    """Print which sequence flows of bpmn/ the run's cases took (tests/flows.py)."""
    if flows.TAKEN:
        terminalreporter.section("sequence-flow coverage of bpmn/ (cases replayed at test end)")
        for line in flows.report():
            terminalreporter.write_line(line)


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


# Friday 20 March 2026, 09:00 in Kazakhstan (UTC+5): the working day before Nauryz
CLOCK_START = datetime.datetime(2026, 3, 20, 4, 0, tzinfo=datetime.UTC)


@pytest.fixture
def clock():
    """A manual clock standing at CLOCK_START until a test moves it."""
    return ManualClock(CLOCK_START)


@pytest.fixture
def clocked_app(make_app, tmp_path, clock):
    """An app whose Runtime runs on the manual `clock` (allowed because TESTING is set)."""
    return make_app(tmp_path, CLOCK=clock)


@pytest.fixture
def clocked_api(clocked_app):
    """The API of `clocked_app`, as the demo users call it."""
    return Api(clocked_app.test_client())


@pytest.fixture
def kept_calendar(monkeypatch, tmp_path):
    """Count working days on the calendar kept in the repository alone: an admin's
    instance/calendar.json on the developer's machine must not move a test's deadlines."""
    monkeypatch.setattr(calendar, "ADMIN_DATA", tmp_path / "no-admin-calendar.json")
