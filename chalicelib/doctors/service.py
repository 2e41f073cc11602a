"""Doctors rules: apply, operator verification, the public directory."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.accounts import service as accounts
from chalicelib.core import clock
from chalicelib.core.crypto import mask, seal
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.outbox import emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page
from chalicelib.core.timers import due_key

from . import directory as dir_keys
from .models import DirectoryEntry, Doctor
from .schemas import DirectoryQuery, DoctorApplication, DoctorApply, DoctorBrief, DoctorCard, DoctorUpdate


def card(d: Doctor | DirectoryEntry) -> DoctorCard:
    """A directory row (an entry: no bio) or a doctor's full card."""
    return DoctorCard(doctor_id=d.doctor_id, name=d.name, hospital=d.hospital, department=d.department,
                      city=d.city, title=d.title, specialties=list(d.specialties or []), bio=getattr(d, "bio", None))


def briefs(doctor_ids) -> dict[str, DoctorBrief]:
    """What list rows show of their doctors: one BatchGetItem for a whole page (≤ 100 ids), so a
    list costs its Query plus this one call, never a call per row."""
    ids = list(dict.fromkeys(i for i in doctor_ids if i))
    out: dict[str, DoctorBrief] = {}
    for start in range(0, len(ids), 100):
        for d in Doctor.batch_get(ids[start:start + 100],
                                  attributes_to_get=["doctor_id", "name", "title", "hospital", "department"]):
            out[d.doctor_id] = DoctorBrief(doctor_id=d.doctor_id, name=d.name, title=d.title, hospital=d.hospital,
                                           department=d.department)
    return out


def application(d: Doctor) -> DoctorApplication:
    return DoctorApplication(**card(d).model_dump(), status=d.status, licence_masked=d.licence_masked,
                             reject_reason=d.reject_reason, applied_at=clock.iso(d.applied_at),
                             verified_at=clock.iso(d.verified_at))


def apply(caller, body: DoctorApply) -> DoctorApplication:
    if caller.role == "admin":
        raise Conflict("operator accounts cannot apply as doctors", code="wrong_account")
    try:
        existing = Doctor.get(caller.account_id, consistent_read=True)
        if existing.status in ("pending", "verified"):
            raise Conflict(f"an application is already {existing.status}", code="application_exists")
    except Doctor.DoesNotExist:
        pass
    now = clock.now()
    d = Doctor(caller.account_id, name=body.name, hospital=body.hospital, department=body.department,
               city=body.city, title=body.title, specialties=body.specialties, bio=body.bio, licence_sealed=seal(body.licence_no),
               licence_masked=mask(body.licence_no, 2, 4), status="pending", applied_at=now,
               applied_at_key=due_key(now))
    try:
        with transaction() as tx:
            tx.save(d, condition=Doctor.doctor_id.does_not_exist() | (Doctor.status == "rejected"))
            emit(tx, "doctor.applied", {"doctor_id": d.doctor_id})
    except TransactWriteError:
        raise Conflict("an application is already pending or verified", code="application_exists")
    return application(d)


def my_application(caller) -> DoctorApplication:
    return application(_get(caller.account_id))


def _get(doctor_id: str) -> Doctor:
    try:
        return Doctor.get(doctor_id)
    except Doctor.DoesNotExist:
        raise NotFound("doctor not found")


def get_verified(doctor_id: str) -> Doctor:
    """A verified doctor or 404 (used by other domains, e.g. bindings)."""
    d = _get(doctor_id)
    if d.status != "verified":
        raise NotFound("doctor not found")
    return d


def update_profile(caller, body: DoctorUpdate) -> DoctorApplication:
    d = get_verified(caller.account_id)
    before = Doctor.from_raw_data(d.serialize())
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    for k, v in changes.items():
        setattr(d, k, v)
    d.search_text = dir_keys.search_text(d)
    try:
        with transaction() as tx:
            tx.save(d, condition=Doctor.status == "verified")
            dir_keys.write(tx, before, d)
    except TransactWriteError:
        raise Conflict("the profile changed meanwhile; try again", code="concurrent_update")
    return application(d)


def directory(q: DirectoryQuery) -> Page:
    """One Query on the one directory key the filters select (see ``directory.py``)."""
    limit = parse_limit(str(q.limit) if q.limit is not None else None)
    key, filt = dir_keys.plan(q.q, q.hospital, q.department, q.city, q.specialty)
    page = query_page(DirectoryEntry, DirectoryEntry.query, key, filter_condition=filt, limit=limit, cursor=q.cursor)
    return Page([card(e) for e in page.items], page.next_cursor)


def admin_list(status: str, limit: int | None, cursor: str | None) -> Page:
    page = query_page(Doctor, Doctor.by_status.query, status, limit=parse_limit(str(limit) if limit else None),
                      cursor=cursor)
    return Page([application(d) for d in page.items], page.next_cursor)


def admin_get(doctor_id: str) -> DoctorApplication:
    return application(_get(doctor_id))


def verify(caller, doctor_id: str) -> DoctorApplication:
    d = _get(doctor_id)
    if d.status == "verified":
        return application(d)
    now = clock.now()
    try:
        with transaction() as tx:
            tx.update(Doctor(doctor_id), actions=[Doctor.status.set("verified"), Doctor.verified_at.set(now),
                                                  Doctor.reject_reason.remove(),
                                                  Doctor.search_text.set(dir_keys.search_text(d))],
                      condition=Doctor.status == "pending")
            dir_keys.write(tx, None, d)
            emit(tx, "doctor.verified", {"doctor_id": doctor_id, "by": caller.account_id})
    except TransactWriteError:
        raise Conflict("only a pending application can be verified", code="invalid_state")
    accounts.set_role(doctor_id, "doctor", display_name=d.name)  # the doctor's /v1/me shows the name
    return application(_get(doctor_id))


def reject(caller, doctor_id: str, reason: str) -> DoctorApplication:
    _get(doctor_id)
    try:
        with transaction() as tx:
            tx.update(Doctor(doctor_id), actions=[Doctor.status.set("rejected"), Doctor.reject_reason.set(reason)],
                      condition=Doctor.status == "pending")
            emit(tx, "doctor.rejected", {"doctor_id": doctor_id, "by": caller.account_id})
    except TransactWriteError:
        raise Conflict("only a pending application can be rejected", code="invalid_state")
    return application(_get(doctor_id))
