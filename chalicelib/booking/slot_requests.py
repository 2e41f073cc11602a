"""Patients' 加号 requests to a doctor: create, list, accept (into a session), decline, withdraw,
expire at the end of their range, and a reminder on the range's last day."""

from __future__ import annotations

from datetime import date

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib.core import clock, timers
from chalicelib.core.crypto import seal
from chalicelib.core.errors import BadRequest, Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, publish, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import counters, guards, peers
from .models import BookingLock, SlotRequest
from .schemas import BookingOut, RequestCreate, RequestOut
from .seats import take_seat
from .sessions import own_session
from .timing import REQUEST_REMINDER_AT, REQUEST_REMINDER_TIMER, REQUEST_TIMER, end_of_day, local, today
from .views import booking_out, request_out

MAX_AHEAD_DAYS = 180  # how far ahead a request's range may start


def create_request(caller, body: RequestCreate) -> RequestOut:
    """Open a request until the end of its range: counted into the doctor's demand counters, the
    expiry timer at the range's end and a reminder on its last day, all in one transaction."""
    from chalicelib.accounts import service as accounts

    accounts.get_profile(caller.account_id, body.profile_id)
    if not peers.bindings().is_active(body.doctor_id, body.profile_id):
        raise Unprocessable("only patients with an active binding to this doctor may request 加号", code="not_bound")
    now_day = today()
    if body.date_from.isoformat() < now_day:
        raise BadRequest("date_from must not be in the past", code="validation_error")
    if (body.date_from - date.fromisoformat(now_day)).days > MAX_AHEAD_DAYS:
        raise BadRequest(f"date_from is at most {MAX_AHEAD_DAYS} days ahead", code="validation_error")
    now = clock.now()
    expires = end_of_day(body.date_to)
    parts = counters.normalize(body.parts)
    n_days = (body.date_to - body.date_from).days + 1
    remind_at = local(body.date_to, REQUEST_REMINDER_AT)
    rid = new_id()
    r = SlotRequest(rid, doctor_id=body.doctor_id, account_id=caller.account_id, profile_id=body.profile_id,
                    status="open", status_key=f"open#{body.date_from.isoformat()}#{rid}",
                    date_from=body.date_from.isoformat(), date_to=body.date_to.isoformat(),
                    reason_sealed=seal(body.reason), attachment_ids=body.attachment_ids, parts=parts,
                    weight_u=counters.weight_of(n_days, parts), created_at=now, expires_at=expires,
                    reminder_timer=timers.timer_id_for(REQUEST_REMINDER_TIMER, rid) if remind_at > now else None)
    try:
        with transaction() as tx:
            tx.save(BookingLock(guards.req_key(body.doctor_id, body.profile_id), ref_id=rid),
                    condition=BookingLock.key.does_not_exist())
            tx.save(r, condition=SlotRequest.request_id.does_not_exist())
            counters.move(tx, r, 1, now_day)
            timers.schedule(REQUEST_TIMER, expires, {"request_id": rid}, key=rid, tx=tx)
            if r.reminder_timer:
                timers.schedule(REQUEST_REMINDER_TIMER, remind_at, {"request_id": rid}, key=rid, tx=tx)
            emit(tx, "booking.request_created", {"request_id": rid, "doctor_id": body.doctor_id,
                                                 "account_id": caller.account_id, "profile_id": body.profile_id,
                                                 "date_from": r.date_from, "date_to": r.date_to, "parts": parts})
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
    s = own_session(caller, session_id)
    if not (r.date_from <= s.local_date <= r.date_to):
        raise Unprocessable("the session is outside the dates the patient asked for", code="outside_range")
    return booking_out(take_seat(s, account_id=r.account_id, profile_id=r.profile_id, source="request", request=r))


def _close_request(r: SlotRequest, to: str, event: str, **extra) -> None:
    """Close an open request (conditionally: exactly once) and take its share off the counters."""
    actions: list[Action] = [SlotRequest.status.set(to),
                             SlotRequest.status_key.set(f"{to}#{r.date_from}#{r.request_id}"),
               SlotRequest.answered_at.set(clock.now())]
    if extra.get("decline_reason"):
        actions.append(SlotRequest.decline_reason.set(extra["decline_reason"]))
    with transaction() as tx:
        tx.update(SlotRequest(r.request_id), actions=actions, condition=SlotRequest.status == "open")
        tx.delete(BookingLock(guards.req_key(r.doctor_id, r.profile_id)))
        counters.move(tx, r, -1, today())
        if to != "expired":
            cancel_request_timers(tx, r)
        emit(tx, event, {"request_id": r.request_id, "doctor_id": r.doctor_id, "account_id": r.account_id,
                         "profile_id": r.profile_id, **extra})


def cancel_request_timers(tx, r: SlotRequest) -> None:
    timers.cancel(timers.timer_id_for(REQUEST_TIMER, r.request_id), tx=tx)
    if r.reminder_timer:
        timers.cancel(r.reminder_timer, tx=tx)


def withdraw_request(caller, request_id: str) -> RequestOut:
    """The patient withdraws an open request (any profile the account manages)."""
    try:
        r = SlotRequest.get(request_id, consistent_read=True)
    except SlotRequest.DoesNotExist:
        raise NotFound("request not found")
    if r.account_id != caller.account_id:
        raise NotFound("request not found")
    if r.status != "open":
        raise Conflict(f"the request is {r.status}", code="invalid_state")
    try:
        _close_request(r, "withdrawn", "booking.request_withdrawn")
    except TransactWriteError:
        raise Conflict("the request is no longer open", code="invalid_state") from None
    return request_out(SlotRequest.get(request_id, consistent_read=True))


def request_is_open(request_id: str) -> bool:
    """For the notifications' stale check: a lapse reminder is sent only while the request is open."""
    try:
        return SlotRequest.get(request_id, consistent_read=True).status == "open"
    except SlotRequest.DoesNotExist:
        return False


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
        logger.info("request answered before it expired", extra={"request_id": r.request_id})


@consumer(f"timer.{REQUEST_REMINDER_TIMER}")
def _on_request_reminder(event_id: str, payload: dict) -> None:
    """The last day of an open request's range: tell the patient it lapses tonight."""
    try:
        r = SlotRequest.get(payload["request_id"], consistent_read=True)
    except SlotRequest.DoesNotExist:
        return
    if r.status != "open":
        return  # answered or withdrawn meanwhile (its reminder is cancelled too; belt and braces)
    publish("booking.request_lapsing", {"request_id": r.request_id, "doctor_id": r.doctor_id,
                                        "account_id": r.account_id, "profile_id": r.profile_id,
                                        "date_to": r.date_to, "expires_at": r.expires_at.isoformat()},
            caused_by=event_id)  # a redelivered timer reminds once
