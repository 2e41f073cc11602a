"""Experts, operator triage and matching: who offers second opinions at what price and load,
completeness checks, the turnaround clock, assignment, accept / decline within 24 h, re-matching.

At most one expert holds a case: ``holder_id`` is set only by a transaction conditional on the
case being unheld (``matching``) and cleared by one conditional on that same holder, with the
expert's load counter moved in the same transaction.
"""

from __future__ import annotations

from datetime import timedelta

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock, timers
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page
from chalicelib.doctors import service as doctors

from . import workdays
from .common import audit_read, case_out, expert_out, get_case, get_expert, payload, visible_case
from .models import Case, Expert, ExpertSpecialty
from .schemas import ExpertIn

RESPOND_TIMER = "opinion-respond"
DEADLINE_TIMER = "opinion-deadline"
CANDIDATES = 50


# --- experts ---------------------------------------------------------------------------------

def set_offer(caller, body: ExpertIn):
    """A verified doctor opts in (or changes price, specialties, availability, load limit)."""
    try:
        d = doctors.get_verified(caller.account_id)
    except NotFound:
        raise Unprocessable("only verified doctors can offer second opinions", code="doctor_not_verified")
    old = get_expert(caller.account_id)
    specialties = sorted({s.strip() for s in body.specialties if s.strip()})
    if not specialties:
        raise Unprocessable("name at least one specialty", code="validation_error")
    e = Expert(caller.account_id, name=d.name, hospital=d.hospital, department=d.department, title=d.title,
               specialties=specialties, price_fen=body.price_fen, available=body.available, max_open=body.max_open,
               open_cases=int(old.open_cases or 0) if old else 0, bio=body.bio, listed="yes", updated_at=clock.now())
    before = set(old.specialties or []) if old else set()
    with transaction() as tx:
        tx.save(e)
        for s in before - set(specialties):
            tx.delete(ExpertSpecialty(s, caller.account_id))
        for s in set(specialties) - before:
            tx.save(ExpertSpecialty(s, caller.account_id))
    return expert_out(e)


def my_offer(caller):
    e = get_expert(caller.account_id)
    if e is None:
        raise NotFound("you do not offer second opinions")
    return expert_out(e)


def list_experts(specialty: str | None, limit: int | None, cursor: str | None) -> Page:
    """Experts patients can pick, with their price shown up front (1 Query [+1 BatchGetItem])."""
    lim = parse_limit(str(limit) if limit else None)
    if specialty:
        page = query_page(ExpertSpecialty, ExpertSpecialty.query, specialty, limit=lim, cursor=cursor)
        experts = list(Expert.batch_get([r.doctor_id for r in page.items])) if page.items else []
        experts.sort(key=lambda e: e.doctor_id)
        return Page([expert_out(e) for e in experts if e.listed], page.next_cursor)
    page = query_page(Expert, Expert.by_listed.query, "yes", limit=lim, cursor=cursor)
    return Page([expert_out(e) for e in page.items], page.next_cursor)


def expert_cases(caller, limit: int | None, cursor: str | None) -> Page:
    """The cases the expert holds now (assigned, awaiting an answer, or accepted)."""
    page = query_page(Case, Case.by_holder.query, caller.account_id,
                      limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    return Page([case_out(c) for c in page.items], page.next_cursor)


# --- triage (operator) -----------------------------------------------------------------------

def queue(caller, name: str, limit: int | None, cursor: str | None) -> Page:
    page = query_page(Case, Case.by_queue.query, name, limit=parse_limit(str(limit) if limit else None),
                      cursor=cursor)
    return Page([case_out(c) for c in page.items], page.next_cursor)


def request_records(caller, case_id: str, note: str, request_id: str):
    c = get_case(case_id)
    if c.status != "triage":
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    audit_read(caller, c, "opinion_case", c.case_id, request_id)
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.status.set("needs_records"), Case.queue.remove(), Case.records_note.set(note)],
                      condition=Case.status == "triage")
            emit(tx, "opinion.more_records_requested", payload(c))
    except TransactWriteError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    c.status, c.records_note = "needs_records", note
    return case_out(c)


def complete(caller, case_id: str, summary: str, request_id: str):
    """The case is complete: the turnaround clock starts (working days on the official calendar),
    and the expert the patient picked is asked, or the case waits for matching."""
    c = get_case(case_id)
    if c.status != "triage":
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    audit_read(caller, c, "opinion_case", c.case_id, request_id)
    now = clock.now()
    deadline = workdays.deadline_after(now, get_settings().opinion_turnaround_workdays)
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.status.set("matching"), Case.queue.set("matching"), Case.summary.set(summary),
                                  Case.completed_at.set(now), Case.deadline_at.set(deadline),
                                  Case.records_note.remove()],
                      condition=Case.status == "triage")
            timers.schedule(DEADLINE_TIMER, deadline, {"case_id": c.case_id}, key=c.case_id, tx=tx)
            emit(tx, "opinion.completed", payload(c, deadline_at=deadline.isoformat()))
    except TransactWriteError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    c = get_case(case_id)
    if c.requested_expert_id:
        e = get_expert(c.requested_expert_id)
        if e is not None and _can_take(e, c):
            try:
                _assign(c, e)
            except Conflict:
                logger.info("picked expert could not take the case; operator matches", extra={"case_id": c.case_id})
    return case_out(get_case(case_id))


# --- matching --------------------------------------------------------------------------------

def _can_take(e: Expert, c: Case) -> bool:
    return (bool(e.listed) and bool(e.available) and int(e.open_cases or 0) < int(e.max_open)
            and e.doctor_id not in (c.tried or []) and e.doctor_id != c.account_id)


def best_expert(c: Case) -> Expert | None:
    """By specialty, then the lightest relative load (1 Query + 1 BatchGetItem)."""
    ids = [r.doctor_id for r in ExpertSpecialty.query(c.specialty, limit=CANDIDATES)]
    if not ids:
        return None
    fits = [e for e in Expert.batch_get(ids) if _can_take(e, c)]
    fits.sort(key=lambda e: (int(e.open_cases or 0) / int(e.max_open), int(e.open_cases or 0), e.doctor_id))
    return fits[0] if fits else None


def assign(caller, case_id: str, expert_id: str | None):
    c = get_case(case_id)
    if c.status != "matching":
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    if expert_id:
        e = get_expert(expert_id)
        if e is None or not _can_take(e, c):
            raise Unprocessable("this expert cannot take the case (not offering, unavailable, full, or asked "
                                "before)", code="expert_unavailable")
    else:
        e = best_expert(c)
        if e is None:
            raise Unprocessable("no available expert for this specialty", code="no_expert")
    _assign(c, e)
    return case_out(get_case(case_id), e)


def _assign(c: Case, e: Expert) -> None:
    now = clock.now()
    attempt = int(c.attempt or 0) + 1
    respond_by = now + timedelta(hours=get_settings().opinion_respond_hours)
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.status.set("assigned"), Case.queue.remove(), Case.holder_id.set(e.doctor_id),
                                  Case.attempt.set(attempt), Case.tried.set(list(c.tried or []) + [e.doctor_id]),
                                  Case.assigned_at.set(now), Case.respond_by.set(respond_by)],
                      condition=(Case.status == "matching") & Case.holder_id.does_not_exist()
                      & (Case.attempt == int(c.attempt or 0)))
            tx.update(Expert(e.doctor_id), actions=[Expert.open_cases.add(1)],
                      condition=(Expert.open_cases < Expert.max_open) & (Expert.available == True))  # noqa: E712
            timers.schedule(RESPOND_TIMER, respond_by, {"case_id": c.case_id, "attempt": attempt},
                            key=f"{c.case_id}#{attempt}", tx=tx)
            emit(tx, "opinion.assigned", {**payload(c), "expert_id": e.doctor_id, "attempt": attempt,
                                          "respond_by": respond_by.isoformat()})
    except TransactWriteError:
        raise Conflict("the case or the expert changed meanwhile", code="invalid_state")


def accept(caller, case_id: str):
    c, _ = visible_case(caller, case_id, allow=("holder",))
    if c.status != "assigned":
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    now = clock.now()
    if c.respond_by is not None and now >= c.respond_by:
        # the respond timer is due from respond_by on, but its sweep may run later: the case is
        # about to be re-matched or refunded, so the expert can no longer take it
        raise Conflict("the time to accept this case has passed", code="response_window_over")
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.status.set("accepted"), Case.accepted_at.set(now),
                                  Case.expert_id.set(caller.account_id)],
                      condition=(Case.status == "assigned") & (Case.holder_id == caller.account_id))
            timers.cancel(timers.timer_id_for(RESPOND_TIMER, f"{c.case_id}#{int(c.attempt)}"), tx=tx)
            emit(tx, "opinion.accepted", payload(c))
    except TransactWriteError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    return case_out(get_case(case_id), get_expert(caller.account_id))


def decline(caller, case_id: str, reason: str | None):
    c, _ = visible_case(caller, case_id, allow=("holder",))
    if c.status != "assigned":
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    if not _release(c, caller.account_id, "declined"):
        raise Conflict("the case changed meanwhile", code="invalid_state")
    return {"ok": True}


def _release(c: Case, expert_id: str, why: str) -> bool:
    """The holder lets go before accepting (declined, or no answer in time): back to matching;
    the ``opinion.declined`` consumer re-matches or refunds."""
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.status.set("matching"), Case.queue.set("matching"), Case.holder_id.remove(),
                                  Case.respond_by.remove()],
                      condition=(Case.status == "assigned") & (Case.holder_id == expert_id)
                      & (Case.attempt == int(c.attempt)))
            tx.update(Expert(expert_id), actions=[Expert.open_cases.add(-1)])
            if why == "declined":
                timers.cancel(timers.timer_id_for(RESPOND_TIMER, f"{c.case_id}#{int(c.attempt)}"), tx=tx)
            emit(tx, "opinion.declined", {**payload(c), "expert_id": expert_id, "why": why,
                                          "attempt": int(c.attempt)})
    except TransactWriteError:
        return False
    return True


@consumer(f"timer.{RESPOND_TIMER}")
def _on_respond_timer(event_id: str, p: dict) -> None:
    c = get_case(p["case_id"])
    if c.status == "assigned" and int(c.attempt) == int(p["attempt"]) and c.holder_id:
        _release(c, c.holder_id, "timeout")


@consumer("opinion.declined")
def _rematch(event_id: str, p: dict) -> None:
    """Ask the next expert by specialty and load; after the last allowed one, a full refund."""
    from . import money

    c = get_case(p["case_id"])
    if c.status != "matching" or int(c.attempt) != int(p["attempt"]):
        return  # already re-matched, refunded or assigned by an operator
    e = best_expert(c) if int(c.attempt) < get_settings().opinion_max_experts else None
    if e is not None:
        try:
            _assign(c, e)
            return
        except Conflict:
            c = get_case(p["case_id"])
            if c.status != "matching":
                return
    money.refund_case(c, "no_expert", "没有专家接诊，全额退款")
