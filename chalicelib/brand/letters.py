"""Thank-you letters (感谢信): text only, from a patient who completed care with the doctor,
shown after an operator approves it. There is no money gift of any kind (红包/心意 are banned by
the 九项准则): a letter has no amount, no order, no payment."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import ranking, reviews
from .models import Letter
from .schemas import AdminLetterOut, LetterOut


def letter_out(x: Letter) -> LetterOut:
    return LetterOut(letter_id=x.letter_id, doctor_id=x.doctor_id, patient=x.patient_masked, text=x.text,
                     created_at=clock.iso(x.created_at))


def admin_out(x: Letter) -> AdminLetterOut:
    return AdminLetterOut(**letter_out(x).model_dump(), status=x.status, reject_reason=x.reject_reason)


def _keys(status: str, x: Letter) -> dict:
    return {"status": status, "list_key": f"{status}#{x.created_at.isoformat()}#{x.letter_id}"}


def write(caller, doctor_id: str, text: str) -> AdminLetterOut:
    from chalicelib.doctors import service as doctors

    doctors.get_verified(doctor_id)
    right = reviews.care_with(caller.account_id, doctor_id)
    if right is None:
        raise Unprocessable("a thank-you letter follows care completed with this doctor", code="no_completed_care")
    now = clock.now()
    lid = new_id()
    x = Letter(lid, doctor_id=doctor_id, account_id=caller.account_id, patient_masked=reviews.masked_patient(right),
               text=text, status="pending", list_key=f"pending#{now.isoformat()}#{lid}",
               created_key=f"{now.isoformat()}#{lid}", created_at=now)
    x.save(condition=Letter.letter_id.does_not_exist())
    return admin_out(x)


def _get(letter_id: str) -> Letter:
    try:
        return Letter.get(letter_id, consistent_read=True)
    except Letter.DoesNotExist:
        raise NotFound("letter not found")


def approve(caller, letter_id: str) -> AdminLetterOut:
    x = _get(letter_id)
    if x.status != "pending":
        raise Conflict(f"the letter is {x.status}", code="invalid_state")
    keys = _keys("approved", x)

    def extra(tx):
        tx.update(Letter(letter_id), actions=[Letter.status.set("approved"), Letter.list_key.set(keys["list_key"]),
                                              Letter.moderated_at.set(clock.now())],
                  condition=Letter.status == "pending")
        ranking.count_day(tx, x.doctor_id, letters=1)

    try:
        ranking.change(x.doctor_id, lambda s: {"letters": int(s.letters or 0) + 1}, extra)
    except TransactWriteError:
        raise Conflict("the letter was moderated meanwhile", code="invalid_state")
    return admin_out(_get(letter_id))


def reject(caller, letter_id: str, reason: str) -> AdminLetterOut:
    x = _get(letter_id)
    if x.status != "pending":
        raise Conflict(f"the letter is {x.status}", code="invalid_state")
    try:
        with transaction() as tx:
            tx.update(Letter(letter_id), actions=[Letter.status.set("rejected"), Letter.reject_reason.set(reason),
                                                  Letter.list_key.set(_keys("rejected", x)["list_key"]),
                                                  Letter.moderated_at.set(clock.now())],
                      condition=Letter.status == "pending")
    except TransactWriteError:
        raise Conflict("the letter was moderated meanwhile", code="invalid_state")
    return admin_out(_get(letter_id))


def public_list(doctor_id: str, limit, cursor) -> Page:
    page = query_page(Letter, Letter.by_doctor.query, doctor_id, Letter.list_key.startswith("approved#"),
                      scan_index_forward=False, limit=parse_limit(limit), cursor=cursor)
    return Page([letter_out(x) for x in page.items], page.next_cursor)


def queue(status: str, limit, cursor) -> Page:
    page = query_page(Letter, Letter.by_status.query, status, limit=parse_limit(limit), cursor=cursor)
    return Page([admin_out(x) for x in page.items], page.next_cursor)
