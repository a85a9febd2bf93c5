"""Alembic environment: the app's engine and metadata; no logging set-up of its own.

`app.cli.upgrade_database` hands in its own connection through
`config.attributes["connection"]`; `flask --app app db ...` lets this file connect.
"""

import logging

from alembic import context
from flask import current_app

config = context.config
log = logging.getLogger("alembic.env")


def _skip_empty_revision(_context, _revision, directives):
    """Write no revision file when autogenerate found no change (`flask db migrate`)."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def run_migrations_online() -> None:
    """Run the migrations on the app's database, in one transaction."""
    migrate = current_app.extensions["migrate"]
    options = {"process_revision_directives": _skip_empty_revision,
               **migrate.configure_args, "target_metadata": migrate.db.metadata}
    connection = config.attributes.get("connection")
    if connection is None:
        with migrate.db.engine.connect() as own:
            _run(own, options)
    else:
        _run(connection, options)


def _run(connection, options: dict) -> None:
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Print the migrations' SQL for the app's database dialect (`flask db upgrade --sql`)."""
    migrate = current_app.extensions["migrate"]
    context.configure(url=migrate.db.engine.url, target_metadata=migrate.db.metadata,
                      literal_binds=True, **migrate.configure_args)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
