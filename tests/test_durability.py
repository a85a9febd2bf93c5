"""A committed change survives a power cut, and both databases store the same values.

The settings test asserts each database's own durability settings (SQLite: WAL with
synchronous=FULL; PostgreSQL: fsync, synchronous_commit, full_page_writes on); the other
tests behave the same on the SQLite and the PostgreSQL run.
"""

import datetime

import pytest
from sqlalchemy import select
from sqlalchemy import update

from app import sqlite
from app.models import Task
from app.models import db
from tests.paths import START

SQLITE_SYNCHRONOUS_FULL = 2


def test_every_connection_commits_durably(app):
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # PRAGMAs exist only on SQLite
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == SQLITE_SYNCHRONOUS_FULL
        else:
            settings = {name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                        for name in sqlite.DURABLE}
            assert settings == {"fsync": "on", "full_page_writes": "on",
                                "synchronous_commit": "on"}


@pytest.mark.parametrize("unsafe", [{"fsync": "off"}, {"synchronous_commit": "off"},
                                    {"full_page_writes": "off"}])
def test_a_postgresql_server_that_can_lose_commits_is_refused(unsafe):
    settings = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on", **unsafe}
    with pytest.raises(sqlite.NotDurable, match=next(iter(unsafe))):
        sqlite.require_durable(settings)


def test_durable_postgresql_settings_are_accepted():
    sqlite.require_durable({"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on"})
    sqlite.require_durable({"fsync": "on", "full_page_writes": "on",
                            "synchronous_commit": "remote_apply"})


def test_moments_come_back_aware_in_utc(app, api):
    instance_id = api.start(START)
    almaty = datetime.timezone(datetime.timedelta(hours=5))
    moment = datetime.datetime(2026, 3, 20, 18, 0, tzinfo=almaty)
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(update(Task).where(Task.instance_id == instance_id)
                         .values(due_at=moment))
        with db.engine.connect() as conn:
            stored = conn.execute(select(Task.due_at).where(Task.instance_id == instance_id)
                                  ).scalars().first()
    assert stored == moment and stored.utcoffset() == datetime.timedelta(0)
    tasks = api.get("auditor", f"/tasks?instance={instance_id}").json
    assert {t["due_at"] for t in tasks} == {"2026-03-20T13:00:00+00:00"}


@pytest.mark.parametrize("path", ["/tasks/a%00b", "/instances/%00", "/instances/%00/history"])
def test_a_nul_in_a_path_is_not_found_on_every_database(api, path):
    assert api.get("auditor", path).status_code == 404


def test_a_nul_in_a_body_is_refused_and_in_a_filter_matches_nothing(api):
    started = api.post("operator", "/instances", json={"process": "survey\x00", "data": {}})
    assert started.status_code == 422 and started.json["errors"]
    signed_in = api.client.post("/api/v1/auth/token",
                                json={"username": "operator\x00", "password": "x"})
    assert signed_in.status_code == 422
    listed = api.get("auditor", "/tasks?state=ready%00")
    assert (listed.status_code, listed.json) == (200, [])
