"""Working days and regulated deadlines."""

import datetime
import json

import pytest

from app.timing import calendar

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


@pytest.mark.parametrize(("day", "working", "why"), [
    ((2025, 10, 27), False, "Republic Day, Saturday 25 October 2025, moves to Monday"),
    ((2023, 12, 18), False, "Independence Day, Saturday 16 December 2023, moves to Monday"),
    ((2023, 1, 9), True, "Orthodox Christmas on Saturday 7 January 2023 does not move"),
    ((2024, 6, 17), False, "Kurban ait 2024, first day (kept data; the package says 16 June)"),
    ((2026, 5, 27), False, "Kurban ait 2026, first day"),
    ((2025, 1, 3), False, "day off transferred from Sunday 5 January 2025"),
    ((2025, 1, 5), True, "that Sunday was worked"),
    ((2023, 7, 1), True, "Saturday 1 July 2023 worked by decree ..."),
    ((2023, 7, 7), False, "... for Friday 7 July off"),
    ((2022, 10, 22), True, "Saturday 22 October 2022 worked by decree ..."),
    ((2022, 10, 24), False, "... for Monday 24 October off"),
    ((2016, 12, 1), False, "First President's Day, on the list until 2021"),
    ((2016, 12, 19), False, "Independence Day's second day, Saturday 17 December 2016, moved"),
    ((2025, 9, 1), False, "Constitution Day, Saturday 30 August 2025, moves to Monday"),
    ((2026, 8, 31), True, "30 August is no Constitution Day from 2026 (the new Constitution)"),
])
def test_holidays_transfers_and_religious_days(day, working, why):
    assert calendar.is_working_day(datetime.date(*day)) is working, why


def test_ten_working_days_from_the_friday_before_nauryz_2026():
    # Friday 20 March; 21-22 weekend and Nauryz, 23 Nauryz, 24-25 the Nauryz days that fell
    # on the weekend; then 26, 27, 30, 31 March, 1, 2, 3, 6, 7, 8 April
    assert calendar.deadline(at((3, 20)), "10WD") == at((4, 8), 18)


def _admin_file(folder, **kinds):
    path = folder / "calendar.json"
    path.write_text(json.dumps(kinds), encoding="utf-8")
    return path


def test_an_admin_file_moves_deadlines_and_the_version(tmp_path):
    kept = calendar.load()
    assert kept.deadline(at((3, 20)), "10WD") == at((4, 8), 18)
    worked = calendar.load(_admin_file(tmp_path, working_days={"2026-03-28": "decree"}))
    assert worked.deadline(at((3, 20)), "10WD") == at((4, 7), 18)
    off = calendar.load(_admin_file(tmp_path, days_off={"2026-04-01": "decree"}))
    assert off.deadline(at((3, 20)), "10WD") == at((4, 9), 18)
    assert len({kept.version, worked.version, off.version}) == 3
    assert calendar.load().version == kept.version  # the same data, the same version
    assert calendar.load(tmp_path / "missing.json").version == kept.version


def test_the_admin_file_overrides_the_kept_data(tmp_path):
    assert not calendar.load().is_working_day(datetime.date(2025, 1, 3))
    corrected = calendar.load(_admin_file(tmp_path, working_days={"2025-01-03": "no transfer"}))
    assert corrected.is_working_day(datetime.date(2025, 1, 3))


def test_the_app_rereads_the_admin_file_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(calendar, "ADMIN_DATA", tmp_path / "calendar.json")
    before = calendar.version()
    assert calendar.deadline(at((3, 20)), "10WD") == at((4, 8), 18)
    _admin_file(tmp_path, working_days={"2026-03-28": "decree"})
    assert calendar.deadline(at((3, 20)), "10WD") == at((4, 7), 18)
    assert calendar.version() != before
    (tmp_path / "calendar.json").unlink()
    assert calendar.version() == before


@pytest.mark.parametrize(("content", "why"), [
    ('{"days_off": {"2026-13-01": "x"}}', "not a calendar file"),
    ('{"days_off": ["2026-04-01"]}', "not a calendar file"),
    ("not json", "not a calendar file"),
    ('{"days_off": {"2026-04-01": "x"}, "working_days": {"2026-04-01": "y"}}',
     "both a day off and a working day"),
])
def test_a_broken_admin_file_is_named(tmp_path, content, why):
    path = tmp_path / "calendar.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=why) as raised:
        calendar.load(path)
    assert str(path) in str(raised.value)


def test_each_year_is_asked_of_the_holidays_package_once(monkeypatch):
    asked = []
    real = calendar.holidays.country_holidays

    def counting(*args, **kwargs):
        asked.append(kwargs["years"])
        return real(*args, **kwargs)

    monkeypatch.setattr(calendar.holidays, "country_holidays", counting)
    fresh = calendar.load()
    fresh.add_working_days(at((3, 20)), calendar.MAX_WORKING_DAYS)
    fresh.add_working_days(at((3, 20)), calendar.MAX_WORKING_DAYS)
    assert len(asked) == len(set(asked)) <= 16
