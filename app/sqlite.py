"""Database settings per dialect: SQLite's pragmas, PostgreSQL's durability check.

A committed change must survive a power cut. SQLite in WAL mode with `synchronous=NORMAL`
may lose the last commits (the WAL is synced only at checkpoints), so Qyzmet uses `FULL`:
every commit syncs the WAL. PostgreSQL is durable with its defaults (`fsync`,
`synchronous_commit`, `full_page_writes` on); Qyzmet refuses a server where they are off.
"""

from sqlalchemy import event
from sqlalchemy.engine import Engine

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
           "PRAGMA busy_timeout=5000")
# PostgreSQL settings without which a commit can be lost in a power cut, and their safe values
# (synchronous_commit: every value but `off` waits for the local WAL flush)
DURABLE = {"fsync": {"on"}, "full_page_writes": {"on"},
           "synchronous_commit": {"on", "local", "remote_write", "remote_apply"}}


class NotDurable(RuntimeError):
    """The database server may lose committed changes in a power cut."""


def tune(engine: Engine) -> None:
    """Set up `engine` for its dialect: SQLite pragmas, PostgreSQL's durability check.

    Other dialects are left as they are.
    """
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "first_connect", _check_postgresql)


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    for pragma in PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _check_postgresql(connection, _record) -> None:
    cursor = connection.cursor()
    try:
        settings = {}
        for name in DURABLE:
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
    finally:
        cursor.close()
    connection.rollback()  # SHOW opened a transaction; leave the connection clean
    require_durable(settings)


def require_durable(settings: dict[str, str]) -> None:
    """Raise NotDurable unless PostgreSQL's `settings` keep every committed change."""
    unsafe = {name: value for name, value in settings.items() if value not in DURABLE[name]}
    if unsafe:
        shown = ", ".join(f"{name}={value}" for name, value in sorted(unsafe.items()))
        raise NotDurable(f"PostgreSQL would lose committed changes in a power cut ({shown}); "
                         "turn these settings on in postgresql.conf")
