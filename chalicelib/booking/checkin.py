"""Check-in: the signed code, its QR image, the calendar entry, and attendance the doctor marks."""

from __future__ import annotations

import hmac
import io
from datetime import UTC

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock
from chalicelib.core.crypto import blind_index
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.outbox import emit, transaction

from .models import Booking, Session
from .schemas import BookingOut
from .seats import get_booking_item
from .timing import CHECKIN_FROM
from .views import booking_out, event_payload


def checkin_code(booking_id: str) -> str:
    return f"{booking_id}.{blind_index(booking_id, 'booking-checkin')[:20]}"


def _verify_code(code: str) -> str | None:
    booking_id, _, sig = code.partition(".")
    if not booking_id or not sig or not hmac.compare_digest(checkin_code(booking_id), code):
        return None
    return booking_id


def _confirmed_for_patient(caller, booking_id: str) -> Booking:
    b = get_booking_item(booking_id)
    if b.account_id != caller.account_id:
        raise NotFound("booking not found")
    if b.status not in ("confirmed", "checked_in"):
        raise Conflict("only a confirmed booking has a check-in code", code="invalid_state")
    return b


def checkin_png(caller, booking_id: str) -> bytes:
    import segno

    b = _confirmed_for_patient(caller, booking_id)
    buf = io.BytesIO()
    segno.make(checkin_code(b.booking_id), error="m").save(buf, kind="png", scale=8, border=4)
    return buf.getvalue()


def calendar_ics(caller, booking_id: str) -> bytes:
    from icalendar import Calendar, Event

    from chalicelib.doctors import service as doctors

    b = _confirmed_for_patient(caller, booking_id)
    s = Session.get(b.session_id)
    try:
        doctor_name = doctors.get_verified(b.doctor_id).name
    except NotFound:
        doctor_name = ""
    cal = Calendar()
    cal.add("prodid", "-//Suizhen//booking//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    ev = Event()
    ev.add("uid", f"{b.booking_id}@suizhen")
    ev.add("dtstamp", clock.now().astimezone(UTC))
    ev.add("dtstart", b.starts_at.astimezone(UTC))  # UTC (…Z) is unambiguous in every calendar app
    ev.add("dtend", b.ends_at.astimezone(UTC))
    ev.add("summary", f"加号 {doctor_name}".strip())
    ev.add("location", " ".join(x for x in (s.hospital, s.campus, s.room) if x))
    ev.add("description", f"签到码 check-in code: {checkin_code(b.booking_id)}")
    cal.add_component(ev)
    return cal.to_ical()


def mark_attendance(caller, booking_id: str, status: str, code: str | None) -> BookingOut:
    b = get_booking_item(booking_id)
    if b.doctor_id != caller.account_id:
        raise NotFound("booking not found")
    if code is not None and _verify_code(code) != booking_id:
        raise Unprocessable("the check-in code does not match this booking", code="bad_checkin_code")
    now = clock.now()
    if b.status != "confirmed":
        raise Conflict(f"the booking is {b.status}", code="invalid_state")
    if status == "checked_in" and now < b.starts_at - CHECKIN_FROM:
        raise Unprocessable("check-in opens 2 h before the start", code="too_early")
    if status == "no_show" and now < b.starts_at:
        raise Unprocessable("a no-show can be marked only after the start", code="too_early")
    try:
        with transaction() as tx:
            tx.update(Booking(booking_id), actions=[Booking.status.set(status)], condition=Booking.status == "confirmed")
            b.status = status
            emit(tx, f"booking.{status}", event_payload(b))
    except TransactWriteError:
        raise Conflict("the booking changed meanwhile", code="invalid_state") from None
    return booking_out(get_booking_item(booking_id))


def check_in_by_code(caller, code: str) -> BookingOut:
    booking_id = _verify_code(code)
    if booking_id is None:
        raise NotFound("check-in code not recognised")
    return mark_attendance(caller, booking_id, "checked_in", code)
