"""The doctor's demand view: for each day and part of day asked, who wants to come (weighted
demand, distinct patients), what the doctor already offers (open sessions, free seats) and who
waits; plus a page of the open requests with the patients' names, reasons and attachments.

What it reads does not grow with the requests ever made:

- the per-day counters: one Query, at most one item per day shown (``DemandCounter``, moved in
  the transactions that open and close requests — see ``counters``);
- the doctor's open sessions starting in the days shown: one Query, each item is shown (their
  ``waiting`` counters give the waitlist; a session published before that counter existed has
  its waitlist counted by one Query of its own, until it passes);
- one page (``limit``) of open requests whose range starts by the last day shown, earliest
  first, and one BatchGetItem of their patients' names. With the default first day (today)
  every open request read overlaps the days shown; with a later first day, open requests that
  end before it are read and left out (bounded by the doctor's open requests, never by history).

No caps: every session in range is shown, and the request list pages with ``next_cursor``.
"""

from __future__ import annotations

from datetime import date, time, timedelta

from chalicelib.core import audit, clock, timers
from chalicelib.core.errors import BadRequest
from chalicelib.core.pagination import query_page

from .counters import PARTS, WEIGHT_UNIT, part_of
from .models import DemandCounter, Session, SlotRequest, WaitlistEntry
from .schemas import Demand, DemandDay, DemandQuery, DemandRequest, DemandSession, DemandSlot
from .timing import end_of_day, local, today
from .views import request_out

MAX_AHEAD_DAYS = 365  # how far ahead the first day shown may be


def demand(caller, q: DemandQuery, request_id: str) -> Demand:
    first = q.date_from or date.fromisoformat(today())
    if first.isoformat() < today():
        raise BadRequest("date_from must not be in the past", code="validation_error")
    if (first - date.fromisoformat(today())).days > MAX_AHEAD_DAYS:
        raise BadRequest(f"date_from is at most {MAX_AHEAD_DAYS} days ahead", code="validation_error")
    window = [(first + timedelta(days=i)).isoformat() for i in range(q.days)]
    last = window[-1]
    counts = {c.day: c for c in DemandCounter.query(caller.account_id, DemandCounter.day.between(window[0], last))}
    slots = _sessions_by_slot(caller.account_id, first, date.fromisoformat(last))
    page = query_page(SlotRequest, SlotRequest.by_doctor.query, caller.account_id,
                      SlotRequest.status_key.between("open#", f"open#{last}~"),
                      filter_condition=SlotRequest.date_to >= window[0], limit=q.limit, cursor=q.cursor)
    return Demand(date_from=window[0], date_to=last, days=[_day(d, counts.get(d), slots) for d in window],
                  open_requests=_with_names(caller, page.items, request_id), next_cursor=page.next_cursor)


def _sessions_by_slot(doctor_id: str, first: date, last: date) -> dict[tuple[str, str], list[DemandSession]]:
    lo = f"open#{timers.due_key(local(first, time(0)))}"
    hi = f"open#{timers.due_key(end_of_day(last))}"
    out: dict[tuple[str, str], list[DemandSession]] = {}
    for s in Session.by_doctor.query(doctor_id, Session.status_start.between(lo, hi)):
        used, cap = int(s.used or 0), int(s.capacity)
        waiting = int(s.waiting) if s.waiting is not None else WaitlistEntry.count(s.session_id)
        out.setdefault((s.local_date, part_of(s.starts_at)), []).append(DemandSession(
            session_id=s.session_id, starts_at=clock.iso(s.starts_at), ends_at=clock.iso(s.ends_at), capacity=cap,
            seats_taken=used, seats_left=max(0, cap - used), waitlisted=max(0, waiting), audience=s.audience,
            fee_fen=int(s.fee_fen)))
    return out


def _day(d: str, c: DemandCounter | None, slots: dict) -> DemandDay:
    parts, total_w = [], 0
    for p in PARTS:
        sessions = sorted(slots.get((d, p), []), key=lambda s: s.starts_at)
        w = int(getattr(c, f"w_{p}") or 0) if c is not None else 0
        n = int(getattr(c, f"n_{p}") or 0) if c is not None else 0
        total_w += max(0, w)
        parts.append(DemandSlot(part=p, weighted_demand=round(max(0, w) / WEIGHT_UNIT, 2), patients=max(0, n),
                                sessions=sessions, capacity=sum(s.capacity for s in sessions),
                                seats_left=sum(s.seats_left for s in sessions),
                                waitlisted=sum(s.waitlisted for s in sessions)))
    return DemandDay(date=d, requests=max(0, int(c.n or 0)) if c is not None else 0,
                     weighted_demand=round(total_w / WEIGHT_UNIT, 2),
                     waitlisted=sum(x.waitlisted for x in parts), seats_left=sum(x.seats_left for x in parts),
                     parts=parts)


def _with_names(caller, requests: list[SlotRequest], request_id: str) -> list[DemandRequest]:
    from chalicelib.accounts import service as accounts

    if not requests:
        return []
    names = accounts.profile_names((r.account_id, r.profile_id) for r in requests)
    with audit.AuditRecord.batch_write() as batch:  # the reasons are health data: one record per request read
        for r in requests:
            batch.save(audit.audit_record(caller=caller, subject_profile_id=r.profile_id, action="read",
                                          object_type="booking_request", object_id=r.request_id,
                                          request_id=request_id))
    return [DemandRequest(**request_out(r).model_dump(), patient_name=names.get((r.account_id, r.profile_id)))
            for r in requests]
