"""Fixtures for handler tests: a real SQLite state database and key folder per test."""

import pytest

import handlers
from handlers import statedb as statedb_module


@pytest.fixture
def statedb(tmp_path):
    """Configure the handlers on a fresh seeded database and return the statedb module."""
    handlers.configure(
        database_url=f"sqlite:///{tmp_path}/s.sqlite",
        keys_dir=str(tmp_path / "keys"),
    )
    statedb_module.seed_demo()
    yield statedb_module
    statedb_module.engine().dispose()
