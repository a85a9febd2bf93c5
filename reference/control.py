"""Fault injection for tests: the next n requests to a system fail, stall or answer nonsense."""

import dataclasses
import threading
import time

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request

from reference import db

EXTENSION = "reference.faults"
SYSTEMS = ("gbdfl", "gbdul", "pep", "elicense", "portal")
MODES = ("error", "slow", "garbage", "wrong_schema")
MAX_DELAY = 120

bp = Blueprint("control", __name__, url_prefix="/_control")


@dataclasses.dataclass
class Fault:
    """A pending fault: mode, how many more requests it hits, and the delay for 'slow'."""

    mode: str
    count: int
    delay: float


class FaultBoard:
    """The pending fault of each system, shared by the server's threads."""

    def __init__(self) -> None:
        """Start with no faults."""
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}

    def arm(self, system: str, fault: Fault) -> None:
        """Make the next fault.count requests to system fail as fault says."""
        with self._lock:
            self._faults[system] = fault

    def clear(self) -> None:
        """Drop all pending faults."""
        with self._lock:
            self._faults.clear()

    def take(self, system: str) -> Fault | None:
        """Return the fault that hits this request to system, counting it, or None."""
        with self._lock:
            fault = self._faults.get(system)
            if fault is None:
                return None
            fault.count -= 1
            if fault.count <= 0:
                del self._faults[system]
            return fault


def parse_fault(payload: object) -> tuple[str, Fault]:
    """Return (system, fault) from {system, mode, count, delay}; raise BadRequest."""
    fields = db.require_object(payload)
    system, mode = fields.get("system"), fields.get("mode")
    if system not in SYSTEMS:
        raise db.BadRequest(f"system must be one of {', '.join(SYSTEMS)}")
    if mode not in MODES:
        raise db.BadRequest(f"mode must be one of {', '.join(MODES)}")
    count = db.require_positive_int({"count": fields.get("count", 1)}, "count")
    delay = fields.get("delay", 0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY:
        raise db.BadRequest(f"delay must be a number of seconds from 0 to {MAX_DELAY}")
    return system, Fault(mode, count, float(delay))


def arm_fault(board: FaultBoard, payload: object) -> tuple[int, dict]:
    """Arm the fault described by payload and return it."""
    system, fault = parse_fault(payload)
    board.arm(system, fault)
    return 201, {"system": system, **dataclasses.asdict(fault)}


def inject_fault() -> Response | None:
    """Before each request: answer as the pending fault of the request's system says."""
    board = current_app.extensions.get(EXTENSION)
    if board is None or request.blueprint not in SYSTEMS:
        return None
    fault = board.take(request.blueprint)
    if fault is None:
        return None
    if fault.mode == "slow":
        time.sleep(fault.delay)
        return None
    if fault.mode == "garbage":
        return Response("<html>oops", status=200, mimetype="text/html")
    if fault.mode == "wrong_schema":
        return db.json_response(200, '{"unexpected": true}')
    return db.json_response(
        503, '{"error": "unavailable", "message": "fault injected by /_control/faults"}')


@bp.post("/faults")
def arm_view():
    """Arm a fault."""
    payload = request.get_json(silent=True)
    board = current_app.extensions[EXTENSION]
    return db.write(lambda _conn: arm_fault(board, payload))


@bp.delete("/faults")
def clear_view():
    """Clear all faults."""
    current_app.extensions[EXTENSION].clear()
    return db.json_response(200, '{"cleared": true}')
