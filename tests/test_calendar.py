"""Working days and regulated deadlines."""

import datetime

import pytest

from app import calendar

ALMATY = datetime.timezone(datetime.timedelta(hours=5))


def at(day, hour=10):
    return datetime.datetime(2026, *day, hour, tzinfo=ALMATY)


@pytest.mark.parametrize(("day", "working"), [
    ((11, 23), True),       # Monday
    ((11, 28), False),      # Saturday
    ((3, 23), False),       # Nauryz
    ((12, 16), False),      # Independence Day
    ((3, 24), False),      # Nauryz 21 and 22 March 2026 fall on a weekend: 24 and 25 off
    ((3, 25), False),
    ((3, 26), True),
    ((5, 11), False),       # 9 May 2026 is a Saturday: the day off moves to Monday
])
def test_working_days(day, working):
    assert calendar.is_working_day(datetime.date(2026, *day)) is working


def test_working_day_deadline_skips_weekends_and_the_day_of_acceptance():
    assert calendar.deadline(at((11, 20)), "2WD") == at((11, 24), 18)   # Friday → Tuesday
    assert calendar.deadline(at((3, 20)), "1WD") == at((3, 26), 18)     # over Nauryz


@pytest.mark.parametrize(("duration", "delta"), [
    ("PT20M", datetime.timedelta(minutes=20)), ("PT1H", datetime.timedelta(hours=1)),
    ("P3D", datetime.timedelta(days=3)), ("PT1H30M", datetime.timedelta(minutes=90)),
])
def test_clock_durations(duration, delta):
    assert calendar.deadline(at((11, 23)), duration) - at((11, 23)) == delta


def test_bad_duration_is_explained():
    assert calendar.deadline(at((11, 23)), "") is None
    with pytest.raises(ValueError, match="unknown duration"):
        calendar.deadline(at((11, 23)), "two weeks")
