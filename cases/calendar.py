"""Working days in England and Wales (weekends and bank holidays, from the ``holidays`` package) and
the service's clocks: a request reaches the prison within one working day of receipt; an authorised
block is in place within two working days of the prison receiving it; a request made without
consent is reviewed every `review_interval_days` and after every transfer.

A due date is a local (Europe/London) date: the work is due by the end of that day and overdue from
the next. A clock started on a weekend or holiday starts on the next working day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from config import deployment_table
from config.settings import load_settings
from matcher.errors import ConfigError

LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True, slots=True)
class CasePolicy:
    """The ``[cases]`` table of the deployment file."""

    send_working_days: int = 1  # receipt -> at the prison
    block_working_days: int = 2  # at the prison -> block in place
    review_interval_days: int = 90  # calendar days between reviews of a no-consent request
    transfer_review_working_days: int = 2  # after a transfer, the receiving prison reviews within

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"cases.{f.name}", value, "Expected a positive int.")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> CasePolicy:
        return load_settings(cls, "cases", table, environ={})


def load_policy(config_file: str | Path | None) -> CasePolicy:
    """The ``[cases]`` table of a deployment file (defaults without one)."""
    return CasePolicy.from_mapping(deployment_table(config_file, "cases"))


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def local_date(instant: dt.datetime) -> dt.date:
    if instant.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return instant.astimezone(LONDON).date()


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The `days`-th working day after `start` (``start`` itself never counts)."""
    if days < 0:
        raise ValueError("days must be >= 0")
    day = start
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day


def next_working_day_on_or_after(day: dt.date) -> dt.date:
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def working_days_due(received: dt.datetime, days: int) -> dt.date:
    return add_working_days(local_date(received), days)


def review_due(start: dt.datetime, policy: CasePolicy) -> dt.date:
    """The next regular review: `review_interval_days` on, moved to a working day."""
    return next_working_day_on_or_after(local_date(start) + dt.timedelta(days=policy.review_interval_days))


def overdue(due: dt.date | None, now: dt.datetime) -> bool:
    return due is not None and local_date(now) > due
