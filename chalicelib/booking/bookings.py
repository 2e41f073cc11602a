"""A patient's bookings: book a seat, read, list, cancel; reminders before the session."""

from __future__ import annotations

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.outbox import consumer, publish
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import peers
from .models import Booking
from .schemas import BookingOut
from .seats import end_live, get_booking_item, take_seat
from .sessions import get_session_item
from .timing import REMINDER_TIMER
from .views import booking_out, event_payload, with_place_and_doctor


def book(caller, session_id: str, profile_id: str) -> BookingOut:
    s = get_session_item(session_id)
    if s.audience != "bound":
        # invited-only sessions are filled from accepted requests; to others they do not exist
        raise NotFound("session not found")
    return booking_out(take_seat(s, account_id=caller.account_id, profile_id=profile_id, source="book"))


def _readable_booking(caller, booking_id: str) -> Booking:
    b = get_booking_item(booking_id)
    if caller.is_admin or caller.account_id in (b.account_id, b.doctor_id):
        return b
    raise NotFound("booking not found")


def get_booking(caller, booking_id: str) -> BookingOut:
    return booking_out(_readable_booking(caller, booking_id))


def my_bookings(caller, limit, cursor) -> Page:
    page = query_page(Booking, Booking.by_account.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(limit), cursor=cursor)
    page.items = with_place_and_doctor(page.items)
    return page


def cancel_booking(caller, booking_id: str) -> BookingOut:
    """The patient cancels: an unpaid hold any time; a confirmed booking free and fully refunded
    up to the cutoff (24 h by default) before the start, not after (422)."""
    b = get_booking_item(booking_id)
    if b.account_id != caller.account_id:
        raise NotFound("booking not found")
    cutoff = peers.cancel_cutoff()
    if b.status == "confirmed" and clock.now() > b.starts_at - cutoff:
        hours = int(cutoff.total_seconds() // 3600)
        raise Unprocessable(f"a confirmed booking can be cancelled only up to {hours} h before the start",
                            code="too_late_to_cancel")
    if b.status not in ("held", "confirmed"):
        raise Conflict(f"the booking is {b.status}", code="invalid_state")
    return booking_out(end_live(b, "cancelled", "cancelled by the patient"))


@consumer(f"timer.{REMINDER_TIMER}")
def _on_reminder(event_id: str, payload: dict) -> None:
    try:
        b = Booking.get(payload["booking_id"], consistent_read=True)
    except Booking.DoesNotExist:
        return
    if b.status != "confirmed":
        return  # cancelled meanwhile (its timers are cancelled too; this is the belt to those braces)
    publish("booking.reminder", event_payload(b, hours_before=payload["hours_before"], local_date=b.local_date),
            caused_by=event_id)
