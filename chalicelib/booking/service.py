"""Booking (加号): doctors publish extra sessions, patients request, hold, pay, wait and attend.

This module is the domain's one public face: routes, other domains, the dev seed and the tests
import from here. The rules live in modules named for what they hold:

- ``seats``       taking and giving back a seat (the only code that moves a session's counters)
- ``settlement``  money for seats, driven by payments' and booking's events
- ``sessions``    what a doctor publishes, edits, cancels, and the roster
- ``bookings``    a patient's bookings: book, read, list, cancel; reminders
- ``waitlist``    join, leave, offers of freed seats in arrival order
- ``slot_requests`` patients' 加号 requests: create, accept into a session, decline, withdraw, expire
- ``counters``    parts of day and the per-doctor per-day demand counters the requests move
- ``demand``      the doctor's view of who wants to come when, against the seats offered
- ``checkin``     check-in code and QR, calendar entry, attendance
- ``guards``      the guard items, what a failed transaction says, the eligibility projection
- ``views``       response shapes and event payloads; ``timing`` timers and time rules;
  ``peers``       the other domains booking calls and the settings it reads

Importing this module registers every booking consumer.
"""

from __future__ import annotations

from chalicelib.core import clock  # noqa: F401  (tests freeze time through it)

from .bookings import book, cancel_booking, get_booking, my_bookings
from .checkin import calendar_ics, check_in_by_code, checkin_code, checkin_png, mark_attendance
from .demand import demand
from .guards import elig_key as _elig_key
from .guards import holds_key as _holds_key
from .guards import refresh_eligibility
from .seats import end_live as _end_live
from .seats import take_seat as _take_seat
from .sessions import (
    cancel_session,
    get_session,
    my_sessions,
    open_sessions,
    publish_session,
    roster,
    update_session,
)
from .settlement import confirm_paid, release_hold
from .slot_requests import (
    accept_request,
    create_request,
    decline_request,
    my_requests,
    request_is_open,
    withdraw_request,
)
from .timing import HOLD_TIMER, REMINDER_TIMER, REQUEST_REMINDER_TIMER, REQUEST_TIMER
from .timing import status_start as _status_start
from .views import booking_out, request_out, session_out
from .waitlist import join_waitlist, leave_waitlist, promote_waitlist

__all__ = [
    "HOLD_TIMER", "REMINDER_TIMER", "REQUEST_REMINDER_TIMER", "REQUEST_TIMER",
    "accept_request", "book", "booking_out", "calendar_ics", "cancel_booking", "cancel_session",
    "check_in_by_code", "checkin_code", "checkin_png", "confirm_paid", "create_request",
    "decline_request", "demand", "get_booking", "get_session", "join_waitlist", "leave_waitlist",
    "mark_attendance", "my_bookings", "my_requests", "my_sessions", "open_sessions", "promote_waitlist",
    "publish_session", "refresh_eligibility", "release_hold", "request_is_open", "request_out", "roster",
    "session_out", "update_session", "withdraw_request",
    # kept for the capacity tests, which drive the seat rules directly
    "_elig_key", "_end_live", "_holds_key", "_status_start", "_take_seat",
]
