"""Booking (加号): doctors publish extra sessions, patients request, hold, pay, wait and attend.

Capacity is exact. A seat changes hands only inside one ``TransactWriteItems`` that also moves
the booking's state conditionally (``status == <from>``) and adjusts the session's counters
(``used`` = held + confirmed + attended, taken only under ``used < capacity``). Because the
booking's own condition guards every release, a seat is given back at most once, whichever of
expiry timer / ``order.closed`` / cancel / doctor-cancel gets there first.

Booking a seat = GetItem(session) + one TransactWriteItems (session counters, booking, the
profile's seat guard, the account's unpaid-hold counter, eligibility ConditionCheck, expiry
timer, outbox event) + payments' ``create_order``. Who may book (an active binding) is checked
inside the transaction against ``elig#`` items, a projection that this domain keeps from the
bindings domain's events (re-reading ``bindings.service`` on each event, and on a miss).

Money moves through the payments service only, driven by outbox events so a crash between
the state change and the refund/close loses nothing: ``booking.released`` closes the unpaid
order, ``booking.cancelled`` refunds in full. A payment that lands on a booking that is no
longer held is refunded in full (a declined/expired/doctor-cancelled booking is never charged).
"""

from __future__ import annotations

import hmac
import io
from datetime import UTC, datetime, time, timedelta

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import audit, clock, timers
from chalicelib.core.config import get_settings
from chalicelib.core.crypto import blind_index, seal, unseal
from chalicelib.core.errors import BadRequest, Conflict, NotFound, TooManyRequests, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, publish, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from .models import LIVE, Booking, BookingLock, Session, SlotRequest, WaitlistEntry
from .schemas import (
    BookingOut,
    Demand,
    DemandDay,
    RequestCreate,
    RequestOut,
    RosterEntry,
    SessionCreate,
    SessionOut,
    SessionUpdate,
    WaitlistOut,
)

HOLD_TIMER = "booking-hold-expiry"
REMINDER_TIMER = "booking-reminder"
REQUEST_TIMER = "booking-request-expiry"
HOLD_GRACE = timedelta(seconds=60)  # payments closes the order at expiry; our timer is the backstop
REMINDERS = (24, 2)  # hours before the session
CHECKIN_FROM = timedelta(hours=2)  # check-in opens this long before the start


# --- other domains ---------------------------------------------------------------------------

def _payments():
    """The payments domain's service (contract in the module docstring of that domain).
    Kept in one function so tests can substitute it."""
    from chalicelib.payments import service

    return service


def _bindings():
    from chalicelib.bindings import service

    return service


def _cutoff() -> timedelta:
    return timedelta(hours=get_settings().booking_cancel_cutoff_h)


def _max_holds() -> int:
    return get_settings().booking_max_unpaid_holds


# --- shapes ----------------------------------------------------------------------------------

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


def request_out(r: SlotRequest) -> RequestOut:
    return RequestOut(request_id=r.request_id, doctor_id=r.doctor_id, profile_id=r.profile_id, status=r.status,
                      date_from=r.date_from, date_to=r.date_to, reason=unseal(r.reason_sealed),
                      attachment_ids=list(r.attachment_ids or []), created_at=clock.iso(r.created_at),
                      expires_at=clock.iso(r.expires_at), decline_reason=r.decline_reason,
                      session_id=r.session_id, booking_id=r.booking_id)


def _payload(b: Booking, **extra) -> dict:
    return {"booking_id": b.booking_id, "session_id": b.session_id, "doctor_id": b.doctor_id,
            "account_id": b.account_id, "profile_id": b.profile_id, "status": b.status,
            "starts_at": b.starts_at.isoformat(), **extra}


# --- transactions ----------------------------------------------------------------------------

def _failed(tx, exc: TransactWriteError) -> set[str]:
    """Which guarded items made a transaction fail: 'session', 'booking', 'seat', 'holds', 'elig',
    'wait', 'req', 'request', 'timer' (pynamodb sends checks, deletes, puts, updates in that order)."""
    items = [*tx._condition_check_items, *tx._delete_items, *tx._put_items, *tx._update_items]
    out = set()
    for item, reason in zip(items, exc.cancellation_reasons or [], strict=False):
        if reason is None or reason.code not in ("ConditionalCheckFailed", "TransactionConflict"):
            continue
        table = item["TableName"]
        key = next(iter((item.get("Key") or item.get("Item")).values()))
        key = next(iter(key.values()))
        if table == BookingLock.Meta.table_name:
            out.add(key.split("#", 1)[0])
        elif table == Session.Meta.table_name:
            out.add("session")
        elif table == Booking.Meta.table_name:
            out.add("booking")
        elif table == SlotRequest.Meta.table_name:
            out.add("request")
        elif table == WaitlistEntry.Meta.table_name:
            out.add("wait")
        else:
            out.add("other")
    return out or {"unknown"}


def _seat_key(session_id: str, profile_id: str) -> str:
    return f"seat#{session_id}#{profile_id}"


def _elig_key(doctor_id: str, profile_id: str) -> str:
    return f"elig#{doctor_id}#{profile_id}"


def _holds_key(account_id: str) -> str:
    return f"holds#{account_id}"


# --- eligibility: a projection of the bindings domain -----------------------------------------

def refresh_eligibility(doctor_id: str, profile_id: str) -> bool:
    """Re-read the truth from the bindings service and store it; returns whether it is active."""
    b = _bindings().get_active_binding(doctor_id, profile_id)
    item = BookingLock(_elig_key(doctor_id, profile_id), active=b is not None,
                       account_id=b.patient_account_id if b is not None else None)
    item.save()
    return b is not None


def _eligible(doctor_id: str, profile_id: str, account_id: str) -> bool:
    try:
        item = BookingLock.get(_elig_key(doctor_id, profile_id), consistent_read=True)
    except BookingLock.DoesNotExist:
        return False
    return bool(item.active) and item.account_id == account_id


@consumer("binding.activated", "binding.unblocked", "binding.blocked", "binding.ended", "binding.rejected")
def _on_binding_changed(event_id: str, payload: dict) -> None:
    # Reads the current state rather than trusting the event, so out-of-order delivery is harmless.
    refresh_eligibility(payload["doctor_id"], payload["profile_id"])


# --- sessions (doctor) -----------------------------------------------------------------------

def _status_start(status: str, starts_at: datetime, session_id: str) -> str:
    return f"{status}#{timers.due_key(starts_at)}#{session_id}"


def _local(date, t: time) -> datetime:
    return datetime.combine(date, t, tzinfo=clock.SHANGHAI).astimezone(UTC)


def publish_session(caller, body: SessionCreate) -> SessionOut:
    from chalicelib.doctors import service as doctors

    doctors.get_verified(caller.account_id)
    starts, ends = _local(body.date, body.start_time), _local(body.date, body.end_time)
    if starts <= clock.now():
        raise Unprocessable("a session must start in the future", code="session_in_past")
    sid = new_id()
    s = Session(sid, doctor_id=caller.account_id, status="open", status_start=_status_start("open", starts, sid),
                local_date=body.date.isoformat(), starts_at=starts, ends_at=ends, hospital=body.hospital,
                campus=body.campus, room=body.room, capacity=body.capacity, used=0, held=0, confirmed=0,
                fee_fen=body.fee_fen, audience=body.audience, note=body.note, created_at=clock.now())
    with transaction() as tx:
        tx.save(s, condition=Session.session_id.does_not_exist())
        emit(tx, "booking.session_published", {"session_id": sid, "doctor_id": s.doctor_id,
                                               "date": s.local_date})
    return session_out(s)


def _get_session(session_id: str) -> Session:
    try:
        return Session.get(session_id, consistent_read=True)
    except Session.DoesNotExist:
        raise NotFound("session not found")


def _own_session(caller, session_id: str) -> Session:
    s = _get_session(session_id)
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
    s = _get_session(session_id)
    if caller.role == "doctor" and s.doctor_id != caller.account_id:
        raise NotFound("session not found")
    return session_out(s)


def update_session(caller, session_id: str, body: SessionUpdate) -> SessionOut:
    s = _own_session(caller, session_id)
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
        s = _get_session(session_id)
        if s.status != "open":
            raise Conflict("only an open session can be edited", code="invalid_state")
        raise Conflict(f"capacity cannot go below the {int(s.used)} seats already taken",
                       code="capacity_below_taken")
    return session_out(_get_session(session_id))


def cancel_session(caller, session_id: str, reason: str) -> SessionOut:
    """Cancel: the fan-out (refund every paid booking, close unpaid orders, tell the patients and
    the waitlist) runs from the ``booking.session_cancelled`` event, so it survives a crash."""
    s = _own_session(caller, session_id)
    if s.status != "open":
        raise Conflict("the session is already cancelled", code="invalid_state")
    now = clock.now()
    try:
        with transaction() as tx:
            tx.update(Session(session_id), actions=[
                Session.status.set("cancelled"), Session.cancelled_at.set(now), Session.cancel_reason.set(reason),
                Session.status_start.set(_status_start("cancelled", s.starts_at, session_id))],
                condition=Session.status == "open")
            emit(tx, "booking.session_cancelled", {"session_id": session_id, "doctor_id": s.doctor_id,
                                                   "reason": reason})
    except TransactWriteError:
        raise Conflict("the session is already cancelled", code="invalid_state")
    return session_out(_get_session(session_id))


@consumer("booking.session_cancelled")
def _on_session_cancelled(event_id: str, payload: dict) -> None:
    session_id = payload["session_id"]
    for b in Booking.by_session.query(session_id):
        if b.status in LIVE:
            try:
                _end_live(b, "doctor_cancelled", "doctor cancelled the session")
            except Conflict:
                pass  # moved meanwhile; the next pass or the paid/expiry path settles it
    for e in WaitlistEntry.query(session_id):
        with transaction() as tx:
            tx.delete(WaitlistEntry(session_id, e.entry_id))
            tx.delete(BookingLock(f"wait#{session_id}#{e.profile_id}"))
            emit(tx, "booking.waitlist_cancelled", {"session_id": session_id, "doctor_id": e.doctor_id,
                                                    "account_id": e.account_id, "profile_id": e.profile_id})
    s = Session.get(session_id, consistent_read=True)
    if int(s.used) != 0:
        # a booking the index did not show yet (GSIs are eventually consistent): retry the event
        raise RuntimeError(f"session {session_id} still has {int(s.used)} live bookings after cancellation")


def roster(caller, session_id: str) -> list[RosterEntry]:
    s = _get_session(session_id)
    if not (caller.is_admin or s.doctor_id == caller.account_id):
        raise NotFound("session not found")
    return [RosterEntry(**booking_out(b).model_dump(), account_id=b.account_id)
            for b in Booking.by_session.query(session_id)]


# --- taking a seat ---------------------------------------------------------------------------

def _take_seat(s: Session, *, account_id: str, profile_id: str, source: str,
               request: SlotRequest | None = None, entry: WaitlistEntry | None = None) -> Booking:
    """Hold (or, when free, confirm) a seat for a profile; creates the order first when there is a fee."""
    now = clock.now()
    if s.status != "open":
        raise Conflict("the session is not open", code="session_closed")
    if s.starts_at <= now:
        raise Unprocessable("the session has already started", code="session_started")
    if int(s.used) >= int(s.capacity):
        raise Conflict("the session is full; join the waitlist", code="session_full")
    booking_id = new_id()
    fee = int(s.fee_fen)
    order = None
    if fee > 0:
        order = _payments().create_order(
            payer_account_id=account_id, product_type="booking", product_id=booking_id, amount_fen=fee,
            doctor_id=s.doctor_id, description=f"加号 {s.local_date}")
    try:
        return _commit_seat(s, booking_id, order, account_id=account_id, profile_id=profile_id, source=source,
                            request=request, entry=entry)
    except Exception:
        if order is not None:
            try:
                _payments().close_order(order.order_id, "seat not held")
            except Exception:  # the order expires on its own; a payment on it is refunded
                logger.exception("could not close the order of a failed hold", extra={"order_id": order.order_id})
        raise


def _commit_seat(s: Session, booking_id: str, order, *, account_id: str, profile_id: str, source: str,
                 request: SlotRequest | None, entry: WaitlistEntry | None) -> Booking:
    now = clock.now()
    paid = order is not None
    b = Booking(booking_id, session_id=s.session_id, doctor_id=s.doctor_id, account_id=account_id,
                profile_id=profile_id, status="held" if paid else "confirmed", source=source,
                request_id=request.request_id if request else None, order_id=order.order_id if paid else None,
                amount_fen=int(s.fee_fen), hold_expires_at=order.expires_at if paid else None,
                starts_at=s.starts_at, ends_at=s.ends_at, local_date=s.local_date, created_at=now,
                confirmed_at=None if paid else now, reminder_timers=[])
    for attempt in (1, 2):
        with_tx = None
        try:
            with transaction() as tx:
                with_tx = tx
                counter = Session.held if paid else Session.confirmed
                tx.update(Session(s.session_id), actions=[Session.used.add(1), counter.add(1)],
                          condition=(Session.status == "open") & (Session.used < Session.capacity))
                tx.save(BookingLock(_seat_key(s.session_id, profile_id), ref_id=booking_id),
                        condition=BookingLock.key.does_not_exist())
                # who may book: an active binding whose profile this account manages
                tx.condition_check(BookingLock, _elig_key(s.doctor_id, profile_id),
                                   condition=(BookingLock.active == True) & (BookingLock.account_id == account_id))  # noqa: E712
                if paid:
                    tx.update(BookingLock(_holds_key(account_id)), actions=[BookingLock.n.add(1)],
                              condition=BookingLock.n.does_not_exist() | (BookingLock.n < _max_holds()))
                    timers.schedule(HOLD_TIMER, order.expires_at + HOLD_GRACE, {"booking_id": booking_id},
                                    key=booking_id, tx=tx)
                else:
                    b.reminder_timers = _schedule_reminders(tx, b)
                if request is not None:
                    tx.update(SlotRequest(request.request_id), actions=[
                        SlotRequest.status.set("accepted"), SlotRequest.status_key.set(
                            f"accepted#{request.date_from}#{request.request_id}"),
                        SlotRequest.answered_at.set(now), SlotRequest.session_id.set(s.session_id),
                        SlotRequest.booking_id.set(booking_id)], condition=SlotRequest.status == "open")
                    tx.delete(BookingLock(f"req#{request.doctor_id}#{request.profile_id}"))
                    timers.cancel(timers.timer_id_for(REQUEST_TIMER, request.request_id), tx=tx)
                if entry is not None:
                    tx.delete(WaitlistEntry(entry.session_id, entry.entry_id),
                              condition=WaitlistEntry.entry_id.exists())
                    tx.delete(BookingLock(f"wait#{entry.session_id}#{entry.profile_id}"))
                tx.save(b, condition=Booking.booking_id.does_not_exist())
                kind = {"book": "booking.held", "waitlist": "booking.offered", "request": "booking.offered"}[source]
                emit(tx, kind if paid else "booking.confirmed",
                     _payload(b, source=source, order_id=b.order_id, amount_fen=int(b.amount_fen),
                              hold_expires_at=b.hold_expires_at.isoformat() if paid else None))
            logger.info("seat taken", extra={"booking_id": booking_id, "session_id": s.session_id, "source": source})
            return b
        except TransactWriteError as exc:
            failed = _failed(with_tx, exc)
            if "elig" in failed and attempt == 1 and refresh_eligibility(s.doctor_id, profile_id):
                continue  # the projection had not seen this binding yet
            raise _seat_error(failed) from None
    raise AssertionError("unreachable")


def _seat_error(failed: set[str]):
    if "request" in failed:
        return Conflict("the request is no longer open", code="invalid_state")
    if "wait" in failed:
        return Conflict("the waitlist entry is gone", code="invalid_state")
    if "elig" in failed:  # first: says nothing about a profile the caller does not manage
        return Unprocessable("only patients with an active binding to this doctor may book", code="not_bound")
    if "seat" in failed:
        return Conflict("this patient already has a booking in this session", code="already_booked")
    if "holds" in failed:
        return TooManyRequests(f"at most {_max_holds()} unpaid holds at a time; pay or cancel one first",
                               code="too_many_holds")
    if "session" in failed:
        return Conflict("the session is full or no longer open", code="session_full")
    return Conflict("the booking could not be made; try again", code="conflict")


def _schedule_reminders(tx, b: Booking) -> list[str]:
    ids = []
    for hours in REMINDERS:
        due = b.starts_at - timedelta(hours=hours)
        if due > clock.now():
            ids.append(timers.schedule(REMINDER_TIMER, due, {"booking_id": b.booking_id, "hours_before": hours},
                                       key=f"{b.booking_id}#{hours}h", tx=tx))
    return ids


def book(caller, session_id: str, profile_id: str) -> BookingOut:
    s = _get_session(session_id)
    if s.audience != "bound":
        # invited-only sessions are filled from accepted requests; to others they do not exist
        raise NotFound("session not found")
    return booking_out(_take_seat(s, account_id=caller.account_id, profile_id=profile_id, source="book"))


# --- releasing a seat ------------------------------------------------------------------------

def _end_live(b: Booking, to: str, reason: str, *, money: str | None = None) -> Booking:
    """Move a live booking out of the live states and give its seat back, exactly once.

    ``money``: what the settle consumer does with the order: 'close' (unpaid hold), 'refund'
    (paid booking, full amount) or None; by default derived from the state.
    """
    frm = b.status
    if frm not in LIVE:
        raise Conflict(f"the booking is already {frm}", code="invalid_state")
    if money is None and b.order_id:
        money = "close" if frm == "held" else "refund"
    now = clock.now()
    counter = Session.held if frm == "held" else Session.confirmed
    try:
        with transaction() as tx:
            tx.update(Booking(b.booking_id), actions=[Booking.status.set(to), Booking.ended_at.set(now),
                                                      Booking.end_reason.set(reason)],
                      condition=Booking.status == frm)
            tx.update(Session(b.session_id), actions=[Session.used.add(-1), counter.add(-1)])
            tx.delete(BookingLock(_seat_key(b.session_id, b.profile_id)),
                      condition=BookingLock.ref_id == b.booking_id)
            if frm == "held" and b.order_id:
                tx.update(BookingLock(_holds_key(b.account_id)), actions=[BookingLock.n.add(-1)])
                timers.cancel(timers.timer_id_for(HOLD_TIMER, b.booking_id), tx=tx)
            for timer_id in b.reminder_timers or []:
                timers.cancel(timer_id, tx=tx)
            b.status = to
            kind = "booking.released" if frm == "held" else "booking.cancelled"
            emit(tx, kind, _payload(b, previous=frm, reason=reason, order_id=b.order_id,
                                    amount_fen=int(b.amount_fen or 0), money=money))
    except TransactWriteError:
        b.status = frm
        raise Conflict("the booking changed meanwhile", code="invalid_state") from None
    b.ended_at, b.end_reason = now, reason
    logger.info("seat released", extra={"booking_id": b.booking_id, "from": frm, "to": to})
    return b


def _get_booking(booking_id: str) -> Booking:
    try:
        return Booking.get(booking_id, consistent_read=True)
    except Booking.DoesNotExist:
        raise NotFound("booking not found")


def release_hold(booking_id: str, reason: str, *, order_closed: bool = False) -> bool:
    """Release an unpaid hold (expiry). Idempotent: False if it was not held any more."""
    try:
        b = Booking.get(booking_id, consistent_read=True)
    except Booking.DoesNotExist:
        return False
    if b.status != "held":
        return False
    try:
        _end_live(b, "expired", reason, money=None if order_closed else "close")
    except Conflict:
        return False
    return True


@consumer(f"timer.{HOLD_TIMER}")
def _on_hold_timer(event_id: str, payload: dict) -> None:
    release_hold(payload["booking_id"], "hold expired")


@consumer("order.closed")
def _on_order_closed(event_id: str, payload: dict) -> None:
    if payload.get("product_type") == "booking":
        release_hold(payload["product_id"], "order closed unpaid", order_closed=True)


def confirm_paid(booking_id: str, order_id: str, *, late: bool = False) -> str:
    """``order.paid``: held → confirmed; a payment for a booking that is no longer held is
    refunded in full. Returns what happened: confirmed | duplicate | refunded | ignored."""
    if late:
        # paid after payments had closed the order: payments refunds it itself, and the booking
        # is released by ``order.closed`` (it must never be confirmed on money being returned)
        return "ignored"
    try:
        b = Booking.get(booking_id, consistent_read=True)
    except Booking.DoesNotExist:
        b = None
    if b is not None and b.order_id == order_id and b.status == "held":
        now = clock.now()
        try:
            with transaction() as tx:
                b.status, b.confirmed_at = "confirmed", now
                reminders = _schedule_reminders(tx, b)
                tx.update(Booking(booking_id), actions=[Booking.status.set("confirmed"), Booking.confirmed_at.set(now),
                                                        Booking.reminder_timers.set(reminders)],
                          condition=(Booking.status == "held") & (Booking.order_id == order_id))
                tx.update(Session(b.session_id), actions=[Session.held.add(-1), Session.confirmed.add(1)])
                tx.update(BookingLock(_holds_key(b.account_id)), actions=[BookingLock.n.add(-1)])
                timers.cancel(timers.timer_id_for(HOLD_TIMER, booking_id), tx=tx)
                emit(tx, "booking.confirmed", _payload(b, order_id=order_id, amount_fen=int(b.amount_fen)))
            return "confirmed"
        except TransactWriteError:
            b = Booking.get(booking_id, consistent_read=True)
    if b is not None and b.order_id == order_id and b.status in ("confirmed", "checked_in", "no_show"):
        return "duplicate"
    _refund_in_full(order_id, booking_id, "booking no longer held when paid")
    logger.info("payment for a released booking refunded", extra={"booking_id": booking_id, "order_id": order_id})
    return "refunded"


def _refund_in_full(order_id: str, booking_id: str, reason: str) -> None:
    """One refund per booking (its request key), whatever triggers it and however often.
    A refund of the same order already in flight (e.g. payments' own late-payment refund) makes
    this raise, so the event is retried; once nothing is left to refund, there is nothing to do."""
    try:
        _payments().refund(order_id=order_id, amount_fen=None, reason=reason,
                           request_key=f"booking:{booking_id}:refund")
    except Unprocessable:
        logger.info("nothing left to refund", extra={"booking_id": booking_id, "order_id": order_id})


@consumer("order.paid")
def _on_order_paid(event_id: str, payload: dict) -> None:
    if payload.get("product_type") == "booking":
        confirm_paid(payload["product_id"], payload["order_id"], late=bool(payload.get("late")))


@consumer("booking.released", "booking.cancelled")
def _settle_money(event_id: str, payload: dict) -> None:
    """Close the unpaid order or refund the paid one in full (idempotent per booking)."""
    order_id, money = payload.get("order_id"), payload.get("money")
    if not order_id or not money:
        return
    pay = _payments()
    if money == "close":
        try:
            pay.close_order(order_id, payload.get("reason") or "booking released")
        except Conflict:
            pass  # paid meanwhile: the order.paid consumer finds the booking not held and refunds
    elif money == "refund":
        _refund_in_full(order_id, payload["booking_id"], payload.get("reason") or "booking cancelled")


@consumer("booking.released", "booking.cancelled", "booking.session_updated", "booking.waitlisted")
def _on_seat_maybe_free(event_id: str, payload: dict) -> None:
    promote_waitlist(payload["session_id"])


# --- patient side: bookings ------------------------------------------------------------------

def _readable_booking(caller, booking_id: str) -> Booking:
    b = _get_booking(booking_id)
    if caller.is_admin or caller.account_id in (b.account_id, b.doctor_id):
        return b
    raise NotFound("booking not found")


def get_booking(caller, booking_id: str) -> BookingOut:
    return booking_out(_readable_booking(caller, booking_id))


def my_bookings(caller, limit, cursor) -> Page:
    page = query_page(Booking, Booking.by_account.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(limit), cursor=cursor)
    page.items = [booking_out(b) for b in page.items]
    return page


def cancel_booking(caller, booking_id: str) -> BookingOut:
    """The patient cancels: an unpaid hold any time; a confirmed booking free and fully refunded
    up to the cutoff (24 h by default) before the start, not after (422)."""
    b = _get_booking(booking_id)
    if b.account_id != caller.account_id:
        raise NotFound("booking not found")
    if b.status == "confirmed" and clock.now() > b.starts_at - _cutoff():
        hours = int(_cutoff().total_seconds() // 3600)
        raise Unprocessable(f"a confirmed booking can be cancelled only up to {hours} h before the start",
                            code="too_late_to_cancel")
    if b.status not in ("held", "confirmed"):
        raise Conflict(f"the booking is {b.status}", code="invalid_state")
    return booking_out(_end_live(b, "cancelled", "cancelled by the patient"))


# --- waitlist --------------------------------------------------------------------------------

def join_waitlist(caller, session_id: str, profile_id: str) -> WaitlistOut:
    s = _get_session(session_id)
    if s.audience != "bound":
        raise NotFound("session not found")
    if s.status != "open" or s.starts_at <= clock.now():
        raise Conflict("the session is not open", code="session_closed")
    if int(s.used) < int(s.capacity):
        raise Conflict("the session has free seats; book one", code="seats_available")
    e = WaitlistEntry(session_id, new_id(), doctor_id=s.doctor_id, account_id=caller.account_id,
                      profile_id=profile_id, local_date=s.local_date, created_at=clock.now())
    e.day_entry = f"{s.local_date}#{e.entry_id}"
    tx = None
    try:
        with transaction() as t:
            tx = t
            t.condition_check(BookingLock, _elig_key(s.doctor_id, profile_id),
                              condition=(BookingLock.active == True) & (BookingLock.account_id == caller.account_id))  # noqa: E712
            t.condition_check(BookingLock, _seat_key(session_id, profile_id), condition=BookingLock.key.does_not_exist())
            t.save(BookingLock(f"wait#{session_id}#{profile_id}", ref_id=e.entry_id),
                   condition=BookingLock.key.does_not_exist())
            t.save(e)
            emit(t, "booking.waitlisted", {"session_id": session_id, "doctor_id": s.doctor_id,
                                           "account_id": caller.account_id, "profile_id": profile_id})
    except TransactWriteError as exc:
        failed = _failed(tx, exc)
        if "elig" in failed:
            if refresh_eligibility(s.doctor_id, profile_id) and _eligible(s.doctor_id, profile_id, caller.account_id):
                return join_waitlist(caller, session_id, profile_id)
            raise _seat_error({"elig"}) from None
        if "wait" in failed:
            raise Conflict("this patient is already on the waitlist", code="already_waitlisted")
        raise _seat_error(failed) from None
    position = sum(1 for _ in WaitlistEntry.query(session_id, WaitlistEntry.entry_id <= e.entry_id))
    return WaitlistOut(session_id=session_id, entry_id=e.entry_id, profile_id=profile_id, position=position)


def leave_waitlist(caller, session_id: str, entry_id: str) -> None:
    try:
        e = WaitlistEntry.get(session_id, entry_id)
    except WaitlistEntry.DoesNotExist:
        raise NotFound("waitlist entry not found")
    if e.account_id != caller.account_id:
        raise NotFound("waitlist entry not found")
    with transaction() as tx:
        tx.delete(WaitlistEntry(session_id, entry_id))
        tx.delete(BookingLock(f"wait#{session_id}#{e.profile_id}"))


def promote_waitlist(session_id: str) -> int:
    """Offer free seats to the first waiters, each as a new hold with its own order and expiry.
    Every offer takes its seat by the same conditional transaction as a booking."""
    offered = 0
    while True:
        s = Session.get(session_id, consistent_read=True)
        if s.status != "open" or s.starts_at <= clock.now() or int(s.used) >= int(s.capacity):
            return offered
        entries = list(WaitlistEntry.query(session_id, limit=1, consistent_read=True))
        if not entries:
            return offered
        e = entries[0]
        try:
            _take_seat(s, account_id=e.account_id, profile_id=e.profile_id, source="waitlist", entry=e)
            offered += 1
        except Conflict as exc:
            if exc.code in ("session_full", "session_closed"):
                return offered
            _drop_entry(e, exc.code)
        except (Unprocessable, TooManyRequests) as exc:
            _drop_entry(e, exc.code)


def _drop_entry(e: WaitlistEntry, why: str) -> None:
    """A waiter who cannot take the seat (no binding, already booked, too many holds) is taken
    off the list and told, so the queue keeps moving."""
    try:
        with transaction() as tx:
            tx.delete(WaitlistEntry(e.session_id, e.entry_id), condition=WaitlistEntry.entry_id.exists())
            tx.delete(BookingLock(f"wait#{e.session_id}#{e.profile_id}"))
            emit(tx, "booking.waitlist_skipped", {"session_id": e.session_id, "doctor_id": e.doctor_id,
                                                  "account_id": e.account_id, "profile_id": e.profile_id,
                                                  "why": why})
    except TransactWriteError:
        pass


# --- reminders -------------------------------------------------------------------------------

@consumer(f"timer.{REMINDER_TIMER}")
def _on_reminder(event_id: str, payload: dict) -> None:
    try:
        b = Booking.get(payload["booking_id"], consistent_read=True)
    except Booking.DoesNotExist:
        return
    if b.status != "confirmed":
        return  # cancelled meanwhile (its timers are cancelled too; this is the belt to those braces)
    publish("booking.reminder", _payload(b, hours_before=payload["hours_before"], local_date=b.local_date))


# --- check-in code, QR and calendar ---------------------------------------------------------

def checkin_code(booking_id: str) -> str:
    return f"{booking_id}.{blind_index(booking_id, 'booking-checkin')[:20]}"


def _verify_code(code: str) -> str | None:
    booking_id, _, sig = code.partition(".")
    if not booking_id or not sig or not hmac.compare_digest(checkin_code(booking_id), code):
        return None
    return booking_id


def _confirmed_for_patient(caller, booking_id: str) -> Booking:
    b = _get_booking(booking_id)
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


# --- attendance (doctor) ---------------------------------------------------------------------

def mark_attendance(caller, booking_id: str, status: str, code: str | None) -> BookingOut:
    b = _get_booking(booking_id)
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
            emit(tx, f"booking.{status}", _payload(b))
    except TransactWriteError:
        raise Conflict("the booking changed meanwhile", code="invalid_state") from None
    return booking_out(_get_booking(booking_id))


def check_in_by_code(caller, code: str) -> BookingOut:
    booking_id = _verify_code(code)
    if booking_id is None:
        raise NotFound("check-in code not recognised")
    return mark_attendance(caller, booking_id, "checked_in", code)


# --- 加号 requests ---------------------------------------------------------------------------

def _today() -> str:
    return clock.now().astimezone(clock.SHANGHAI).date().isoformat()


def create_request(caller, body: RequestCreate) -> RequestOut:
    from chalicelib.accounts import service as accounts

    accounts.get_profile(caller.account_id, body.profile_id)
    if not _bindings().is_active(body.doctor_id, body.profile_id):
        raise Unprocessable("only patients with an active binding to this doctor may request 加号", code="not_bound")
    if body.date_from.isoformat() < _today():
        raise BadRequest("date_from must not be in the past", code="validation_error")
    now = clock.now()
    end_of_range = datetime.combine(body.date_to + timedelta(days=1), time(0), tzinfo=clock.SHANGHAI).astimezone(UTC)
    expires = min(now + timedelta(hours=get_settings().booking_request_ttl_h), end_of_range)
    rid = new_id()
    r = SlotRequest(rid, doctor_id=body.doctor_id, account_id=caller.account_id, profile_id=body.profile_id,
                    status="open", status_key=f"open#{body.date_from.isoformat()}#{rid}",
                    date_from=body.date_from.isoformat(), date_to=body.date_to.isoformat(),
                    reason_sealed=seal(body.reason), attachment_ids=body.attachment_ids, created_at=now,
                    expires_at=expires)
    try:
        with transaction() as tx:
            tx.save(BookingLock(f"req#{body.doctor_id}#{body.profile_id}", ref_id=rid),
                    condition=BookingLock.key.does_not_exist())
            tx.save(r, condition=SlotRequest.request_id.does_not_exist())
            timers.schedule(REQUEST_TIMER, expires, {"request_id": rid}, key=rid, tx=tx)
            emit(tx, "booking.request_created", {"request_id": rid, "doctor_id": body.doctor_id,
                                                 "account_id": caller.account_id, "profile_id": body.profile_id})
    except TransactWriteError:
        raise Conflict("this patient already has an open 加号 request to this doctor", code="request_exists")
    return request_out(r)


def my_requests(caller, limit, cursor) -> Page:
    page = query_page(SlotRequest, SlotRequest.by_account.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(limit), cursor=cursor)
    page.items = [request_out(r) for r in page.items]
    return page


def _doctors_request(caller, request_id: str) -> SlotRequest:
    try:
        r = SlotRequest.get(request_id, consistent_read=True)
    except SlotRequest.DoesNotExist:
        raise NotFound("request not found")
    if r.doctor_id != caller.account_id:
        raise NotFound("request not found")
    if r.status != "open":
        raise Conflict(f"the request is {r.status}", code="invalid_state")
    return r


def accept_request(caller, request_id: str, session_id: str) -> BookingOut:
    """Accept by assigning a session: the patient gets a hold (an offer with its own order and
    expiry), in the same transaction that closes the request."""
    r = _doctors_request(caller, request_id)
    s = _own_session(caller, session_id)
    if not (r.date_from <= s.local_date <= r.date_to):
        raise Unprocessable("the session is outside the dates the patient asked for", code="outside_range")
    return booking_out(_take_seat(s, account_id=r.account_id, profile_id=r.profile_id, source="request", request=r))


def _close_request(r: SlotRequest, to: str, event: str, **extra) -> None:
    actions = [SlotRequest.status.set(to), SlotRequest.status_key.set(f"{to}#{r.date_from}#{r.request_id}"),
               SlotRequest.answered_at.set(clock.now())]
    if extra.get("decline_reason"):
        actions.append(SlotRequest.decline_reason.set(extra["decline_reason"]))
    with transaction() as tx:
        tx.update(SlotRequest(r.request_id), actions=actions, condition=SlotRequest.status == "open")
        tx.delete(BookingLock(f"req#{r.doctor_id}#{r.profile_id}"))
        if to != "expired":
            timers.cancel(timers.timer_id_for(REQUEST_TIMER, r.request_id), tx=tx)
        emit(tx, event, {"request_id": r.request_id, "doctor_id": r.doctor_id, "account_id": r.account_id,
                         "profile_id": r.profile_id, **extra})


def decline_request(caller, request_id: str, reason: str) -> RequestOut:
    r = _doctors_request(caller, request_id)
    try:
        _close_request(r, "declined", "booking.request_declined", decline_reason=reason)
    except TransactWriteError:
        raise Conflict("the request is no longer open", code="invalid_state") from None
    return request_out(SlotRequest.get(request_id, consistent_read=True))


@consumer(f"timer.{REQUEST_TIMER}")
def _on_request_expiry(event_id: str, payload: dict) -> None:
    try:
        r = SlotRequest.get(payload["request_id"], consistent_read=True)
    except SlotRequest.DoesNotExist:
        return
    if r.status != "open":
        return
    try:
        _close_request(r, "expired", "booking.request_expired")
    except TransactWriteError:
        pass  # answered meanwhile


def demand(caller, days: int, request_id: str) -> Demand:
    """Open requests and, per day ahead, how many requests / waitlisted patients want that day."""
    today = clock.now().astimezone(clock.SHANGHAI).date()
    window = [(today + timedelta(days=i)).isoformat() for i in range(days)]
    requests = list(SlotRequest.by_doctor.query(caller.account_id, SlotRequest.status_key.startswith("open#"),
                                                limit=500))
    waiting = list(WaitlistEntry.by_doctor.query(caller.account_id, WaitlistEntry.day_entry >= window[0],
                                                 limit=2000))
    out_days = []
    for d in window:
        out_days.append(DemandDay(date=d, requests=sum(1 for r in requests if r.date_from <= d <= r.date_to),
                                  waitlisted=sum(1 for e in waiting if e.local_date == d)))
    if requests:  # the reasons are health data: one audit record per request read
        with audit.AuditRecord.batch_write() as batch:
            for r in requests:
                batch.save(audit.audit_record(caller=caller, subject_profile_id=r.profile_id, action="read",
                                              object_type="booking_request", object_id=r.request_id,
                                              request_id=request_id))
    return Demand(open_requests=[request_out(r) for r in requests], days=out_days)
