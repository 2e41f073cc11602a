"""Working days on China's official calendar (法定节假日 and 调休 make-up working days).

``chinese_calendar`` (PyPI ``chinesecalendar``, ~90 KB, pure Python) holds the State Council's
published schedule for a fixed range of years (2004–2026 in 1.11.0). Beyond that range nothing is
published yet: a day is then a working day if it is Monday–Friday, and a warning is logged so
operators know to upgrade the package when the next year's schedule is announced (each November).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

from chalicelib.core.clock import SHANGHAI
from chalicelib.core.observability import logger

try:  # the package ships the schedule as constants; importing it costs a few milliseconds
    import chinese_calendar as _cc
except ImportError:  # pragma: no cover - listed in requirements.txt
    _cc = None


@lru_cache(maxsize=1)
def years_covered() -> tuple[int, int]:
    if _cc is None:
        return (0, -1)
    years = [k.year for k in _cc.holidays]
    return min(years), max(years)


def covered(d: date) -> bool:
    first, last = years_covered()
    return first <= d.year <= last


def is_workday(d: date) -> bool:
    if covered(d):
        return _cc.is_workday(d)
    logger.warning("official calendar does not cover this year; counting Monday to Friday",
                   extra={"year": d.year})
    return d.weekday() < 5


def deadline_after(start: datetime, working_days: int) -> datetime:
    """The end (23:59:59 Asia/Shanghai) of the ``working_days``-th working day after the day of
    ``start`` (the day a case becomes complete does not count)."""
    d = start.astimezone(SHANGHAI).date()
    left = working_days
    while left > 0:
        d += timedelta(days=1)
        if is_workday(d):
            left -= 1
    return datetime.combine(d, time(23, 59, 59), tzinfo=SHANGHAI)
