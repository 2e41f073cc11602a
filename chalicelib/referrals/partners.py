"""Partner hospitals (operators keep them) and expert surgeons (verified doctors opt in), and the
candidates an operator picks from: surgeons by specialty, then distance and travel windows;
hospitals by distance, operating-room windows and departments.

Distance is read from the GB/T 2260 administrative codes both sides carry: the same county
(6 digits) 0, the same city (4) 1, the same province (2) 2, farther 3 — no geodata needed, and
it is what "can the surgeon get there for a day" means in practice.
"""

from __future__ import annotations

from datetime import date

from chalicelib.core import clock
from chalicelib.core.errors import NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import transaction
from chalicelib.core.pagination import Page, parse_limit, query_page
from chalicelib.doctors import service as doctors

from .common import get_case, get_hospital, get_surgeon, hospital_brief, hospital_out, surgeon_out
from .models import Hospital, Surgeon, SurgeonSpecialty
from .schemas import Candidate, Candidates, HospitalCandidate, HospitalIn, SurgeonIn

CANDIDATES = 50


def _windows_ok(windows) -> None:
    for w in windows:
        if w.ends_on < w.starts_on:
            raise Unprocessable("a window ends before it starts", code="validation_error")


# --- hospitals (operators) -------------------------------------------------------------------

def _hospital(hospital_id: str, body: HospitalIn) -> Hospital:
    _windows_ok(body.windows)
    return Hospital(hospital_id, name=body.name, level=body.level, region_code=body.region_code,
                    region_name=body.region_name, departments=sorted(set(body.departments)),
                    contacts=[c.model_dump() for c in body.contacts],
                    windows=[w.model_dump(mode="json") for w in body.windows], active=body.active,
                    listed="yes" if body.active else None, updated_at=clock.now())


def create_hospital(caller, body: HospitalIn):
    h = _hospital(new_id(), body)
    h.save(condition=Hospital.hospital_id.does_not_exist())
    return hospital_out(h)


def update_hospital(caller, hospital_id: str, body: HospitalIn):
    if get_hospital(hospital_id) is None:
        raise NotFound("hospital not found")
    h = _hospital(hospital_id, body)
    h.save(condition=Hospital.hospital_id.exists())
    return hospital_out(h)


def get_hospital_view(caller, hospital_id: str):
    h = get_hospital(hospital_id)
    if h is None:
        raise NotFound("hospital not found")
    return hospital_out(h)


def list_hospitals(caller, limit: int | None, cursor: str | None) -> Page:
    page = query_page(Hospital, Hospital.by_listed.query, "yes", limit=parse_limit(str(limit) if limit else None),
                      cursor=cursor)
    return Page([hospital_out(h) for h in page.items], page.next_cursor)


# --- surgeons --------------------------------------------------------------------------------

def set_offer(caller, body: SurgeonIn):
    try:
        d = doctors.get_verified(caller.account_id)
    except NotFound:
        raise Unprocessable("only verified doctors can operate at partner hospitals", code="doctor_not_verified")
    _windows_ok(body.windows)
    old = get_surgeon(caller.account_id)
    specialties = sorted({s.strip() for s in body.specialties if s.strip()})
    s = Surgeon(caller.account_id, name=d.name, hospital=d.hospital, department=d.department, title=d.title,
                specialties=specialties, region_code=body.region_code, available=body.available,
                windows=[w.model_dump(mode="json") for w in body.windows], max_open=body.max_open,
                open_cases=int(old.open_cases or 0) if old else 0, updated_at=clock.now())
    before = set(old.specialties or []) if old else set()
    with transaction() as tx:
        tx.save(s)
        for sp in before - set(specialties):
            tx.delete(SurgeonSpecialty(sp, caller.account_id))
        for sp in set(specialties) - before:
            tx.save(SurgeonSpecialty(sp, caller.account_id))
    return surgeon_out(s)


def my_offer(caller):
    s = get_surgeon(caller.account_id)
    if s is None:
        raise NotFound("you do not operate at partner hospitals")
    return surgeon_out(s)


# --- candidates ------------------------------------------------------------------------------

def distance(a: str, b: str) -> int:
    for n, d in ((6, 0), (4, 1), (2, 2)):
        if a[:n] == b[:n]:
            return d
    return 3


def _overlaps(windows, start: date, end: date, kind: str | None = None) -> bool:
    for w in windows or []:
        if kind and w.get("kind") != kind:
            continue
        if date.fromisoformat(w["starts_on"]) <= end and date.fromisoformat(w["ends_on"]) >= start:
            return True
    return False


def can_take(s: Surgeon, c) -> bool:
    return (bool(s.available) and int(s.open_cases or 0) < int(s.max_open) and s.doctor_id not in (c.tried or [])
            and s.doctor_id not in (c.account_id, c.referrer_id))


def candidates(caller, case_id: str) -> Candidates:
    """Surgeons by specialty who can take the case, nearest and free in the patient's window
    first (1 Query + 1 BatchGetItem); partner hospitals likewise (1 Query)."""
    c = get_case(case_id)
    start, end = date.fromisoformat(c.window_from), date.fromisoformat(c.window_to)
    ids = [r.doctor_id for r in SurgeonSpecialty.query(c.specialty, limit=CANDIDATES)]
    fits = [s for s in Surgeon.batch_get(ids) if can_take(s, c)] if ids else []
    ranked = sorted(((distance(s.region_code, c.region_code), not _overlaps(s.windows, start, end),
                      int(s.open_cases or 0) / int(s.max_open), s.doctor_id, s) for s in fits),
                    key=lambda t: t[:4])
    hospitals = [h for h in Hospital.by_listed.query("yes", limit=CANDIDATES)]
    ranked_h = sorted(((distance(h.region_code, c.region_code), not _overlaps(h.windows, start, end, "or"),
                        h.hospital_id, h) for h in hospitals), key=lambda t: t[:3])
    return Candidates(
        surgeons=[Candidate(surgeon=surgeon_out(s), distance=d, window_fits=not miss) for d, miss, _, _, s in ranked],
        hospitals=[HospitalCandidate(hospital=hospital_brief(h), distance=d, window_fits=not miss,
                                     has_department=c.specialty in (h.departments or []))
                   for d, miss, _, h in ranked_h])
