"""Taking and giving back a seat — the only code that moves a session's counters.

Capacity is exact. A seat changes hands only inside one ``TransactWriteItems`` that also moves
the booking's state conditionally (``status == <from>``) and adjusts the session's counters
(``used`` = held + confirmed + attended, taken only under ``used < capacity``). Because the
booking's own condition guards every release, a seat is given back at most once, whichever of
expiry timer / ``order.closed`` / cancel / doctor-cancel gets there first.

Taking a seat = one TransactWriteItems (session counters, booking, the profile's seat guard,
the account's unpaid-hold counter, eligibility ConditionCheck, expiry timer, outbox event) +
payments' ``create_order`` when the session has a fee.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib.core import clock, timers
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import emit, transaction

from . import counters, guards, peers
from .models import LIVE, Booking, BookingLock, Session, SlotRequest, WaitlistEntry
from .timing import HOLD_GRACE, HOLD_TIMER, REMINDER_TIMER, REMINDERS, REQUEST_TIMER, today
from .views import event_payload


class HeldOrder(NamedTuple):
    """What a held seat keeps of its order (payments' answer, ``OrderOut``)."""

    order_id: str
    expires_at: datetime


def get_booking_item(booking_id: str) -> Booking:
    try:
        return Booking.get(booking_id, consistent_read=True)
    except Booking.DoesNotExist:
        raise NotFound("booking not found")


def take_seat(s: Session, *, account_id: str, profile_id: str, source: str,
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
        reply = peers.payments().create_order(
            payer_account_id=account_id, product_type="booking", product_id=booking_id, amount_fen=fee,
            doctor_id=s.doctor_id, description=f"加号 {s.local_date}")
        order = HeldOrder(reply["order_id"], datetime.fromisoformat(reply["expires_at"]))
    try:
        return _commit_seat(s, booking_id, order, account_id=account_id, profile_id=profile_id, source=source,
                            request=request, entry=entry)
    except Exception:
        if order is not None:
            try:
                peers.payments().close_order(order_id=order.order_id, reason="seat not held")
            except Exception:  # the order expires on its own; a payment on it is refunded
                logger.exception("could not close the order of a failed hold", extra={"order_id": order.order_id})
        raise


def _commit_seat(s: Session, booking_id: str, order: HeldOrder | None, *, account_id: str, profile_id: str,
                 source: str, request: SlotRequest | None, entry: WaitlistEntry | None) -> Booking:
    now = clock.now()
    paid = order is not None
    b = Booking(booking_id, session_id=s.session_id, doctor_id=s.doctor_id, account_id=account_id,
                profile_id=profile_id, status="held" if paid else "confirmed", source=source,
                request_id=request.request_id if request else None, order_id=order.order_id if order else None,
                amount_fen=int(s.fee_fen), hold_expires_at=order.expires_at if order else None,
                starts_at=s.starts_at, ends_at=s.ends_at, local_date=s.local_date, created_at=now,
                confirmed_at=None if paid else now, reminder_timers=[])
    for attempt in (1, 2):
        with_tx = None
        try:
            with transaction() as tx:
                with_tx = tx
                counter = Session.held if paid else Session.confirmed
                seat_actions: list[Action] = [Session.used.add(1), counter.add(1)]
                if entry is not None and entry.counted:
                    seat_actions.append(Session.waiting.add(-1))
                tx.update(Session(s.session_id), actions=seat_actions,
                          condition=(Session.status == "open") & (Session.used < Session.capacity))
                tx.save(BookingLock(guards.seat_key(s.session_id, profile_id), ref_id=booking_id),
                        condition=BookingLock.key.does_not_exist())
                guards.eligibility_check(tx, s.doctor_id, profile_id, account_id)
                if order is not None:
                    tx.update(BookingLock(guards.holds_key(account_id)), actions=[BookingLock.n.add(1)],
                              condition=BookingLock.n.does_not_exist() | (BookingLock.n < peers.max_unpaid_holds()))
                    timers.schedule(HOLD_TIMER, order.expires_at + HOLD_GRACE, {"booking_id": booking_id},
                                    key=booking_id, tx=tx)
                else:
                    b.reminder_timers = schedule_reminders(tx, b)
                if request is not None:
                    tx.update(SlotRequest(request.request_id), actions=[
                        SlotRequest.status.set("accepted"), SlotRequest.status_key.set(
                            f"accepted#{request.date_from}#{request.request_id}"),
                        SlotRequest.answered_at.set(now), SlotRequest.session_id.set(s.session_id),
                        SlotRequest.booking_id.set(booking_id)], condition=SlotRequest.status == "open")
                    tx.delete(BookingLock(guards.req_key(request.doctor_id, request.profile_id)))
                    counters.move(tx, request, -1, today())
                    timers.cancel(timers.timer_id_for(REQUEST_TIMER, request.request_id), tx=tx)
                    if request.reminder_timer:
                        timers.cancel(request.reminder_timer, tx=tx)
                if entry is not None:
                    tx.delete(WaitlistEntry(entry.session_id, entry.entry_id),
                              condition=WaitlistEntry.entry_id.exists())
                    tx.delete(BookingLock(guards.wait_key(entry.session_id, entry.profile_id)))
                tx.save(b, condition=Booking.booking_id.does_not_exist())
                kind = {"book": "booking.held", "waitlist": "booking.offered", "request": "booking.offered"}[source]
                emit(tx, kind if paid else "booking.confirmed",
                     event_payload(b, source=source, order_id=b.order_id, amount_fen=int(b.amount_fen),
                                   hold_expires_at=b.hold_expires_at.isoformat() if paid else None))
            logger.info("seat taken", extra={"booking_id": booking_id, "session_id": s.session_id, "source": source})
            return b
        except TransactWriteError as exc:
            failed = guards.failed(with_tx, exc)
            if "elig" in failed and attempt == 1 and guards.refresh_eligibility(s.doctor_id, profile_id):
                continue  # the projection had not seen this binding yet
            raise guards.seat_error(failed) from None
    raise AssertionError("unreachable")


def schedule_reminders(tx, b: Booking) -> list[str]:
    ids = []
    for hours in REMINDERS:
        due = b.starts_at - timedelta(hours=hours)
        if due > clock.now():
            ids.append(timers.schedule(REMINDER_TIMER, due, {"booking_id": b.booking_id, "hours_before": hours},
                                       key=f"{b.booking_id}#{hours}h", tx=tx))
    return ids


def end_live(b: Booking, to: str, reason: str, *, money: str | None = None) -> Booking:
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
            tx.delete(BookingLock(guards.seat_key(b.session_id, b.profile_id)),
                      condition=BookingLock.ref_id == b.booking_id)
            if frm == "held" and b.order_id:
                tx.update(BookingLock(guards.holds_key(b.account_id)), actions=[BookingLock.n.add(-1)])
                timers.cancel(timers.timer_id_for(HOLD_TIMER, b.booking_id), tx=tx)
            for timer_id in b.reminder_timers or []:
                timers.cancel(timer_id, tx=tx)
            b.status = to
            kind = "booking.released" if frm == "held" else "booking.cancelled"
            emit(tx, kind, event_payload(b, previous=frm, reason=reason, order_id=b.order_id,
                                         amount_fen=int(b.amount_fen or 0), money=money))
    except TransactWriteError:
        b.status = frm
        raise Conflict("the booking changed meanwhile", code="invalid_state") from None
    b.ended_at, b.end_reason = now, reason
    logger.info("seat released", extra={"booking_id": b.booking_id, "from": frm, "to": to})
    return b
