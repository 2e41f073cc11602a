"""Booking (加号) tables: sessions, bookings, waitlist entries, patients' requests, and locks.

Seat accounting lives on the session item: ``used`` counts live bookings (held + confirmed +
attended) and is only ever changed inside a ``TransactWriteItems`` together with the booking's
own conditional state change, so a seat is taken or given back exactly once. ``used < capacity``
is the condition that takes a seat (DynamoDB compares the two attributes itself).
"""

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.core.db import meta, register, string_list


class SessionsByDoctor(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_doctor"
        projection = AllProjection()

    doctor_id = UnicodeAttribute(hash_key=True)
    status_start = UnicodeAttribute(range_key=True)  # "<status>#<starts_at UTC>#<session_id>"


@register
class Session(Model):
    """An extra session (加号) a doctor publishes: the doctor's own time, never the hospital's quota."""

    Meta = meta("booking_sessions")
    session_id = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute()
    status = UnicodeAttribute()  # open | cancelled
    status_start = UnicodeAttribute()
    local_date = UnicodeAttribute()  # the Asia/Shanghai date the session is on
    starts_at = UTCDateTimeAttribute()
    ends_at = UTCDateTimeAttribute()
    hospital = UnicodeAttribute()
    campus = UnicodeAttribute(null=True)
    room = UnicodeAttribute(null=True)
    capacity = NumberAttribute()
    used = NumberAttribute(default=0)  # live bookings: held + confirmed + attended
    held = NumberAttribute(default=0)
    confirmed = NumberAttribute(default=0)  # confirmed + attended
    fee_fen = NumberAttribute(default=0)
    audience = UnicodeAttribute(default="bound")  # bound | invited
    note = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    cancelled_at = UTCDateTimeAttribute(null=True)
    cancel_reason = UnicodeAttribute(null=True)

    by_doctor = SessionsByDoctor()


class BookingsBySession(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_session"
        projection = AllProjection()

    session_id = UnicodeAttribute(hash_key=True)
    booking_id = UnicodeAttribute(range_key=True)


class BookingsByAccount(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    booking_id = UnicodeAttribute(range_key=True)


LIVE = ("held", "confirmed", "checked_in", "no_show")


@register
class Booking(Model):
    """One patient's seat in a session.

    held → confirmed → checked_in | no_show; held → expired | cancelled | doctor_cancelled;
    confirmed → cancelled | doctor_cancelled. Every transition is conditional on the current state.
    """

    Meta = meta("booking_bookings")
    booking_id = UnicodeAttribute(hash_key=True)
    session_id = UnicodeAttribute()
    doctor_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    profile_id = UnicodeAttribute()
    status = UnicodeAttribute()
    source = UnicodeAttribute(default="book")  # book | waitlist | request
    request_id = UnicodeAttribute(null=True)
    order_id = UnicodeAttribute(null=True)  # None for a free session
    amount_fen = NumberAttribute(default=0)
    hold_expires_at = UTCDateTimeAttribute(null=True)
    starts_at = UTCDateTimeAttribute()
    ends_at = UTCDateTimeAttribute()
    local_date = UnicodeAttribute()
    reminder_timers = string_list(default=list)
    created_at = UTCDateTimeAttribute()
    confirmed_at = UTCDateTimeAttribute(null=True)
    ended_at = UTCDateTimeAttribute(null=True)
    end_reason = UnicodeAttribute(null=True)

    by_session = BookingsBySession()
    by_account = BookingsByAccount()


class WaitlistByDoctor(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_doctor"
        projection = AllProjection()

    doctor_id = UnicodeAttribute(hash_key=True)
    day_entry = UnicodeAttribute(range_key=True)  # "<local_date>#<entry_id>"


@register
class WaitlistEntry(Model):
    """A patient waiting for a seat in a full session; first come (ULID order), first offered.
    Deleted when offered a seat or when the patient leaves, so the table holds only waiters."""

    Meta = meta("booking_waitlist")
    session_id = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute(range_key=True)
    doctor_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    profile_id = UnicodeAttribute()
    local_date = UnicodeAttribute()
    day_entry = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()

    by_doctor = WaitlistByDoctor()


class RequestsByDoctor(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_doctor"
        projection = AllProjection()

    doctor_id = UnicodeAttribute(hash_key=True)
    status_key = UnicodeAttribute(range_key=True)  # "<status>#<date_from>#<request_id>"


class RequestsByAccount(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    request_id = UnicodeAttribute(range_key=True)


@register
class SlotRequest(Model):
    """A patient's 加号 request: open → accepted (with a hold in a session) | declined | expired | withdrawn."""

    Meta = meta("booking_requests")
    request_id = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    profile_id = UnicodeAttribute()
    status = UnicodeAttribute()
    status_key = UnicodeAttribute()
    date_from = UnicodeAttribute()
    date_to = UnicodeAttribute()
    reason_sealed = UnicodeAttribute()  # health data: encrypted at rest
    attachment_ids = string_list(default=list)
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    answered_at = UTCDateTimeAttribute(null=True)
    decline_reason = UnicodeAttribute(null=True)
    session_id = UnicodeAttribute(null=True)
    booking_id = UnicodeAttribute(null=True)

    by_doctor = RequestsByDoctor()
    by_account = RequestsByAccount()


@register
class BookingLock(Model):
    """Small guard items written in the same transaction as the change they guard:

    - ``holds#<account_id>``: ``n`` unpaid holds of the account (conditional increment, ≤ 2);
    - ``seat#<session_id>#<profile_id>``: the profile's one live booking in a session;
    - ``wait#<session_id>#<profile_id>``: the profile's one waitlist entry in a session;
    - ``req#<doctor_id>#<profile_id>``: the profile's one open request to a doctor;
    - ``elig#<doctor_id>#<profile_id>``: who may book — a projection of the bindings domain
      (``active`` and the managing ``account_id``), refreshed from binding events, checked with a
      ConditionCheck inside the booking transaction instead of two extra reads per booking.
    """

    Meta = meta("booking_locks")
    key = UnicodeAttribute(hash_key=True)
    n = NumberAttribute(null=True)
    ref_id = UnicodeAttribute(null=True)
    account_id = UnicodeAttribute(null=True)
    active = BooleanAttribute(null=True)
    expires_at = TTLAttribute(null=True)
