"""Operator triage and matching: the queues, proposing a surgeon and a host hospital, the
surgeon's accept (with dates) or decline, and re-matching when the surgeon or the host cancels.

At most one surgeon holds a case: ``surgeon_id`` is set only by a transaction conditional on the
case being unheld and the surgeon's load below its limit, and cleared by one conditional on that
same surgeon, with the load counter moved in the same transaction. Releasing a case clears what
was arranged for that surgeon and host (dates, the invitation, the home approval, the patient's
consent to that operation, the checklist): it is all asked for again for the next match.
"""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib.core import clock
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, Unprocessable
from chalicelib.core.observability import logger
from chalicelib.core.outbox import emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from .common import audit_read, cases_page, full_out, get_case, get_hospital, get_surgeon, need, payload, visible_case
from .models import Case, Surgeon
from .partners import can_take

MATCHABLE = ("triage", "matching")


def queue(caller, name: str, limit: int | None, cursor: str | None) -> Page:
    page = query_page(Case, Case.by_queue.query, name, limit=parse_limit(str(limit) if limit else None),
                      cursor=cursor)
    return cases_page(page)


def propose(caller, case_id: str, surgeon_id: str, hospital_id: str, request_id: str):
    c = get_case(case_id)
    need(c, *MATCHABLE)
    audit_read(caller, c, "referral_case", c.case_id, request_id)
    s = get_surgeon(surgeon_id)
    if s is None or not can_take(s, c):
        raise Unprocessable("this surgeon cannot take the case (unavailable, at the limit, or asked before)",
                            code="surgeon_unavailable")
    h = get_hospital(hospital_id)
    if h is None or not h.active:
        raise Unprocessable("not an active partner hospital", code="hospital_unavailable")
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.status.set("proposed"), Case.queue.remove(), Case.surgeon_id.set(surgeon_id),
                                  Case.hospital_id.set(hospital_id), Case.attempt.add(1)],
                      condition=Case.status.is_in(*MATCHABLE) & Case.surgeon_id.does_not_exist())
            tx.update(Surgeon(surgeon_id), actions=[Surgeon.open_cases.add(1)],
                      condition=Surgeon.open_cases < int(s.max_open))
            c.surgeon_id, c.hospital_id = surgeon_id, hospital_id
            emit(tx, "referral.proposed", payload(c, attempt=int(c.attempt) + 1))
    except TransactWriteError:
        raise Conflict("the case or the surgeon changed meanwhile", code="invalid_state")
    return full_out(get_case(case_id))


def accept(caller, case_id: str, dates: list):
    c, _ = visible_case(caller, case_id, allow=("surgeon",))
    need(c, "proposed")
    now = clock.now()
    if any(d.tzinfo is None for d in dates):
        raise Unprocessable("give each date with its offset (RFC 3339)", code="validation_error")
    if any(d <= now for d in dates):
        raise Unprocessable("proposed dates must be in the future", code="validation_error")
    iso = sorted({d.astimezone(clock.SHANGHAI).isoformat() for d in dates})
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.status.set("accepted"), Case.proposed_dates.set(iso)],
                      condition=(Case.status == "proposed") & (Case.surgeon_id == caller.account_id))
            emit(tx, "referral.accepted", payload(c, dates=iso))
    except TransactWriteError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    return full_out(get_case(case_id))


def decline(caller, case_id: str, reason: str | None):
    c, _ = visible_case(caller, case_id, allow=("surgeon",))
    need(c, "proposed")
    release(c, "declined", reason)
    return {"ok": True}


def surgeon_withdraw(caller, case_id: str, reason: str):
    """The surgeon cancels after accepting (before or after the date was confirmed): re-matched."""
    c, _ = visible_case(caller, case_id, allow=("surgeon",))
    need(c, "accepted", "confirmed")
    release(c, "surgeon", reason)
    return full_out(get_case(case_id))


def host_cancel(caller, case_id: str, reason: str):
    """The host hospital cancels (an operator records it: hospitals have no accounts): the
    surgeon is released too (not counted against them) and the case is matched again."""
    c = get_case(case_id)
    need(c, "proposed", "accepted", "confirmed")
    release(c, "host", reason)
    return full_out(get_case(case_id))


def _cleared() -> list[Action]:
    return [Case.queue.set("matching"), Case.status.set("matching"), Case.surgeon_id.remove(),
            Case.hospital_id.remove(), Case.proposed_dates.set([]), Case.invitation_doc.remove(),
            Case.approval_doc.remove(), Case.surgery_consent.remove(), Case.surgery_at.remove(),
            Case.confirmed_at.remove(), Case.checklist.set([])]


EVENTS = {"declined": "referral.declined", "surgeon": "referral.surgeon_cancelled", "host": "referral.host_cancelled"}


def release(c: Case, why: str, reason: str | None) -> None:
    """Back to the matching queue; a surgeon who declined or withdrew is not asked again. After
    ``referral_max_surgeons`` surgeons, the case is cancelled with the fee refunded (not the
    patient's doing)."""
    surgeon = c.surgeon_id
    actions = _cleared()
    if why in ("declined", "surgeon"):
        actions.append(Case.tried.set(list(c.tried or []) + [surgeon]))
    try:
        with transaction() as tx:
            tx.update(c, actions=actions, condition=(Case.status == c.status) & (Case.surgeon_id == surgeon))
            tx.update(Surgeon(surgeon), actions=[Surgeon.open_cases.add(-1)])
            emit(tx, EVENTS[why], payload(c, why=why, previous=c.status, reason_given=bool(reason)))
    except TransactWriteError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    logger.info("referral released", extra={"case_id": c.case_id, "why": why})
    c = get_case(c.case_id)
    if len(c.tried or []) >= get_settings().referral_max_surgeons:
        from . import money

        money.cancel(c, "surgeon", "没有专家能够接诊，全额退款")
