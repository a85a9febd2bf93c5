"""Alembic owns the schema: revision 1 is the first main's, old databases upgrade without loss.

Every test runs on the database of the run: SQLite files, or PostgreSQL schemas when
QYZMET_TEST_DATABASE is set (the second run of `./qyzmet test`).
"""

import datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from werkzeug.security import generate_password_hash

from app import create_app
from app.audit.admin_log import ADMIN_CHAIN
from app.cli import upgrade_database
from app.models import db
from tests.paths import PASSWORD

FIXTURES = Path(__file__).parent / "fixtures"
FIRST_MAIN_TABLES = {"user", "process_definition", "process_instance", "task", "audit_event"}
AT = datetime.datetime(2026, 3, 20, 9, 30, tzinfo=datetime.UTC)
HEAD = "0007"  # the newest revision in app/migrations
# one row in every table of commit 5629b0c's schema, as that main would have written them
# (integer keys from the database's own sequence, as that main let them be)
OLD_ROWS = {
    "user": [{"username": "veteran", "full_name": "Old Hand",
              "password_hash": generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"),
              "roles": "operator auditor"}],
    "process_definition": [{"key": "old_process", "version": 3, "sha256": "a" * 64,
                            "sources": {"old.bpmn": "<definitions/>"}, "specs": "{}",
                            "manifest": {"title": "Старый процесс", "lanes": ["operator"]},
                            "deployed_by": "setup", "deployed_at": AT}],
    "process_instance": [{"id": "11111111-1111-1111-1111-111111111111",
                          "business_key": "OLD-0001", "applicant_iin_bin": "150140000012",
                          "status": "incident", "outcome": None,
                          "incident": {"task": "lookup", "error": "GBD timed out"},
                          "state": '{"tasks": {}}', "serializer_version": "1.4",
                          "lock_version": 7, "journal_seq": 1, "journal_hash": "b" * 64,
                          "started_by": "veteran", "created_at": AT, "updated_at": AT}],
    "task": [{"id": "22222222-2222-2222-2222-222222222222",
              "instance_id": "11111111-1111-1111-1111-111111111111", "process_key": "old_process",
              "bpmn_id": "attach_documents", "name": "Құжаттарды тіркеу", "lane": "operator",
              "state": "ready", "assignee": None, "due_at": AT, "created_at": AT,
              "completed_by": None, "completed_at": None}],
    "audit_event": [{"instance_id": "11111111-1111-1111-1111-111111111111", "seq": 1,
                     "type": "started", "actor": "veteran", "at": "2026-03-20T09:30:00Z",
                     "payload": '{"iin":"150140000012"}', "prev_hash": "0" * 64,
                     "hash": "b" * 64}],
}


@pytest.fixture
def bare_app(database_uri, tmp_path):
    """Return a factory of apps on an empty database of the run (no tables, no demo data)."""
    made = []

    def factory(name: str):
        folder = tmp_path / name
        folder.mkdir()
        app = create_app({"TESTING": True, "SECRET_KEY": "test-secret",
                          "SQLALCHEMY_DATABASE_URI": database_uri(folder),
                          "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
        made.append(app)
        return app
    yield factory
    for app in made:
        with app.app_context():
            db.engine.dispose()


def make_first_main_database() -> None:
    """Create the tables exactly as commit 5629b0c's db.create_all() did (no alembic_version)."""
    ddl = (FIXTURES / f"schema_5629b0c_{db.engine.dialect.name}.sql").read_text(encoding="utf-8")
    statements = [s.strip() for s in ddl.split(";") if s.strip().replace("\n", "")]
    with db.engine.begin() as conn:
        for statement in statements:
            body = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
            conn.exec_driver_sql(body)


def describe_schema() -> dict:
    """Return every table's columns, keys, unique constraints and indexes, as reflected."""
    described = {}
    with db.engine.connect() as conn:
        inspector = inspect(conn)
        for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
            described[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"])
                            for c in inspector.get_columns(table)],
                "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
                "foreign_keys": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                                        tuple(f["referred_columns"]))
                                       for f in inspector.get_foreign_keys(table)),
                "unique": sorted((u["name"] or "", tuple(u["column_names"]))
                                 for u in inspector.get_unique_constraints(table)),
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in inspector.get_indexes(table)),
            }
    return described


def read_all_rows(tables) -> dict:
    """Return every row of `tables`, read through the reflected schema."""
    metadata = MetaData()
    with db.engine.connect() as conn:
        metadata.reflect(conn, only=list(tables))
        return {name: [dict(row._mapping) for row in conn.execute(select(metadata.tables[name]))]
                for name in tables}


def insert_rows(rows_by_table: dict) -> None:
    """Insert rows through the reflected schema, parents first."""
    metadata = MetaData()
    with db.engine.begin() as conn:
        metadata.reflect(conn, only=list(rows_by_table))
        tables = metadata.tables
        conn.execute(tables["user"].insert(), rows_by_table["user"])
        definition_id = conn.execute(tables["process_definition"].insert(),
                                     rows_by_table["process_definition"]).inserted_primary_key[0]
        conn.execute(tables["process_instance"].insert(),
                     [{**row, "definition_id": definition_id}
                      for row in rows_by_table["process_instance"]])
        conn.execute(tables["task"].insert(), rows_by_table["task"])
        conn.execute(tables["audit_event"].insert(), rows_by_table["audit_event"])


def revision_of_database() -> str | None:
    """Return the revision stamped in the database, or None."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_revision_1_is_the_schema_the_first_main_made(bare_app):
    made_by_main, made_by_alembic = bare_app("main"), bare_app("alembic")
    with made_by_main.app_context():
        make_first_main_database()
        expected = describe_schema()
    with made_by_alembic.app_context():
        assert upgrade_database("0001") == (None, "0001")
        assert describe_schema() == expected
    assert set(expected) == FIRST_MAIN_TABLES


def test_database_of_the_first_main_upgrades_without_loss(bare_app):
    app = bare_app("old")
    with app.app_context():
        make_first_main_database()
        insert_rows(OLD_ROWS)
        before = read_all_rows(FIRST_MAIN_TABLES)
        assert revision_of_database() is None
        assert upgrade_database() == ("0001", HEAD)
        after = read_all_rows(FIRST_MAIN_TABLES)
        assert after["task"] == [{**before["task"][0], "escalated_at": None}]
        # the stored state of an old case is current: a snapshot at its journal head
        [case] = before["process_instance"]
        assert after["process_instance"] == [{**case, "state_seq": case["journal_seq"]}]
        assert {k: v for k, v in after.items() if k not in ("task", "process_instance")} == {
            k: v for k, v in before.items() if k not in ("task", "process_instance")}
        assert {"credential", "timer", "job"} <= set(inspect(db.engine).get_table_names())
        [deadline] = read_all_rows(["timer"])["timer"]  # the open step keeps its deadline
        assert (deadline["task_id"], deadline["kind"], deadline["state"]) == (
            "22222222-2222-2222-2222-222222222222", "step_deadline", "waiting")
        due = deadline["due_at"]  # reflected: naive UTC on SQLite, aware on PostgreSQL
        assert (due.astimezone(datetime.UTC) if due.tzinfo else due.replace(
            tzinfo=datetime.UTC)) == AT
        assert upgrade_database() == (HEAD, HEAD)  # idempotent
    # the kept user signs in: the new credential table takes the token
    answer = app.test_client().post("/api/v1/auth/token",
                                    json={"username": "veteran", "password": PASSWORD})
    assert answer.status_code == 200, answer.json
    with app.app_context():
        assert read_all_rows(["credential"])["credential"][0]["username"] == "veteran"


def test_init_demo_adopts_a_database_made_by_create_all_with_credentials(bare_app):
    app = bare_app("branch")
    with app.app_context():  # create_all on this branch before Alembic: 0002's tables, no stamp
        upgrade_database("0002")
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
        insert_rows(OLD_ROWS)
        before = read_all_rows(FIRST_MAIN_TABLES)
    result = app.test_cli_runner().invoke(args=["init-demo"])
    assert result.exit_code == 0, result.output
    assert f"database schema 0002 -> {HEAD}" in result.output  # stamped 0002, then upgraded
    with app.app_context():
        assert revision_of_database() == HEAD
        after = read_all_rows(FIRST_MAIN_TABLES)
    assert after["process_instance"] == [{**case, "state_seq": case["journal_seq"]}
                                         for case in before["process_instance"]]
    # the cases' journals are kept; init-demo's deploy is journalled in the admin chain
    kept = [row for row in after["audit_event"] if row["instance_id"] != ADMIN_CHAIN]
    assert kept == before["audit_event"]
    assert [row["type"] for row in after["audit_event"] if row["instance_id"] == ADMIN_CHAIN] == [
        "deployed"]
    assert before["user"][0] in after["user"]


def test_models_match_the_newest_migration(app):
    """A model change without its migration fails here (what `flask db check` reports)."""
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts=app.extensions["migrate"].configure_args)
        assert compare_metadata(context, db.metadata) == []


def test_flask_db_upgrade_and_downgrade(bare_app):
    app = bare_app("cli")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with app.app_context():
        assert revision_of_database() == HEAD
        tables = set(inspect(db.engine).get_table_names())
        assert tables >= FIRST_MAIN_TABLES | {"credential", "job", "timer"}
    with app.app_context():  # 0006: the journal takes entries and refuses to lose them
        with db.engine.begin() as conn:
            conn.execute(db.metadata.tables["audit_event"].insert(), OLD_ROWS["audit_event"])
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_event")
    assert runner.invoke(args=["db", "downgrade", "base"]).exit_code == 0
    with app.app_context():
        assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
        assert upgrade_database() == (None, HEAD)
