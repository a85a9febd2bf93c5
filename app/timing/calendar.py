"""The working-day calendar of Kazakhstan, used for regulated step durations.

Public holidays come from the `holidays` package's Kazakhstan calendar (the Law "On holidays",
a holiday on a Saturday or Sunday moving the day off to the next working day, 7 January and
Kurban ait not moving; ../shared/DOMAIN.md §8). What the package does not know is data: the
kept file `app/data/kz_calendar.json` (days off moved by Government decree, the first day of
Kurban ait as fixed each year, Saturdays made working days) and, when an admin adds later years,
`instance/calendar.json` in the same shape. A day both files name is as the admin's file says.

`version()` fingerprints what a deadline was computed with: the data used and the package's
version. Years are computed once per calendar and kept.
"""

import dataclasses
import datetime
import hashlib
import json
import os
import re
from pathlib import Path

import holidays

from app.config import ROOT

KEPT_DATA = Path(__file__).resolve().parent.parent / "data" / "kz_calendar.json"
ADMIN_DATA = ROOT / "instance" / "calendar.json"
COUNTRY = "KZ"
MAX_WORKING_DAYS = 3660  # about fourteen years: no regulated step is longer
MAX_DURATION = datetime.timedelta(days=3660)
END_OF_DAY = datetime.time(18, 0)  # a working-day deadline ends at the end of its day
_DURATION = re.compile(r"^(?:(?P<wd>\d+)WD|PT(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?"
                       r"|P(?P<d>\d+)D)$")
_MAX_DURATION_TEXT = 32
_KINDS = ("days_off", "working_days")


@dataclasses.dataclass(frozen=True)
class _Year:
    off: frozenset[datetime.date]  # weekdays that are not worked
    worked: frozenset[datetime.date]  # Saturdays and Sundays that are worked


def _read(path: Path) -> dict[str, dict[datetime.date, str]]:
    """Return {kind: {date: reason}} from a calendar data file; ValueError naming the file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        found = {kind: {datetime.date.fromisoformat(day): str(reason)
                        for day, reason in raw.get(kind, {}).items()} for kind in _KINDS}
    except (ValueError, AttributeError, TypeError) as err:
        raise ValueError(f"{path}: not a calendar file ({err}); expected "
                         '{"days_off": {"YYYY-MM-DD": "why"}, "working_days": {...}}') from None
    both = found["days_off"].keys() & found["working_days"].keys()
    if both:
        raise ValueError(f"{path}: {min(both)} is both a day off and a working day")
    return found


class Calendar:
    """Working days: the package's holidays, then the data's days off and working days."""

    def __init__(self, days_off: dict[datetime.date, str], working_days: dict[datetime.date, str]):
        self.days_off = frozenset(days_off)
        self.working_days = frozenset(working_days)
        used = {"holidays": holidays.__version__, "country": COUNTRY,
                "days_off": sorted(d.isoformat() for d in self.days_off),
                "working_days": sorted(d.isoformat() for d in self.working_days)}
        digest = hashlib.sha256(json.dumps(used, sort_keys=True).encode()).hexdigest()
        self.version = f"kz-{digest[:16]}"
        self._years: dict[int, _Year] = {}

    def _year(self, year: int) -> _Year:
        found = self._years.get(year)
        if found is None:
            # the next year too: a transfer may make a day of this year worked for the next one
            known = holidays.country_holidays(COUNTRY, years=(year, year + 1))
            worked = {d for d in getattr(known, "weekend_workdays", ()) if d.year == year}
            worked |= {d for d in self.working_days if d.year == year}
            off = {d for d in known if d.year == year}
            off |= {d for d in self.days_off if d.year == year}
            found = self._years[year] = _Year(frozenset(off - worked), frozenset(worked))
        return found

    def is_working_day(self, day: datetime.date) -> bool:
        """Tell whether `day` is a working day in Kazakhstan (five-day week)."""
        year = self._year(day.year)
        if day in year.worked:
            return True
        return day.weekday() < 5 and day not in year.off

    def add_working_days(self, start: datetime.datetime, days: int, *,
                         count_start_day: bool = False) -> datetime.datetime:
        """Return the end of the last of `days` working days counted from `start`.

        By default the day of `start` is not counted and the term runs from the next working
        day (the East Kazakhstan regulations say so of the day of acceptance). With
        `count_start_day` the day of `start` is day 1 when it is a working day that has not yet
        ended (before END_OF_DAY); otherwise the first working day after it is day 1.
        """
        if abs(days) > MAX_WORKING_DAYS:
            raise ValueError(f"{days} working days is beyond the bound of {MAX_WORKING_DAYS}")
        day = start.date()
        counted = 0
        if count_start_day and days > 0 and start.time() < END_OF_DAY and self.is_working_day(day):
            counted = 1
        while counted < days:
            day += datetime.timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return datetime.datetime.combine(day, END_OF_DAY, tzinfo=start.tzinfo)

    def deadline(self, start: datetime.datetime, duration: str, *,
                 count_start_day: bool = False) -> datetime.datetime | None:
        """Return when a step that began at `start` with a regulated `duration` is due.

        `duration` is `10WD` (working days), `P3D` (calendar days) or `PT1H30M`; None if empty.
        `count_start_day` applies to working days only (see `add_working_days`).
        """
        if not duration:
            return None
        match = len(duration) <= _MAX_DURATION_TEXT and _DURATION.match(duration.strip())
        if not match:
            raise ValueError(f"unknown duration '{duration[:_MAX_DURATION_TEXT]}': "
                             f"use e.g. 10WD, P3D or PT20M")
        parts = {k: int(v) for k, v in match.groupdict().items() if v}
        if "wd" in parts:
            return self.add_working_days(start, parts["wd"], count_start_day=count_start_day)
        seconds = ((parts.get("d", 0) * 24 + parts.get("h", 0)) * 60 + parts.get("m", 0)) * 60
        seconds += parts.get("s", 0)
        if seconds > MAX_DURATION.total_seconds():
            raise ValueError(f"duration '{duration}' is longer than {MAX_DURATION.days} days")
        return start + datetime.timedelta(seconds=seconds)


def load(*extra: Path) -> Calendar:
    """Return the calendar of the kept data and the `extra` files that exist (later ones win)."""
    days_off: dict[datetime.date, str] = {}
    working_days: dict[datetime.date, str] = {}
    for path in (KEPT_DATA, *extra):
        if path != KEPT_DATA and not Path(path).exists():
            continue
        found = _read(Path(path))
        for day, reason in found["days_off"].items():
            working_days.pop(day, None)
            days_off[day] = reason
        for day, reason in found["working_days"].items():
            days_off.pop(day, None)
            working_days[day] = reason
    return Calendar(days_off, working_days)


_current: dict = {}


def _signature(path: Path) -> tuple:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return (str(path), None)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def current() -> Calendar:
    """Return the calendar of the kept data and instance/calendar.json, reread when they change."""
    signature = (_signature(KEPT_DATA), _signature(ADMIN_DATA))
    found = _current.get(signature)
    if found is None:
        found = load(ADMIN_DATA)
        _current.clear()
        _current[signature] = found
    return found


def version() -> str:
    """Return the fingerprint of the calendar deadlines are computed with now."""
    return current().version


def is_working_day(day: datetime.date) -> bool:
    """Tell whether `day` is a working day in Kazakhstan."""
    return current().is_working_day(day)


def add_working_days(start: datetime.datetime, days: int, *,
                     count_start_day: bool = False) -> datetime.datetime:
    """Return the end of the last of `days` working days from `start` (see the method)."""
    return current().add_working_days(start, days, count_start_day=count_start_day)


def deadline(start: datetime.datetime, duration: str, *,
             count_start_day: bool = False) -> datetime.datetime | None:
    """Return when a step begun at `start` with a regulated `duration` is due (None if none)."""
    return current().deadline(start, duration, count_start_day=count_start_day)
