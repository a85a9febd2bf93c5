"""SQLite settings for the embedded mode: WAL journal, NORMAL sync, foreign keys, busy wait."""

from sqlalchemy import event
from sqlalchemy.engine import Engine


def tune(engine: Engine) -> None:
    """Apply the embedded-mode pragmas to every new SQLite connection of `engine`."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _pragmas(connection, _record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
