"""The host's one clock: everything that needs "now" asks the Runtime's clock, never the wall.

`SystemClock` reads the wall clock. `ManualClock` stands still until it is set or advanced:
tests and the demo move it (an admin control exists only in such a configuration). Neither
goes back in time, so journal timestamps never run backwards.
"""

import datetime
import threading

SYSTEM = "system"
MANUAL = "manual"
MAX_ADVANCE = datetime.timedelta(days=3660)  # one move of the manual clock: at most ~10 years


class Clock:
    """A source of the current moment: an aware datetime in UTC."""

    def now(self) -> datetime.datetime:
        """Return the current moment in UTC, timezone-aware."""
        raise NotImplementedError


class SystemClock(Clock):
    """The wall clock."""

    def now(self) -> datetime.datetime:
        """Return the wall clock's moment in UTC."""
        return datetime.datetime.now(datetime.UTC)


def _utc(moment: datetime.datetime) -> datetime.datetime:
    if not isinstance(moment, datetime.datetime) or moment.utcoffset() is None:
        raise ValueError("give a moment with its time zone, e.g. 2026-03-20T09:00:00+05:00")
    return moment.astimezone(datetime.UTC)


class ManualClock(Clock):
    """A clock that moves only when told to; safe to read and move from several threads."""

    def __init__(self, start: datetime.datetime):
        self._now = _utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime.datetime:
        """Return the moment the clock was last set or advanced to."""
        with self._lock:
            return self._now

    def set(self, moment: datetime.datetime) -> datetime.datetime:
        """Move the clock forward to `moment`; ValueError if that is in its past."""
        moment = _utc(moment)
        with self._lock:
            if moment < self._now:
                raise ValueError(f"the clock does not go back: it is {self._now.isoformat()}")
            if moment - self._now > MAX_ADVANCE:
                raise ValueError(f"move the clock by at most {MAX_ADVANCE.days} days at a time")
            self._now = moment
            return moment

    def advance(self, delta: datetime.timedelta) -> datetime.datetime:
        """Move the clock forward by `delta` (not negative); return the new moment."""
        if not isinstance(delta, datetime.timedelta) or delta < datetime.timedelta(0):
            raise ValueError("the clock only moves forward: give a duration of zero or more")
        if delta > MAX_ADVANCE:
            raise ValueError(f"move the clock by at most {MAX_ADVANCE.days} days at a time")
        with self._lock:
            self._now += delta
            return self._now


def from_config(config) -> Clock:
    """Return the clock the configuration asks for.

    `CLOCK` is "system" (the default), "manual" (starting at `CLOCK_START`, an ISO 8601 moment
    with its zone, else at the wall clock's now) or a Clock object (tests). A manual clock is
    allowed only with `TESTING` or `DEMO_CLOCK`: production always runs on the wall clock.
    """
    setting = config.get("CLOCK", SYSTEM)
    if setting == SYSTEM or isinstance(setting, SystemClock):
        return setting if isinstance(setting, Clock) else SystemClock()
    if setting != MANUAL and not isinstance(setting, ManualClock):
        raise RuntimeError(f"CLOCK must be '{SYSTEM}' or '{MANUAL}', not {setting!r}")
    if not (config.get("TESTING") or config.get("DEMO_CLOCK")):
        raise RuntimeError("CLOCK = 'manual' is allowed only with TESTING or DEMO_CLOCK = True: "
                           "a production Qyzmet runs on the system clock")
    if isinstance(setting, ManualClock):
        return setting
    start = config.get("CLOCK_START")
    return ManualClock(datetime.datetime.fromisoformat(start) if start
                       else SystemClock().now())


class Refused(ValueError):
    """A request to move the clock was refused; `field` names what was wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def move(manual: ManualClock, request: dict) -> datetime.datetime:
    """Set a manual clock to `request["now"]` (ISO 8601 text with its zone) or advance it by
    `request["advance_seconds"]`; return the new moment. Messages never echo the input.
    """
    if ("now" in request) == ("advance_seconds" in request):
        raise Refused("now", "give either now or advance_seconds")
    if "now" in request:
        try:
            moment = datetime.datetime.fromisoformat(request["now"])
        except (TypeError, ValueError):
            raise Refused("now", "give an ISO 8601 moment with its time zone, "
                                 "e.g. 2026-03-20T09:00:00+05:00") from None
        try:
            return manual.set(moment)
        except ValueError as err:  # in the past, too far, or without a zone
            raise Refused("now", str(err)) from None
    seconds = request["advance_seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not (
            0 <= seconds <= MAX_ADVANCE.total_seconds()):
        raise Refused("advance_seconds", f"give whole seconds from 0 to "
                                         f"{int(MAX_ADVANCE.total_seconds())}")
    return manual.advance(datetime.timedelta(seconds=seconds))
