"""The working-day calendar of Kazakhstan, used for regulated step durations.

Fixed public holidays follow the Law "On holidays" (current list, ../shared/DOMAIN.md §8);
a holiday on a weekend moves the day off to the next working day. Government transfers
and Kurban ait dates are data that a later issue loads per year; until then they are
listed in `EXTRA_DAYS_OFF` / `EXTRA_WORKING_DAYS`.
"""

import datetime
import functools
import re

FIXED_HOLIDAYS = {
    (1, 1), (1, 2), (1, 7), (3, 8), (3, 21), (3, 22), (3, 23),
    (5, 1), (5, 7), (5, 9), (7, 6), (8, 30), (10, 25), (12, 16),
}
EXTRA_DAYS_OFF = {
    datetime.date(2024, 6, 17), datetime.date(2025, 6, 6),  # Kurban ait, first day
    datetime.date(2025, 1, 3),  # transferred from Sunday 5 January 2025
}
EXTRA_WORKING_DAYS = {datetime.date(2025, 1, 5)}
MAX_WORKING_DAYS = 3660  # about fourteen years: no regulated step is longer
MAX_DURATION = datetime.timedelta(days=3660)
_DURATION = re.compile(r"^(?:(?P<wd>\d+)WD|PT(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?"
                       r"|P(?P<d>\d+)D)$")
_MAX_DURATION_TEXT = 32


@functools.lru_cache(maxsize=64)
def _moved_holidays(year: int) -> frozenset[datetime.date]:
    """Return the Mondays (or next working days) that replace holidays falling on weekends."""
    moved = set()
    for month, day in sorted(FIXED_HOLIDAYS - {(1, 7)}):
        holiday = datetime.date(year, month, day)
        if holiday.weekday() >= 5:
            substitute = holiday + datetime.timedelta(days=1)
            while (substitute.weekday() >= 5 or substitute in moved
                   or (substitute.month, substitute.day) in FIXED_HOLIDAYS):
                substitute += datetime.timedelta(days=1)
            moved.add(substitute)
    return frozenset(moved)


def is_working_day(day: datetime.date) -> bool:
    """Tell whether `day` is a working day in Kazakhstan."""
    if day in EXTRA_WORKING_DAYS:
        return True
    if day.weekday() >= 5 or (day.month, day.day) in FIXED_HOLIDAYS or day in EXTRA_DAYS_OFF:
        return False
    return day not in _moved_holidays(day.year)


def add_working_days(start: datetime.datetime, days: int) -> datetime.datetime:
    """Return the end of the working day that is `days` working days after `start`.

    The day of `start` itself is not counted, as the East-Kazakhstan regulations say.
    """
    if abs(days) > MAX_WORKING_DAYS:
        raise ValueError(f"{days} working days is beyond the bound of {MAX_WORKING_DAYS}")
    day = start.date()
    counted = 0
    while counted < days:
        day += datetime.timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return datetime.datetime.combine(day, datetime.time(18, 0), tzinfo=start.tzinfo)


def deadline(start: datetime.datetime, duration: str) -> datetime.datetime | None:
    """Return when a step that began at `start` with a regulated `duration` is due.

    `duration` is `10WD` (working days), `P3D` (calendar days) or `PT1H30M`; None if empty.
    """
    if not duration:
        return None
    match = len(duration) <= _MAX_DURATION_TEXT and _DURATION.match(duration.strip())
    if not match:
        raise ValueError(f"unknown duration '{duration[:_MAX_DURATION_TEXT]}': "
                         f"use e.g. 10WD, P3D or PT20M")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    if "wd" in parts:
        return add_working_days(start, parts["wd"])
    seconds = ((parts.get("d", 0) * 24 + parts.get("h", 0)) * 60 + parts.get("m", 0)) * 60
    seconds += parts.get("s", 0)
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration '{duration}' is longer than {MAX_DURATION.days} days")
    return start + datetime.timedelta(seconds=seconds)
