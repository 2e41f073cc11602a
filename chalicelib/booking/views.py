"""Response shapes and event payloads built from booking's items."""

from __future__ import annotations

from chalicelib.core import clock
from chalicelib.core.crypto import unseal

from .counters import normalize
from .models import Booking, Session, SlotRequest
from .schemas import BookingOut, RequestOut, SessionOut, SessionPlace


def session_out(s: Session) -> SessionOut:
    used = int(s.used or 0)
    return SessionOut(session_id=s.session_id, doctor_id=s.doctor_id, status=s.status, date=s.local_date,
                      starts_at=clock.iso(s.starts_at), ends_at=clock.iso(s.ends_at), hospital=s.hospital,
                      campus=s.campus, room=s.room, capacity=int(s.capacity), seats_taken=used,
                      seats_left=max(0, int(s.capacity) - used), held=int(s.held or 0),
                      confirmed=int(s.confirmed or 0), fee_fen=int(s.fee_fen), audience=s.audience, note=s.note,
                      cancel_reason=s.cancel_reason)


def booking_out(b: Booking) -> BookingOut:
    return BookingOut(booking_id=b.booking_id, session_id=b.session_id, doctor_id=b.doctor_id,
                      profile_id=b.profile_id, status=b.status, source=b.source, order_id=b.order_id,
                      amount_fen=int(b.amount_fen or 0), hold_expires_at=clock.iso(b.hold_expires_at),
                      date=b.local_date, starts_at=clock.iso(b.starts_at), ends_at=clock.iso(b.ends_at),
                      created_at=clock.iso(b.created_at), confirmed_at=clock.iso(b.confirmed_at),
                      ended_at=clock.iso(b.ended_at), end_reason=b.end_reason)


def with_place_and_doctor(bookings: list[Booking]) -> list[BookingOut]:
    """List rows with the doctor and the session's place: one BatchGetItem of sessions and one of
    doctors for the page (never a call per row)."""
    from chalicelib.doctors import service as doctors

    ids = list(dict.fromkeys(b.session_id for b in bookings))
    sessions = {s.session_id: s for s in Session.batch_get(ids)} if ids else {}
    cards = doctors.briefs(b.doctor_id for b in bookings)
    rows = []
    for b in bookings:
        s = sessions.get(b.session_id)
        place = SessionPlace(hospital=s.hospital, campus=s.campus, room=s.room) if s is not None else None
        rows.append(booking_out(b).model_copy(update={"doctor": cards.get(b.doctor_id), "place": place}))
    return rows


def request_out(r: SlotRequest) -> RequestOut:
    return RequestOut(request_id=r.request_id, doctor_id=r.doctor_id, profile_id=r.profile_id, status=r.status,
                      date_from=r.date_from, date_to=r.date_to, parts=normalize(r.parts),
                      reason=unseal(r.reason_sealed),
                      attachment_ids=list(r.attachment_ids or []), created_at=clock.iso(r.created_at),
                      expires_at=clock.iso(r.expires_at), decline_reason=r.decline_reason,
                      session_id=r.session_id, booking_id=r.booking_id)


def event_payload(b: Booking, **extra) -> dict:
    """What every ``booking.*`` event about one booking carries."""
    return {"booking_id": b.booking_id, "session_id": b.session_id, "doctor_id": b.doctor_id,
            "account_id": b.account_id, "profile_id": b.profile_id, "status": b.status,
            "starts_at": b.starts_at.isoformat(), **extra}
