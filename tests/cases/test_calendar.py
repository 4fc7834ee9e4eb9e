from __future__ import annotations

import datetime as dt

import pytest

from cases import calendar
from cases.calendar import CasePolicy
from matcher.errors import ConfigError

D = dt.date.fromisoformat


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        ("2026-03-02", 1, "2026-03-03"),  # Monday -> Tuesday
        ("2026-03-06", 1, "2026-03-09"),  # Friday -> Monday
        ("2026-03-07", 1, "2026-03-09"),  # Saturday -> Monday
        ("2026-03-08", 2, "2026-03-10"),  # Sunday + 2 -> Tuesday
        ("2026-04-02", 1, "2026-04-07"),  # Thursday before Good Friday 3rd + Easter Monday 6th
        ("2026-04-02", 2, "2026-04-08"),
        ("2026-04-03", 1, "2026-04-07"),  # received on Good Friday
        ("2026-05-01", 1, "2026-05-05"),  # Friday before Early May bank holiday 4th
        ("2026-05-01", 2, "2026-05-06"),
        ("2026-12-24", 1, "2026-12-29"),  # Christmas Fri, Boxing Day Sat, observed Mon 28th
        ("2026-12-24", 2, "2026-12-30"),
        ("2026-12-31", 1, "2027-01-04"),  # New Year's Day Friday 2027
        ("2026-03-02", 0, "2026-03-02"),
    ],
)
def test_add_working_days(start: str, days: int, due: str) -> None:
    assert calendar.add_working_days(D(start), days) == D(due)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-04-06", False),  # Easter Monday
        ("2026-05-04", False),  # Early May
        ("2026-12-25", False),
        ("2026-12-28", False),  # Boxing Day observed
        ("2026-03-14", False),  # Saturday
        ("2026-03-16", True),
        ("2026-03-17", True),  # St Patrick's Day is a holiday in Northern Ireland, not England
        ("2026-11-30", True),  # St Andrew's Day: Scotland only
    ],
)
def test_is_working_day_england_and_wales(day: str, working: bool) -> None:
    assert calendar.is_working_day(D(day)) is working


def test_local_date_uses_london_time() -> None:
    # 23:30 UTC on 30 June is 00:30 BST on 1 July.
    late = dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC)
    assert calendar.local_date(late) == D("2026-07-01")
    assert calendar.working_days_due(late, 1) == D("2026-07-02")
    with pytest.raises(ValueError, match="aware"):
        calendar.local_date(dt.datetime(2026, 1, 1))


def test_review_due_moves_to_a_working_day() -> None:
    policy = CasePolicy(review_interval_days=5)
    start = dt.datetime(2026, 12, 20, 12, tzinfo=dt.UTC)  # + 5 = Christmas Day
    assert calendar.review_due(start, policy) == D("2026-12-29")


def test_overdue_starts_the_day_after_the_due_date() -> None:
    due = D("2026-03-03")
    assert not calendar.overdue(due, dt.datetime(2026, 3, 3, 22, 59, tzinfo=dt.UTC))
    assert calendar.overdue(due, dt.datetime(2026, 3, 4, 0, 1, tzinfo=dt.UTC))
    assert not calendar.overdue(None, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"review_interval_days": 0}, "cases.review_interval_days"),
        ({"send_working_days": 1.5}, "cases.send_working_days"),
        ({"send_working_days": "one"}, "cases.send_working_days"),
        ({"reveiw_interval_days": 30}, "cases.reveiw_interval_days"),
    ],
)
def test_policy_errors_name_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        CasePolicy.from_mapping(table)
    assert err.value.key == key


def test_policy_from_mapping() -> None:
    assert CasePolicy.from_mapping({"review_interval_days": 30}).review_interval_days == 30
