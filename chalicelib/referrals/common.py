"""What every part of the referral service shares: reading a case, who may see it, response
shapes and event payloads (ids only, never health data)."""

from __future__ import annotations

from datetime import date

from chalicelib.core import audit, clock
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.pagination import Page

from .models import Case, Hospital, Surgeon
from .schemas import (
    ChecklistItem,
    ContactOut,
    HospitalBrief,
    HospitalOut,
    Paperwork,
    ReferralCaseOut,
    SurgeonOut,
    TravelWindowOut,
    WindowOut,
)

HELD = ("proposed", "accepted", "confirmed", "done")  # a surgeon holds the case (and sees it)
BEFORE_CONFIRMATION = ("awaiting_consent", "awaiting_payment", "triage", "matching", "proposed", "accepted")
PAID_OPEN = ("triage", "matching", "proposed", "accepted", "confirmed")


class System:
    """The caller identity of event consumers and timers."""

    account_id = "system"
    role = "admin"
    is_admin = True


def get_case(case_id: str, consistent: bool = True) -> Case:
    try:
        return Case.get(case_id, consistent_read=consistent)
    except Case.DoesNotExist:
        raise NotFound("case not found")


def get_surgeon(doctor_id: str | None) -> Surgeon | None:
    if not doctor_id:
        return None
    try:
        return Surgeon.get(doctor_id, consistent_read=True)
    except Surgeon.DoesNotExist:
        return None


def get_hospital(hospital_id: str | None) -> Hospital | None:
    if not hospital_id:
        return None
    try:
        return Hospital.get(hospital_id)
    except Hospital.DoesNotExist:
        return None


def side(caller, c: Case) -> str:
    """patient | referrer | surgeon (while holding it) | admin; anyone else gets 404."""
    if caller.is_admin:
        return "admin"
    if caller.role == "patient" and caller.account_id == c.account_id:
        return "patient"
    if caller.role == "doctor" and c.referrer_id and caller.account_id == c.referrer_id:
        return "referrer"
    if caller.role == "doctor" and c.surgeon_id == caller.account_id and c.status in HELD:
        return "surgeon"
    raise NotFound("case not found")


def visible_case(caller, case_id: str, *, allow=("patient", "referrer", "surgeon", "admin")) -> tuple[Case, str]:
    c = get_case(case_id)
    s = side(caller, c)
    if s not in allow:
        raise NotFound("case not found")
    return c, s


def need(c: Case, *states: str) -> None:
    if c.status not in states:
        raise Conflict(f"the case is {c.status}", code="invalid_state")


def audit_read(caller, c: Case, object_type: str, object_id: str, request_id: str) -> None:
    """Every read of the case's health data by someone other than the patient is audited."""
    if caller.account_id == c.account_id:
        return
    audit.record(caller=caller, subject_profile_id=c.profile_id, action="read", object_type=object_type,
                 object_id=object_id, request_id=request_id)


def surgeon_out(s: Surgeon) -> SurgeonOut:
    return SurgeonOut(doctor_id=s.doctor_id, name=s.name, hospital=s.hospital, department=s.department, title=s.title,
                      specialties=list(s.specialties or []), region_code=s.region_code,
                      windows=[TravelWindowOut(**w) for w in s.windows or []], available=bool(s.available),
                      max_open=int(s.max_open), open_cases=int(s.open_cases or 0))


def hospital_brief(h: Hospital) -> HospitalBrief:
    return HospitalBrief(hospital_id=h.hospital_id, name=h.name, level=h.level, region_name=h.region_name)


def hospital_out(h: Hospital) -> HospitalOut:
    return HospitalOut(hospital_id=h.hospital_id, name=h.name, level=h.level, region_code=h.region_code,
                       region_name=h.region_name, departments=list(h.departments or []),
                       contacts=[ContactOut(**x) for x in h.contacts or []],
                       windows=[WindowOut(**w) for w in h.windows or []], active=bool(h.active),
                       updated_at=clock.iso(h.updated_at))


def paperwork(c: Case) -> Paperwork:
    return Paperwork(invitation=bool(c.invitation_doc), home_approval=bool(c.approval_doc),
                     patient_consent=bool(c.surgery_consent))


def case_out(c: Case, surgeon: Surgeon | None = None, hospital: Hospital | None = None) -> ReferralCaseOut:
    return ReferralCaseOut(
        case_id=c.case_id, profile_id=c.profile_id, patient_name=c.patient_name, submitted_by=c.submitted_by,
        referrer_id=c.referrer_id, status=c.status, diagnosis=c.diagnosis, operation=c.operation,
        specialty=c.specialty, urgency=c.urgency, region_code=c.region_code, window_from=c.window_from,
        window_to=c.window_to, notes=c.notes, fee_fen=int(c.fee_fen), order_id=c.order_id,
        surgeon=surgeon_out(surgeon) if surgeon else None, hospital=hospital_brief(hospital) if hospital else None,
        proposed_dates=[clock.iso(clock_parse(d)) for d in c.proposed_dates or []], paperwork=paperwork(c),
        surgery_at=clock.iso(c.surgery_at), checklist=[ChecklistItem(**i) for i in c.checklist or []],
        done_at=clock.iso(c.done_at), plan_id=c.plan_id if c.plan_status == "assigned" else None,
        plan_status=c.plan_status, cancel_cause=c.cancel_cause, cancel_reason=c.cancel_reason,
        refunded=bool(c.refunded), created_at=clock.iso(c.created_at))


def cases_page(page: Page) -> Page:
    """A page of cases with their surgeons and hospitals (at most two BatchGetItem per page)."""
    sids = sorted({c.surgeon_id for c in page.items if c.surgeon_id})
    hids = sorted({c.hospital_id for c in page.items if c.hospital_id})
    surgeons = {s.doctor_id: s for s in Surgeon.batch_get(sids)} if sids else {}
    hospitals = {h.hospital_id: h for h in Hospital.batch_get(hids)} if hids else {}
    return Page([case_out(c, surgeons.get(c.surgeon_id), hospitals.get(c.hospital_id)) for c in page.items],
                page.next_cursor)


def full_out(c: Case) -> ReferralCaseOut:
    return case_out(c, get_surgeon(c.surgeon_id), get_hospital(c.hospital_id))


def clock_parse(raw: str):
    from datetime import datetime

    return datetime.fromisoformat(raw)


def shanghai_date(dt) -> date:
    return dt.astimezone(clock.SHANGHAI).date()


def parties(c: Case, *extra: str | None) -> list[str]:
    """Everyone with an account who is part of the case now (the host hospital has none)."""
    return list(dict.fromkeys(a for a in (c.account_id, c.referrer_id, c.surgeon_id, *extra) if a))


def payload(c: Case, **extra) -> dict:
    """Event payloads carry recipients' account ids and object ids only."""
    return {"case_id": c.case_id, "patient_account_id": c.account_id, "profile_id": c.profile_id,
            "referrer_id": c.referrer_id, "surgeon_id": c.surgeon_id, "hospital_id": c.hospital_id,
            "parties": parties(c), **extra}
