"""Sessions (加号): what a doctor publishes, edits and cancels, and who is booked in them."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock, timers
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import guards
from .models import LIVE, Booking, BookingLock, Session, WaitlistEntry
from .schemas import RosterEntry, SessionCreate, SessionOut, SessionUpdate
from .seats import end_live
from .timing import local, status_start
from .views import booking_out, session_out


def publish_session(caller, body: SessionCreate) -> SessionOut:
    from chalicelib.doctors import service as doctors

    doctors.get_verified(caller.account_id)
    starts, ends = local(body.date, body.start_time), local(body.date, body.end_time)
    if starts <= clock.now():
        raise Unprocessable("a session must start in the future", code="session_in_past")
    sid = new_id()
    s = Session(sid, doctor_id=caller.account_id, status="open", status_start=status_start("open", starts, sid),
                local_date=body.date.isoformat(), starts_at=starts, ends_at=ends, hospital=body.hospital,
                campus=body.campus, room=body.room, capacity=body.capacity, used=0, held=0, confirmed=0, waiting=0,
                fee_fen=body.fee_fen, audience=body.audience, note=body.note, created_at=clock.now())
    with transaction() as tx:
        tx.save(s, condition=Session.session_id.does_not_exist())
        emit(tx, "booking.session_published", {"session_id": sid, "doctor_id": s.doctor_id,
                                               "date": s.local_date})
    return session_out(s)


def get_session_item(session_id: str) -> Session:
    try:
        return Session.get(session_id, consistent_read=True)
    except Session.DoesNotExist:
        raise NotFound("session not found")


def own_session(caller, session_id: str) -> Session:
    s = get_session_item(session_id)
    if s.doctor_id != caller.account_id:
        raise NotFound("session not found")
    return s


def my_sessions(caller, status: str, limit, cursor) -> Page:
    page = query_page(Session, Session.by_doctor.query, caller.account_id, Session.status_start.startswith(f"{status}#"),
                      limit=parse_limit(limit), cursor=cursor)
    page.items = [session_out(s) for s in page.items]
    return page


def open_sessions(doctor_id: str, limit, cursor) -> Page:
    """A doctor's open sessions that have not started, soonest first: exactly one Query."""
    now_key = f"open#{timers.due_key(clock.now())}"
    page = query_page(Session, Session.by_doctor.query, doctor_id, Session.status_start.between(now_key, "open#~"),
                      limit=parse_limit(limit), cursor=cursor)
    page.items = [session_out(s) for s in page.items]
    return page


def get_session(caller, session_id: str) -> SessionOut:
    s = get_session_item(session_id)
    if caller.role == "doctor" and s.doctor_id != caller.account_id:
        raise NotFound("session not found")
    return session_out(s)


def update_session(caller, session_id: str, body: SessionUpdate) -> SessionOut:
    s = own_session(caller, session_id)
    if s.status != "open":
        raise Conflict("only an open session can be edited", code="invalid_state")
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        return session_out(s)
    actions, condition = [], Session.status == "open"
    for name, value in changes.items():
        if value is None and name in ("capacity", "hospital", "fee_fen", "audience"):
            continue
        attr = getattr(Session, name)
        actions.append(attr.set(value) if value is not None else attr.remove())
    if changes.get("capacity") is not None:
        # never below the seats already taken: checked by DynamoDB, not by this read
        condition &= Session.used <= changes["capacity"]
    try:
        with transaction() as tx:
            tx.update(Session(session_id), actions=actions, condition=condition)
            emit(tx, "booking.session_updated", {"session_id": session_id, "doctor_id": s.doctor_id})
    except TransactWriteError:
        s = get_session_item(session_id)
        if s.status != "open":
            raise Conflict("only an open session can be edited", code="invalid_state")
        raise Conflict(f"capacity cannot go below the {int(s.used)} seats already taken",
                       code="capacity_below_taken")
    return session_out(get_session_item(session_id))


def cancel_session(caller, session_id: str, reason: str) -> SessionOut:
    """Cancel: the fan-out (refund every paid booking, close unpaid orders, tell the patients and
    the waitlist) runs from the ``booking.session_cancelled`` event, so it survives a crash."""
    s = own_session(caller, session_id)
    if s.status != "open":
        raise Conflict("the session is already cancelled", code="invalid_state")
    now = clock.now()
    try:
        with transaction() as tx:
            tx.update(Session(session_id), actions=[
                Session.status.set("cancelled"), Session.cancelled_at.set(now), Session.cancel_reason.set(reason),
                Session.status_start.set(status_start("cancelled", s.starts_at, session_id))],
                condition=Session.status == "open")
            emit(tx, "booking.session_cancelled", {"session_id": session_id, "doctor_id": s.doctor_id,
                                                   "reason": reason})
    except TransactWriteError:
        raise Conflict("the session is already cancelled", code="invalid_state")
    return session_out(get_session_item(session_id))


@consumer("booking.session_cancelled")
def _on_session_cancelled(event_id: str, payload: dict) -> None:
    session_id = payload["session_id"]
    for b in Booking.by_session.query(session_id):
        if b.status in LIVE:
            try:
                end_live(b, "doctor_cancelled", "doctor cancelled the session")
            except Conflict:
                # moved meanwhile (cancelled, expired or paid); the used-count check below makes
                # the event retry if a seat is still taken, so nothing is left behind
                logger.info("booking moved during session cancellation", extra={"booking_id": b.booking_id})
    # A cancelled session's ``waiting`` counter is left as it was: the demand view shows open sessions only.
    for e in WaitlistEntry.query(session_id):
        with transaction() as tx:
            tx.delete(WaitlistEntry(session_id, e.entry_id))
            tx.delete(BookingLock(guards.wait_key(session_id, e.profile_id)))
            emit(tx, "booking.waitlist_cancelled", {"session_id": session_id, "doctor_id": e.doctor_id,
                                                    "account_id": e.account_id, "profile_id": e.profile_id})
    s = Session.get(session_id, consistent_read=True)
    if int(s.used) != 0:
        # a booking the index did not show yet (GSIs are eventually consistent): retry the event
        raise RuntimeError(f"session {session_id} still has {int(s.used)} live bookings after cancellation")


def roster(caller, session_id: str, limit: int | None = None, cursor: str | None = None) -> Page:
    """Who is booked: one Query per page plus one BatchGetItem of the patients' names."""
    from chalicelib.accounts import service as accounts

    s = get_session_item(session_id)
    if not (caller.is_admin or s.doctor_id == caller.account_id):
        raise NotFound("session not found")
    page = query_page(Booking, Booking.by_session.query, session_id, limit=parse_limit(limit), cursor=cursor)
    names = accounts.profile_names((b.account_id, b.profile_id) for b in page.items)
    return Page([RosterEntry(**booking_out(b).model_dump(), account_id=b.account_id,
                             patient_name=names.get((b.account_id, b.profile_id)))
                 for b in page.items], page.next_cursor)
