"""Shared helpers for the reference systems' tests: a fresh server, one HTTP call."""

import pytest

from reference import create_app
from reference.server import ReferenceServer


@pytest.fixture
def database(tmp_path):
    """Return the URL of a fresh SQLite file."""
    return f"sqlite:///{tmp_path}/reference.sqlite"


@pytest.fixture
def service(database):
    """Serve fresh reference systems (with /_control) on a free loopback port."""
    server = ReferenceServer(create_app(database, faults=True)).start()
    yield server
    server.stop()
