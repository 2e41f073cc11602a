"""QR binding (患者报到): only patients a doctor has seen offline can reach that doctor online.

State machine: pending → active → ended; pending → rejected; active ⇄ blocked (by the doctor).
At most one live binding per (doctor, profile) is enforced by a conditional write on
``BindingPair`` in the same transaction as the binding and its outbox event.

Used by other domains: ``get_active_binding``, ``is_active``, ``get_binding_for_participant``,
``group_members``, ``follow_up_settings``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pynamodb.exceptions import TransactWriteError

from chalicelib.accounts import service as accounts
from chalicelib.core import audit, clock, ratelimit
from chalicelib.core.config import get_settings
from chalicelib.core.crypto import blind_index, seal, unseal
from chalicelib.core.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page
from chalicelib.doctors import service as doctors

if TYPE_CHECKING:
    from chalicelib.doctors.models import Doctor

from . import codes, consents
from .models import Binding, BindingPair, DoctorCode, DoctorSettings
from .schemas import (
    BindingDetail,
    BindingOut,
    CodeInfo,
    ConsentOut,
    FollowUpSettings,
    LiveCode,
    ScanRequest,
    ScanResult,
    SlipCreate,
    StoredCode,
)

SCANS_PER_HOUR = 20
SCANS_PER_CODE_PER_MIN = 30
PENDING_PER_DAY = 5
LIVE_STATES = ("pending", "active", "blocked")
TITLES_ZH = {"chief": "主任医师", "associate_chief": "副主任医师", "attending": "主治医师", "resident": "住院医师"}


# --- what other domains use ------------------------------------------------------------------

def _pair_key(doctor_id: str, profile_id: str) -> str:
    return f"{doctor_id}#{profile_id}"


def get_active_binding(doctor_id: str, profile_id: str) -> Binding | None:
    try:
        pair = BindingPair.get(_pair_key(doctor_id, profile_id))
    except BindingPair.DoesNotExist:
        return None
    if pair.status != "active":
        return None
    b = Binding.get(pair.binding_id)
    return b if b.status == "active" else None


def is_active(doctor_id: str, profile_id: str) -> bool:
    return get_active_binding(doctor_id, profile_id) is not None


def group_members(doctor_id: str, group: str) -> list[Binding]:
    return [b for b in Binding.by_doctor.query(doctor_id, Binding.status_key.startswith("active#"),
                                               filter_condition=Binding.groups.contains(group))]


def _group_filter(groups: list[str] | None):
    filt = None
    for g in groups or []:
        c = Binding.groups.contains(g)
        filt = c if filt is None else (filt | c)
    return filt


def active_binding_ids_page(doctor_id: str, groups: list[str] | None, cursor: str | None,
                            limit: int = 1000) -> Page:
    """Internal, for messaging's group send: one Query page of the ids of the doctor's active
    bindings, only those in any of ``groups`` when given. Blocked, ended and pending never appear."""
    page = query_page(Binding, Binding.by_doctor.query, doctor_id, Binding.status_key.startswith("active#"),
                      filter_condition=_group_filter(groups), limit=limit, cursor=cursor)
    return Page([b.binding_id for b in page.items], page.next_cursor)


def count_active(doctor_id: str, groups: list[str] | None) -> int:
    """Internal: how many active bindings ``active_binding_ids_page`` would list (Query, Select=COUNT)."""
    return Binding.by_doctor.count(doctor_id, Binding.status_key.startswith("active#"),
                                   filter_condition=_group_filter(groups))


def follow_up_settings(doctor_id: str) -> tuple[int, int, int]:
    s = _settings(doctor_id)
    return int(s.free_days), int(s.free_messages), int(s.visit_window_days)


def get_binding(binding_id: str) -> Binding:
    """Internal, for other domains acting on this domain's events (not on a user's behalf, so
    no caller to authorize): the binding, or 404."""
    try:
        return Binding.get(binding_id)
    except Binding.DoesNotExist:
        raise NotFound("binding not found")


def get_binding_for_participant(caller, binding_id: str) -> Binding:
    """The binding if the caller is its doctor, the account managing its profile, or an admin."""
    b = get_binding(binding_id)
    if caller.is_admin or caller.account_id in (b.doctor_id, b.patient_account_id):
        return b
    raise NotFound("binding not found")


# --- shapes ----------------------------------------------------------------------------------

def binding_out(b: Binding) -> BindingOut:
    return BindingOut(binding_id=b.binding_id, doctor_id=b.doctor_id, profile_id=b.profile_id,
                      patient_name=b.patient_name, status=b.status, code_kind=b.code_kind, groups=list(b.groups or []),
                      requested_at=clock.iso(b.requested_at), activated_at=clock.iso(b.activated_at),
                      ended_at=clock.iso(b.ended_at), free_until=clock.iso(b.free_until),
                      free_messages=int(b.free_messages or 0), reject_reason=b.reject_reason)


def binding_detail(b: Binding) -> BindingDetail:
    return BindingDetail(**binding_out(b).model_dump(), patient_account_id=b.patient_account_id,
                         visit_date=b.visit_date, visit_type=b.visit_type, hospital=b.hospital,
                         diagnosis=unseal(b.diagnosis_sealed) if b.diagnosis_sealed else None,
                         attachment_ids=list(b.attachment_ids or []), consent_version=b.consent_version,
                         consent_at=clock.iso(b.consent_at))


def _audit_read(caller, bindings: list[Binding], request_id: str) -> None:
    """One audit record per binding whose evidence (health data) the caller read."""
    if not bindings:
        return
    with audit.AuditRecord.batch_write() as batch:
        for b in bindings:
            batch.save(audit.audit_record(caller=caller, subject_profile_id=b.profile_id, action="read",
                                          object_type="binding", object_id=b.binding_id, request_id=request_id))


def _event_payload(b: Binding) -> dict:
    payload: dict[str, str | int] = {"binding_id": b.binding_id, "doctor_id": b.doctor_id,
                                     "patient_account_id": b.patient_account_id, "profile_id": b.profile_id}
    if b.status == "active":
        payload.update(free_until=b.free_until.isoformat(), free_messages=int(b.free_messages))
    return payload


# --- doctor codes ----------------------------------------------------------------------------

def _settings(doctor_id: str) -> DoctorSettings:
    try:
        return DoctorSettings.get(doctor_id)
    except DoctorSettings.DoesNotExist:
        return DoctorSettings(doctor_id)


def _url(code: str) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/b/{code}"


def _stored_out(c: DoctorCode) -> StoredCode:
    return StoredCode(code=c.code, kind=c.kind, url=_url(c.code), status=_effective_status(c), label=c.label,
                      created_at=clock.iso(c.created_at), expires_at=clock.iso(c.expires_at))


def _effective_status(c: DoctorCode) -> str:
    if c.status == "active" and c.expires_at is not None and c.expires_at <= clock.now():
        return "expired"
    return c.status


def live_code(caller) -> LiveCode:
    doctors.get_verified(caller.account_id)
    s = _settings(caller.account_id)
    code, exp = codes.issue_live(caller.account_id, int(s.free_days), int(s.free_messages), int(s.visit_window_days))
    return LiveCode(code=code, url=_url(code), expires_in=codes.LIVE_TTL_S,
                    expires_at=clock.iso(clock.now() + timedelta(seconds=codes.LIVE_TTL_S)))


def rotate_clinic_card(caller) -> StoredCode:
    """Issue a new clinic card; the previous one stops working at once."""
    doctors.get_verified(caller.account_id)
    s = _settings(caller.account_id)
    now = clock.now()
    card = DoctorCode(codes.new_stored_code("clinic"), doctor_id=caller.account_id, kind="clinic", status="active",
                      created_at=now)
    with transaction() as tx:
        tx.save(card, condition=DoctorCode.code.does_not_exist())
        if s.clinic_code:
            tx.update(DoctorCode(s.clinic_code), actions=[DoctorCode.status.set("revoked")],
                      condition=DoctorCode.code.exists())
        tx.update(DoctorSettings(caller.account_id), actions=[DoctorSettings.clinic_code.set(card.code)])
    return _stored_out(card)


def get_clinic_card(caller) -> StoredCode:
    s = _settings(caller.account_id)
    if not s.clinic_code:
        raise NotFound("no clinic card yet")
    return _stored_out(DoctorCode.get(s.clinic_code))


def revoke_clinic_card(caller) -> StoredCode:
    s = _settings(caller.account_id)
    if not s.clinic_code:
        raise NotFound("no clinic card yet")
    with transaction() as tx:
        tx.update(DoctorCode(s.clinic_code), actions=[DoctorCode.status.set("revoked")],
                  condition=DoctorCode.doctor_id == caller.account_id)
        tx.update(DoctorSettings(caller.account_id), actions=[DoctorSettings.clinic_code.remove()])
    return _stored_out(DoctorCode.get(s.clinic_code))


def create_slip(caller, body: SlipCreate) -> StoredCode:
    doctors.get_verified(caller.account_id)
    now = clock.now()
    slip = DoctorCode(codes.new_stored_code("slip"), doctor_id=caller.account_id, kind="slip", status="active",
                      label=body.label, created_at=now, expires_at=now + timedelta(hours=body.valid_hours),
                      phone_index=blind_index(body.patient_phone, "phone") if body.patient_phone else None,
                      purge_at=now + timedelta(days=30))
    slip.save(condition=DoctorCode.code.does_not_exist())
    return _stored_out(slip)


def owned_code(caller, code: str) -> str:
    """The code, if the calling doctor issued it (QR images are only rendered for the owner)."""
    live = codes.verify_live(code)
    if live is not None:
        if live["d"] == caller.account_id:
            return code
        raise NotFound("code not found")
    try:
        c = DoctorCode.get(code)
    except (DoctorCode.DoesNotExist, ValueError):
        raise NotFound("code not found")
    if c.doctor_id != caller.account_id or _effective_status(c) != "active":
        raise NotFound("code not found")
    return code


def resolve_code(code: str) -> tuple[str, Doctor]:
    """(kind, doctor) for a currently valid code, else NotFound. Used by the landing page."""
    live = codes.verify_live(code)
    if live is not None:
        return "live", doctors.get_verified(live["d"])
    if codes.signed_live(code) is not None:
        raise NotFound("this code has expired", code="code_expired")
    try:
        c = DoctorCode.get(code)
    except (DoctorCode.DoesNotExist, ValueError):
        raise NotFound("this code is not valid", code="code_invalid")
    status = _effective_status(c)
    if status == "expired":
        raise NotFound("this code has expired", code="code_expired")
    if status != "active":
        raise NotFound("this code was revoked", code="code_invalid")
    return c.kind, doctors.get_verified(c.doctor_id)


def consent_text(kind: str) -> ConsentOut:
    c = consents.current(kind)
    if c is None:
        raise NotFound("no such consent", code="consent_not_found")
    return ConsentOut(kind=c.kind, version=c.version, title=c.title, text=c.text)


def code_info(code: str) -> CodeInfo:
    kind, d = resolve_code(code)
    return CodeInfo(kind=kind, doctor=doctors.card(d))


# --- scan → binding --------------------------------------------------------------------------

def _check_visit(body: ScanRequest, window_days: int) -> None:
    today = clock.now().astimezone(clock.SHANGHAI).date()
    if body.visit_date > today:
        raise Unprocessable("the visit date cannot be in the future", code="visit_in_future")
    if body.visit_date < today - timedelta(days=window_days):
        raise Unprocessable(f"online follow-up is for visits in the last {window_days} days",
                            code="visit_too_old")
    if not body.consent.accepted:
        raise Unprocessable("consent to share health data with this doctor is required", code="consent_required")
    required = consents.required("binding").version
    if body.consent.version != required:
        raise Unprocessable(f"the consent text has changed: show GET /v1/consents/binding (version {required}) "
                            "and send its version once the patient accepts", code="consent_outdated")


def _invalid_code(caller) -> NotFound:
    try:
        ratelimit.hit("bind-invalid", caller.account_id, limit=10, window_s=3600)
    except TooManyRequests:
        logger.warning("binding code guessing suspected", extra={"account_id": caller.account_id})
        raise
    return NotFound("this code is not valid or has expired", code="invalid_code")


def scan(caller, body: ScanRequest, request_id: str) -> tuple[int, ScanResult]:
    """Bind the caller's profile to the doctor behind a scanned code.

    Live code → active at once; clinic card → pending (the doctor approves); visit slip →
    active and the slip is consumed. Re-scanning while already bound returns the binding (200).
    """
    if caller.role != "patient":
        raise Forbidden("only patient accounts can bind to a doctor", code="wrong_role")
    ratelimit.hit("bind-scan", caller.account_id, limit=SCANS_PER_HOUR, window_s=3600)
    profile = accounts.get_profile(caller.account_id, body.profile_id)
    live = codes.verify_live(body.code)
    slip: DoctorCode | None = None
    if live is not None:
        kind, doctor_id = "live", live["d"]
        free_days, free_messages, window = live["f"], live["m"], live["w"]
    else:
        try:
            stored = DoctorCode.get(body.code)
        except (DoctorCode.DoesNotExist, ValueError):
            raise _invalid_code(caller)
        if _effective_status(stored) != "active":
            if stored.kind == "slip" and stored.status == "used":
                raise Conflict("this visit slip has already been used", code="code_used")
            raise _invalid_code(caller)
        kind, doctor_id = stored.kind, stored.doctor_id
        free_days, free_messages, window = follow_up_settings(doctor_id)
        if kind == "slip":
            slip = stored
            if slip.phone_index and slip.phone_index != accounts.phone_index_of(caller.account_id):
                raise _invalid_code(caller)
    ratelimit.hit("bind-code", body.code[-24:], limit=SCANS_PER_CODE_PER_MIN, window_s=60)
    _check_visit(body, int(window))
    if kind == "clinic":
        ratelimit.hit("bind-pending", caller.account_id, limit=PENDING_PER_DAY, window_s=86400,
                      message="too many pending binding requests today")

    now = clock.now()
    status = "pending" if kind == "clinic" else "active"
    b = Binding(new_id(), doctor_id=doctor_id, patient_account_id=caller.account_id, profile_id=profile.profile_id,
                status=status, code_kind=kind, patient_name=profile.real_name,
                patient_name_lc=profile.real_name.lower(), visit_date=body.visit_date.isoformat(),
                visit_type=body.visit_type, hospital=body.hospital,
                diagnosis_sealed=seal(body.diagnosis) if body.diagnosis else None,
                attachment_ids=body.attachment_ids, consent_version=body.consent.version, consent_at=now,
                groups=[], requested_at=now, free_messages=0)
    b.status_key = f"{status}#{b.binding_id}"
    if status == "active":
        b.activated_at = now
        b.free_until = now + timedelta(days=int(free_days))
        b.free_messages = int(free_messages)
    pair_key = _pair_key(doctor_id, profile.profile_id)
    try:
        with transaction() as tx:
            tx.save(BindingPair(pair_key, binding_id=b.binding_id, status=status),
                    condition=BindingPair.pair_key.does_not_exist() | BindingPair.status.is_in("ended", "rejected"))
            tx.save(b, condition=Binding.binding_id.does_not_exist())
            if slip is not None:
                tx.update(slip, actions=[DoctorCode.status.set("used"), DoctorCode.used_by_binding.set(b.binding_id)],
                          condition=DoctorCode.status == "active")
            emit(tx, "binding.activated" if status == "active" else "binding.requested", _event_payload(b))
            audit.record(tx=tx, caller=caller, subject_profile_id=profile.profile_id, action="create",
                         object_type="binding", object_id=b.binding_id, request_id=request_id)
    except TransactWriteError:
        return _rescan(caller, pair_key, slip)
    logger.info("binding created", extra={"binding_id": b.binding_id, "status": status, "kind": kind})
    return 201, ScanResult(**binding_out(b).model_dump(), created=True)


def _rescan(caller, pair_key: str, slip: DoctorCode | None) -> tuple[int, ScanResult]:
    """The scan's transaction was refused: explain why (or return the existing binding)."""
    if slip is not None:
        fresh = DoctorCode.get(slip.code, consistent_read=True)
        if fresh.status != "active":
            raise Conflict("this visit slip has already been used", code="code_used")
    try:
        pair = BindingPair.get(pair_key, consistent_read=True)
    except BindingPair.DoesNotExist:
        raise Conflict("the binding could not be created, please retry", code="retry")
    existing = Binding.get(pair.binding_id)
    if pair.status == "blocked":
        raise Unprocessable("the doctor is not accepting online follow-up from this patient", code="binding_blocked")
    return 200, ScanResult(**binding_out(existing).model_dump(), created=False)


# --- lifecycle -------------------------------------------------------------------------------

def _transition(b: Binding, to: str, event: str, extra_actions=(), caller=None, request_id: str = "") -> Binding:
    """Move a binding and its pair in one transaction with the event; 409 if someone moved it first."""
    frm = b.status
    b.status = to
    b.status_key = f"{to}#{b.binding_id}"
    actions = [Binding.status.set(to), Binding.status_key.set(b.status_key), *extra_actions]
    try:
        with transaction() as tx:
            tx.update(Binding(b.binding_id), actions=actions, condition=Binding.status == frm)
            pair = BindingPair(_pair_key(b.doctor_id, b.profile_id))
            tx.update(pair, actions=[BindingPair.status.set(to)], condition=BindingPair.binding_id == b.binding_id)
            emit(tx, event, _event_payload(b))
            if caller is not None:
                audit.record(tx=tx, caller=caller, subject_profile_id=b.profile_id, action="update",
                             object_type="binding", object_id=b.binding_id, request_id=request_id)
    except TransactWriteError:
        raise Conflict(f"the binding is no longer {frm}", code="invalid_state")
    return Binding.get(b.binding_id)


def _doctors_binding(caller, binding_id: str) -> Binding:
    b = get_binding_for_participant(caller, binding_id)
    if b.doctor_id != caller.account_id:
        raise NotFound("binding not found")
    return b


def approve(caller, binding_id: str, request_id: str) -> BindingOut:
    b = _doctors_binding(caller, binding_id)
    if b.status != "pending":
        raise Conflict("only a pending request can be approved", code="invalid_state")
    free_days, free_messages, _ = follow_up_settings(caller.account_id)
    now = clock.now()
    b.activated_at, b.free_until, b.free_messages = now, now + timedelta(days=free_days), free_messages
    b = _transition(b, "active", "binding.activated",
                    [Binding.activated_at.set(now), Binding.free_until.set(b.free_until),
                     Binding.free_messages.set(free_messages)], caller, request_id)
    return binding_out(b)


def reject(caller, binding_id: str, reason: str, request_id: str) -> BindingOut:
    b = _doctors_binding(caller, binding_id)
    if b.status != "pending":
        raise Conflict("only a pending request can be rejected", code="invalid_state")
    return binding_out(_transition(b, "rejected", "binding.rejected", [Binding.reject_reason.set(reason),
                                                                        Binding.ended_at.set(clock.now())],
                                   caller, request_id))


def block(caller, binding_id: str, request_id: str) -> BindingOut:
    b = _doctors_binding(caller, binding_id)
    if b.status != "active":
        raise Conflict("only an active binding can be blocked", code="invalid_state")
    return binding_out(_transition(b, "blocked", "binding.blocked", (), caller, request_id))


def unblock(caller, binding_id: str, request_id: str) -> BindingOut:
    b = _doctors_binding(caller, binding_id)
    if b.status != "blocked":
        raise Conflict("only a blocked binding can be unblocked", code="invalid_state")
    return binding_out(_transition(b, "active", "binding.unblocked", (), caller, request_id))


def end(caller, binding_id: str, request_id: str) -> BindingOut:
    """The patient ends a binding (pending requests are withdrawn the same way)."""
    b = get_binding_for_participant(caller, binding_id)
    if b.patient_account_id != caller.account_id:
        raise NotFound("binding not found")
    if b.status not in ("active", "pending"):
        raise Conflict("only an active or pending binding can be ended", code="invalid_state")
    return binding_out(_transition(b, "ended", "binding.ended", [Binding.ended_at.set(clock.now())],
                                   caller, request_id))


def set_groups(caller, binding_id: str, groups: list[str]) -> BindingOut:
    b = _doctors_binding(caller, binding_id)
    cleaned = sorted({g.strip() for g in groups if g.strip()})
    if any(len(g) > 20 for g in cleaned):
        raise Unprocessable("a group name has at most 20 characters", code="invalid_group")
    b.update(actions=[Binding.groups.set(cleaned)])
    return binding_out(b)


# --- reads -----------------------------------------------------------------------------------

def detail(caller, binding_id: str, request_id: str) -> BindingDetail:
    b = get_binding_for_participant(caller, binding_id)
    _audit_read(caller, [b], request_id)
    return binding_detail(b)


def my_doctors(caller, status: str, limit: int | None, cursor: str | None) -> Page:
    page = query_page(Binding, Binding.by_patient.query, caller.account_id, Binding.status_key.startswith(f"{status}#"),
                      limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    cards = doctors.briefs(b.doctor_id for b in page.items)  # one BatchGetItem for the page
    return Page([binding_out(b).model_copy(update={"doctor": cards.get(b.doctor_id)}) for b in page.items],
                page.next_cursor)


def patients(caller, group: str | None, q: str | None, limit: int | None, cursor: str | None) -> Page:
    """The doctor's active patients: one Query (group and name are filters inside it)."""
    filt = None
    if group:
        filt = Binding.groups.contains(group)
    if q:
        name = Binding.patient_name_lc.contains(q.lower())
        filt = name if filt is None else (filt & name)
    page = query_page(Binding, Binding.by_doctor.query, caller.account_id, Binding.status_key.startswith("active#"),
                      filter_condition=filt, limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    return Page([binding_out(b) for b in page.items], page.next_cursor)


def doctor_bindings_for_operator(caller, doctor_id: str, status: str, limit: int | None, cursor: str | None,
                                 request_id: str) -> Page:
    """An operator's view of one doctor's bindings: one Query, and every patient shown is audited
    (who is whose patient is health data)."""
    page = query_page(Binding, Binding.by_doctor.query, doctor_id, Binding.status_key.startswith(f"{status}#"),
                      limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    _audit_read(caller, page.items, request_id)
    return Page([binding_out(b) for b in page.items], page.next_cursor)


def pending_requests(caller, request_id: str, limit: int | None = None, cursor: str | None = None) -> Page:
    page = query_page(Binding, Binding.by_doctor.query, caller.account_id, Binding.status_key.startswith("pending#"),
                      limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    _audit_read(caller, page.items, request_id)
    return Page([binding_detail(b) for b in page.items], page.next_cursor)


def get_settings_for(caller) -> FollowUpSettings:
    s = _settings(caller.account_id)
    return FollowUpSettings(free_days=int(s.free_days), free_messages=int(s.free_messages),
                            visit_window_days=int(s.visit_window_days))


def update_settings(caller, free_days: int, free_messages: int, visit_window_days: int) -> FollowUpSettings:
    doctors.get_verified(caller.account_id)
    DoctorSettings(caller.account_id).update(actions=[DoctorSettings.free_days.set(free_days),
                                                      DoctorSettings.free_messages.set(free_messages),
                                                      DoctorSettings.visit_window_days.set(visit_window_days)])
    return get_settings_for(caller)

