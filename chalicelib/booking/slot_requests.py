"""Patients' 加号 requests to a doctor: create, list, accept (into a session), decline, expire."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib.core import clock, timers
from chalicelib.core.config import get_settings
from chalicelib.core.crypto import seal
from chalicelib.core.errors import BadRequest, Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import guards, peers
from .models import BookingLock, SlotRequest
from .schemas import BookingOut, RequestCreate, RequestOut
from .seats import take_seat
from .sessions import own_session
from .timing import REQUEST_TIMER, today
from .views import booking_out, request_out


def create_request(caller, body: RequestCreate) -> RequestOut:
    from chalicelib.accounts import service as accounts

    accounts.get_profile(caller.account_id, body.profile_id)
    if not peers.bindings().is_active(body.doctor_id, body.profile_id):
        raise Unprocessable("only patients with an active binding to this doctor may request 加号", code="not_bound")
    if body.date_from.isoformat() < today():
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
            tx.save(BookingLock(guards.req_key(body.doctor_id, body.profile_id), ref_id=rid),
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
    s = own_session(caller, session_id)
    if not (r.date_from <= s.local_date <= r.date_to):
        raise Unprocessable("the session is outside the dates the patient asked for", code="outside_range")
    return booking_out(take_seat(s, account_id=r.account_id, profile_id=r.profile_id, source="request", request=r))


def _close_request(r: SlotRequest, to: str, event: str, **extra) -> None:
    actions: list[Action] = [SlotRequest.status.set(to),
                             SlotRequest.status_key.set(f"{to}#{r.date_from}#{r.request_id}"),
               SlotRequest.answered_at.set(clock.now())]
    if extra.get("decline_reason"):
        actions.append(SlotRequest.decline_reason.set(extra["decline_reason"]))
    with transaction() as tx:
        tx.update(SlotRequest(r.request_id), actions=actions, condition=SlotRequest.status == "open")
        tx.delete(BookingLock(guards.req_key(r.doctor_id, r.profile_id)))
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
        logger.info("request answered before it expired", extra={"request_id": r.request_id})
