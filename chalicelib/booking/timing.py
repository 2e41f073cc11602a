"""Booking's durable timer kinds and time rules, and conversions to the Asia/Shanghai day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from chalicelib.core import clock, timers

HOLD_TIMER = "booking-hold-expiry"
REMINDER_TIMER = "booking-reminder"
REQUEST_TIMER = "booking-request-expiry"
REQUEST_REMINDER_TIMER = "booking-request-reminder"
REQUEST_REMINDER_AT = time(9)  # on the last day of a request's range (Asia/Shanghai): "lapses tonight"
HOLD_GRACE = timedelta(seconds=60)  # payments closes the order at expiry; our timer is the backstop
REMINDERS = (24, 2)  # hours before the session
CHECKIN_FROM = timedelta(hours=2)  # check-in opens this long before the start


def local(day: date, t: time) -> datetime:
    """A wall-clock time on a Shanghai day, in UTC."""
    return datetime.combine(day, t, tzinfo=clock.SHANGHAI).astimezone(UTC)


def end_of_day(day: date) -> datetime:
    """When an Asia/Shanghai day ends (the next midnight), in UTC: a request lapses then."""
    return local(day + timedelta(days=1), time(0))


def today() -> str:
    return clock.now().astimezone(clock.SHANGHAI).date().isoformat()


def status_start(status: str, starts_at: datetime, session_id: str) -> str:
    """The sessions-by-doctor sort key."""
    return f"{status}#{timers.due_key(starts_at)}#{session_id}"
