"""Calendar arithmetic for the relative date operators (UTC days, calendar months)."""

from __future__ import annotations

import calendar
from datetime import datetime

__all__ = ["add_months", "start_of_day"]


def start_of_day(when: datetime) -> datetime:
    """Midnight at the start of ``when``'s day (same time zone)."""
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def add_months(when: datetime, months: int) -> datetime:
    """``when`` moved by ``months`` calendar months; the day is clamped to the month's end."""
    index = when.year * 12 + (when.month - 1) + months
    year, month = divmod(index, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)
