"""What a refused request must not leave behind: rows, journal entries, state-system calls."""

from sqlalchemy import func
from sqlalchemy import select

from app.models import AuditEvent
from app.models import ProcessInstance
from app.models import Task
from app.models import db
from handlers import adapters


def counts(app) -> tuple[int, int, int]:
    """Return how many instances, tasks and journal entries the database holds."""
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(model))
                     for model in (ProcessInstance, Task, AuditEvent))


def record_state_system_calls(monkeypatch) -> list:
    """Record every call the handlers make to a state system; return the (growing) list."""
    calls, real = [], adapters.call

    def recording(system, method, path, **kwargs):
        calls.append((system, method, path))
        return real(system, method, path, **kwargs)

    monkeypatch.setattr(adapters, "call", recording)
    return calls
