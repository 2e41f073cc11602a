"""What every part of the second-opinion service shares: reading a case, who may see what,
response shapes, counters and event payloads (ids only, never health data)."""

from __future__ import annotations

from pynamodb.transactions import TransactWrite

from chalicelib.core import audit, clock
from chalicelib.core.config import get_settings
from chalicelib.core.errors import NotFound

from .models import Case, Counter, Expert
from .schemas import CaseOut, ExpertOut

HELD = ("assigned", "accepted")  # states in which an expert holds the case (and sees its records)
OPEN = ("triage", "needs_records", "matching", "assigned", "accepted")  # paid, no report yet
COUNTER = "all"


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


def get_expert(doctor_id: str) -> Expert | None:
    try:
        return Expert.get(doctor_id, consistent_read=True)
    except Expert.DoesNotExist:
        return None


def side(caller, c: Case) -> str:
    """patient | holder (the expert now holding it) | author (the expert who reported) | admin;
    anyone else gets 404 (another patient's case is never revealed)."""
    if caller.is_admin:
        return "admin"
    if caller.account_id == c.account_id and caller.role == "patient":
        return "patient"
    if caller.role == "doctor" and c.holder_id == caller.account_id and c.status in HELD:
        return "holder"
    if caller.role == "doctor" and c.expert_id == caller.account_id and c.status == "reported":
        return "author"
    raise NotFound("case not found")


def visible_case(caller, case_id: str, *, allow=("patient", "holder", "author", "admin")) -> tuple[Case, str]:
    c = get_case(case_id)
    s = side(caller, c)
    if s not in allow:
        raise NotFound("case not found")
    return c, s


def audit_read(caller, c: Case, object_type: str, object_id: str, request_id: str) -> None:
    """Every read of the case's health data by someone other than the patient is audited."""
    if caller.account_id == c.account_id:
        return
    audit.record(caller=caller, subject_profile_id=c.profile_id, action="read", object_type=object_type,
                 object_id=object_id, request_id=request_id)


def expert_out(e: Expert) -> ExpertOut:
    return ExpertOut(doctor_id=e.doctor_id, name=e.name, hospital=e.hospital, department=e.department, title=e.title,
                     specialties=list(e.specialties or []), price_fen=int(e.price_fen), available=bool(e.available),
                     max_open=int(e.max_open), open_cases=int(e.open_cases or 0), bio=e.bio)


def case_out(c: Case, expert: Expert | None = None) -> CaseOut:
    s = get_settings()
    left = 0
    if c.status == "reported" and c.published_at is not None:
        from datetime import timedelta

        if clock.now() < c.published_at + timedelta(days=s.opinion_followup_days):
            left = max(s.opinion_followups_max - int(c.followups or 0), 0)
    return CaseOut(
        case_id=c.case_id, profile_id=c.profile_id, patient_name=c.patient_name, status=c.status, reason=c.reason,
        questions=list(c.questions), diagnosis=c.diagnosis, treating_hospital=c.treating_hospital,
        treating_doctor=c.treating_doctor, specialty=c.specialty, history=dict(c.history or {}),
        price_fen=int(c.price_fen), order_id=c.order_id, requested_expert_id=c.requested_expert_id,
        expert=expert_out(expert) if expert else None, records_note=c.records_note, summary=c.summary,
        completed_at=clock.iso(c.completed_at), deadline_at=clock.iso(c.deadline_at), respond_by=clock.iso(c.respond_by),
        accepted_at=clock.iso(c.accepted_at), published_at=clock.iso(c.published_at), followups_left=left,
        refund_reason=c.refund_reason, outcome_requested=bool(c.outcome_requested), created_at=clock.iso(c.created_at))


def payload(c: Case, **extra) -> dict:
    """Event payloads carry recipients' account ids and object ids only."""
    return {"case_id": c.case_id, "patient_account_id": c.account_id, "profile_id": c.profile_id,
            "expert_id": c.holder_id or c.expert_id, **extra}


def count(tx: TransactWrite, **fields: int) -> None:
    """Add to the operator counters inside the transaction that makes the change."""
    tx.update(Counter(COUNTER), actions=[getattr(Counter, k).add(v) for k, v in fields.items()])
