"""Tampering with the journal in tests, as someone with the rights to drop its triggers would.

The database refuses UPDATE and DELETE on the journal (app.audit.append_only); a test that
plays the attacker removes the triggers, makes its changes and puts the triggers back, all in
one transaction. Run it outside any open session transaction: on PostgreSQL dropping a trigger
waits for every reader of the table.
"""

from app.audit import append_only
from app.models import db


def tamper(app, *changes) -> None:
    """Apply `changes` (statements, or functions of the connection) with the triggers off."""
    with app.app_context(), db.engine.begin() as conn:
        dialect = conn.dialect.name
        for statement in append_only.remove_statements(dialect):
            conn.exec_driver_sql(statement)
        for change in changes:
            change(conn) if callable(change) else conn.execute(change)
        for statement in append_only.install_statements(dialect):
            conn.exec_driver_sql(statement)
