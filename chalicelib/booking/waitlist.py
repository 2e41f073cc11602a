"""The waitlist of a full session: join, leave, and offers of freed seats in arrival order."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound, TooManyRequests, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction

from . import guards
from .models import BookingLock, Session, WaitlistEntry
from .schemas import WaitlistOut
from .seats import take_seat
from .sessions import get_session_item

JOIN_ATTEMPTS = 2  # the second runs only after the eligibility projection was refreshed


def join_waitlist(caller, session_id: str, profile_id: str) -> WaitlistOut:
    for attempt in range(1, JOIN_ATTEMPTS + 1):
        s = get_session_item(session_id)
        if s.audience != "bound":
            raise NotFound("session not found")
        if s.status != "open" or s.starts_at <= clock.now():
            raise Conflict("the session is not open", code="session_closed")
        if int(s.used) < int(s.capacity):
            raise Conflict("the session has free seats; book one", code="seats_available")
        counted = s.waiting is not None  # sessions published before the counter keep none
        e = WaitlistEntry(session_id, new_id(), doctor_id=s.doctor_id, account_id=caller.account_id,
                          profile_id=profile_id, local_date=s.local_date, created_at=clock.now(),
                          counted=counted or None)
        e.day_entry = f"{s.local_date}#{e.entry_id}"
        tx = None
        try:
            with transaction() as t:
                tx = t
                guards.eligibility_check(t, s.doctor_id, profile_id, caller.account_id)
                t.condition_check(BookingLock, guards.seat_key(session_id, profile_id),
                                  condition=BookingLock.key.does_not_exist())
                t.save(BookingLock(guards.wait_key(session_id, profile_id), ref_id=e.entry_id),
                       condition=BookingLock.key.does_not_exist())
                t.save(e)
                if counted:
                    t.update(Session(session_id), actions=[Session.waiting.add(1)])
                emit(t, "booking.waitlisted", {"session_id": session_id, "doctor_id": s.doctor_id,
                                               "account_id": caller.account_id, "profile_id": profile_id})
        except TransactWriteError as exc:
            failed = guards.failed(tx, exc)
            if "elig" in failed:
                if (attempt < JOIN_ATTEMPTS and guards.refresh_eligibility(s.doctor_id, profile_id)
                        and guards.eligible(s.doctor_id, profile_id, caller.account_id)):
                    continue  # the projection had not seen this binding yet
                raise guards.seat_error({"elig"}) from None
            if "wait" in failed:
                raise Conflict("this patient is already on the waitlist", code="already_waitlisted")
            raise guards.seat_error(failed) from None
        position = sum(1 for _ in WaitlistEntry.query(session_id, WaitlistEntry.entry_id <= e.entry_id))
        return WaitlistOut(session_id=session_id, entry_id=e.entry_id, profile_id=profile_id, position=position)
    raise guards.seat_error({"elig"})


def leave_waitlist(caller, session_id: str, entry_id: str) -> None:
    try:
        e = WaitlistEntry.get(session_id, entry_id)
    except WaitlistEntry.DoesNotExist:
        raise NotFound("waitlist entry not found")
    if e.account_id != caller.account_id:
        raise NotFound("waitlist entry not found")
    try:
        with transaction() as tx:
            tx.delete(WaitlistEntry(session_id, entry_id), condition=WaitlistEntry.entry_id.exists())
            tx.delete(BookingLock(guards.wait_key(session_id, e.profile_id)))
            if e.counted:
                tx.update(Session(session_id), actions=[Session.waiting.add(-1)])
    except TransactWriteError:  # offered a seat or left meanwhile: counted down exactly once
        raise NotFound("waitlist entry not found") from None


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
            take_seat(s, account_id=e.account_id, profile_id=e.profile_id, source="waitlist", entry=e)
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
    tx = None
    try:
        with transaction() as t:
            tx = t
            tx.delete(WaitlistEntry(e.session_id, e.entry_id), condition=WaitlistEntry.entry_id.exists())
            tx.delete(BookingLock(guards.wait_key(e.session_id, e.profile_id)))
            if e.counted:
                tx.update(Session(e.session_id), actions=[Session.waiting.add(-1)])
            emit(tx, "booking.waitlist_skipped", {"session_id": e.session_id, "doctor_id": e.doctor_id,
                                                  "account_id": e.account_id, "profile_id": e.profile_id,
                                                  "why": why})
    except TransactWriteError as exc:
        if "wait" not in guards.failed(tx, exc):
            raise  # not about the entry (throttled, unavailable): the event is retried
        # The entry's condition failed or it was being changed at the same moment: the waiter
        # left, was offered the seat, or another promotion dropped it. Nothing is lost by not
        # dropping it here: the loop re-reads the head of the list and a still-present entry is
        # tried again.
        logger.info("waitlist entry already gone or changing", extra={
            "session_id": e.session_id, "entry_id": e.entry_id, "why": why, "error": exc.cause_response_code})


@consumer("booking.released", "booking.cancelled", "booking.session_updated", "booking.waitlisted")
def _on_seat_maybe_free(event_id: str, payload: dict) -> None:
    promote_waitlist(payload["session_id"])
