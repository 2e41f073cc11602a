"""The doctor's demand view: open 加号 requests and, per day ahead, who wants to come."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.core import audit, clock

from .models import SlotRequest, WaitlistEntry
from .schemas import Demand, DemandDay
from .views import request_out


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
