"""The guard items (``BookingLock``) written with the changes they guard, what a failed
transaction says about them, and the eligibility projection of the bindings domain.

Who may book is an ``elig#`` item: a projection this domain keeps from the bindings domain's
events (re-reading ``bindings.service`` on each event, and on a miss), checked with a
ConditionCheck inside the booking transaction instead of two extra reads per booking.
"""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.core.errors import Conflict, TooManyRequests, Unprocessable
from chalicelib.core.outbox import consumer
from chalicelib.core.transact import failed_items

from . import peers
from .models import Booking, BookingLock, Session, SlotRequest, WaitlistEntry


def seat_key(session_id: str, profile_id: str) -> str:
    return f"seat#{session_id}#{profile_id}"


def elig_key(doctor_id: str, profile_id: str) -> str:
    return f"elig#{doctor_id}#{profile_id}"


def holds_key(account_id: str) -> str:
    return f"holds#{account_id}"


def wait_key(session_id: str, profile_id: str) -> str:
    return f"wait#{session_id}#{profile_id}"


def req_key(doctor_id: str, profile_id: str) -> str:
    return f"req#{doctor_id}#{profile_id}"


def failed(tx, exc: TransactWriteError) -> set[str]:
    """Which guarded items made a transaction fail: 'session', 'booking', 'seat', 'holds', 'elig',
    'wait', 'req', 'request', 'other'; {'unknown'} when the answer names none."""
    out = set()
    for table, key in failed_items(tx, exc):
        if table == BookingLock.Meta.table_name:
            out.add(str(key).split("#", 1)[0])
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


def seat_error(failed: set[str]):
    """The answer a client gets for a seat transaction that failed on ``failed``."""
    if "request" in failed:
        return Conflict("the request is no longer open", code="invalid_state")
    if "wait" in failed:
        return Conflict("the waitlist entry is gone", code="invalid_state")
    if "elig" in failed:  # first: says nothing about a profile the caller does not manage
        return Unprocessable("only patients with an active binding to this doctor may book", code="not_bound")
    if "seat" in failed:
        return Conflict("this patient already has a booking in this session", code="already_booked")
    if "holds" in failed:
        return TooManyRequests(f"at most {peers.max_unpaid_holds()} unpaid holds at a time; pay or cancel one first",
                               code="too_many_holds")
    if "session" in failed:
        return Conflict("the session is full or no longer open", code="session_full")
    return Conflict("the booking could not be made; try again", code="conflict")


# --- eligibility: a projection of the bindings domain -----------------------------------------

def refresh_eligibility(doctor_id: str, profile_id: str) -> bool:
    """Re-read the truth from the bindings service and store it; returns whether it is active."""
    b = peers.bindings().get_active_binding(doctor_id, profile_id)
    item = BookingLock(elig_key(doctor_id, profile_id), active=b is not None,
                       account_id=b.patient_account_id if b is not None else None)
    item.save()
    return b is not None


def eligible(doctor_id: str, profile_id: str, account_id: str) -> bool:
    try:
        item = BookingLock.get(elig_key(doctor_id, profile_id), consistent_read=True)
    except BookingLock.DoesNotExist:
        return False
    return bool(item.active) and item.account_id == account_id


def eligibility_check(tx, doctor_id: str, profile_id: str, account_id: str) -> None:
    """Inside a transaction: an active binding whose profile this account manages."""
    tx.condition_check(BookingLock, elig_key(doctor_id, profile_id),
                       condition=(BookingLock.active == True) & (BookingLock.account_id == account_id))  # noqa: E712


@consumer("binding.activated", "binding.unblocked", "binding.blocked", "binding.ended", "binding.rejected")
def _on_binding_changed(event_id: str, payload: dict) -> None:
    # Reads the current state rather than trusting the event, so out-of-order delivery is harmless.
    refresh_eligibility(payload["doctor_id"], payload["profile_id"])
