"""The database refuses to change or remove a journal entry: triggers on `audit_event`.

The application only ever inserts into the journal (`app.core.store.write_change`,
`app.audit.admin_log.record`); these triggers make the database say no as well, so a bug or a
careless script cannot rewrite history. Someone with the rights to drop a trigger still can:
that is what the hash chain (`app.audit.verification`) and the signed checkpoints catch.

One set of statements serves both ways a schema is made: migration 0006 runs them, and a
`db.create_all()` (which no code path uses today, but a script might) runs them through the
`after_create` listener below. Migration 0006 installs exactly what `install_statements`
returns: change the DDL only together with a new migration. On SQLite a table rebuild
(`batch_alter_table` on `audit_event`) drops the triggers: such a migration must install them
again.
"""

from sqlalchemy import event

from app.models import AuditEvent

TABLE = AuditEvent.__table__.name
_REFUSED = "the journal is append-only"

_SQLITE_INSTALL = [
    f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}: {verb} refused'); END"
    for verb in ("UPDATE", "DELETE")]
_SQLITE_REMOVE = [f"DROP TRIGGER IF EXISTS {TABLE}_no_{verb}" for verb in ("update", "delete")]

# RAISE ... USING MESSAGE keeps '%' out of the text (DDL and drivers would format it)
_POSTGRES_INSTALL = [
    f"CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION USING MESSAGE = '{_REFUSED}: ' || TG_OP || ' refused'; END $$",
    f"CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
    f"FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()",
    f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only()"]
_POSTGRES_REMOVE = [f"DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE}",
                    f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
                    f"DROP FUNCTION IF EXISTS {TABLE}_append_only()"]

_STATEMENTS = {"sqlite": (_SQLITE_INSTALL, _SQLITE_REMOVE),
               "postgresql": (_POSTGRES_INSTALL, _POSTGRES_REMOVE)}


def install_statements(dialect: str) -> list[str]:
    """Return the DDL that makes the journal append-only on `dialect` (none elsewhere)."""
    return _STATEMENTS.get(dialect, ([], []))[0]


def remove_statements(dialect: str) -> list[str]:
    """Return the DDL that takes the triggers away again (a downgrade)."""
    return _STATEMENTS.get(dialect, ([], []))[1]


@event.listens_for(AuditEvent.__table__, "after_create")
def _install_after_create(_table, connection, **_kw) -> None:
    """Install the triggers when `db.create_all()` creates the journal table."""
    for statement in install_statements(connection.dialect.name):
        connection.exec_driver_sql(statement)
