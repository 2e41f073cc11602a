"""Money for seats, driven by events so a crash between a state change and its money loses nothing.

Money moves through the payments service only: ``booking.released`` closes the unpaid order,
``booking.cancelled`` refunds in full. A payment that lands on a booking that is no longer held
is refunded in full (a declined/expired/doctor-cancelled booking is never charged).
"""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock, timers
from chalicelib.core.errors import Conflict, Unprocessable
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction

from . import guards, peers
from .models import Booking, BookingLock, Session
from .seats import end_live, schedule_reminders
from .timing import HOLD_TIMER
from .views import event_payload


def release_hold(booking_id: str, reason: str, *, order_closed: bool = False) -> bool:
    """Release an unpaid hold (expiry). Idempotent: False if it was not held any more."""
    try:
        b = Booking.get(booking_id, consistent_read=True)
    except Booking.DoesNotExist:
        return False
    if b.status != "held":
        return False
    try:
        end_live(b, "expired", reason, money=None if order_closed else "close")
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
                reminders = schedule_reminders(tx, b)
                tx.update(Booking(booking_id), actions=[Booking.status.set("confirmed"), Booking.confirmed_at.set(now),
                                                        Booking.reminder_timers.set(reminders)],
                          condition=(Booking.status == "held") & (Booking.order_id == order_id))
                tx.update(Session(b.session_id), actions=[Session.held.add(-1), Session.confirmed.add(1)])
                tx.update(BookingLock(guards.holds_key(b.account_id)), actions=[BookingLock.n.add(-1)])
                timers.cancel(timers.timer_id_for(HOLD_TIMER, booking_id), tx=tx)
                emit(tx, "booking.confirmed", event_payload(b, order_id=order_id, amount_fen=int(b.amount_fen)))
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
        peers.payments().refund(order_id=order_id, amount_fen=None, reason=reason,
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
    pay = peers.payments()
    if money == "close":
        try:
            pay.close_order(order_id=order_id, reason=payload.get("reason") or "booking released")
        except Conflict:
            pass  # paid meanwhile: the order.paid consumer finds the booking not held and refunds
    elif money == "refund":
        _refund_in_full(order_id, payload["booking_id"], payload.get("reason") or "booking cancelled")
