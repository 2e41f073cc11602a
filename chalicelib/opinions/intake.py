"""Case intake (patient): the case for one of the account's profiles, paid at submission; records
uploaded straight to S3 with a presigned POST (messaging's pattern, our own table and prefix) and
confirmed once the file is in the bucket; more records when an operator asks; withdrawal."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib import calls
from chalicelib.accounts import service as accounts
from chalicelib.core import clock
from chalicelib.core.aws import client, s3_object_exists
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from .common import HELD, audit_read, case_out, get_expert, payload, visible_case
from .models import Case, CaseRecord
from .schemas import CaseCreated, CaseIn, OrderRef, RecordLink, RecordOut, RecordUpload

payments = calls.client("payments")  # synchronous, to payments' function (chalicelib/calls.py)

UPLOAD_TTL_S = 600
DOWNLOAD_TTL_S = 300
ORDER_TTL_S = 1800
RECORDS_MAX = 50
UPLOADABLE = ("awaiting_payment", "triage", "needs_records", "matching", "assigned", "accepted")


def create_case(caller, body: CaseIn) -> CaseCreated:
    profile = accounts.get_profile(caller.account_id, body.profile_id)  # 404 for another account's profile
    s = get_settings()
    price = s.opinion_match_price_fen
    if body.expert_id:
        e = get_expert(body.expert_id)
        if e is None or not e.listed or not e.available:
            raise Unprocessable("this expert does not take second-opinion cases now", code="expert_unavailable")
        if e.doctor_id == caller.account_id:
            raise Unprocessable("an expert cannot review their own case", code="expert_unavailable")
        price = int(e.price_fen)
    now = clock.now()
    c = Case(new_id(), account_id=caller.account_id, profile_id=profile.profile_id, patient_name=profile.real_name,
             reason=body.reason, questions=list(body.questions), diagnosis=body.diagnosis,
             treating_hospital=body.treating_hospital, treating_doctor=body.treating_doctor,
             history=body.history.model_dump(exclude_none=True), specialty=body.specialty,
             requested_expert_id=body.expert_id, price_fen=price, status="awaiting_payment", attempt=0, tried=[],
             followups=0, created_at=now)
    c.save(condition=Case.case_id.does_not_exist())
    # doctor_id stays empty: the expert is not known for sure until one accepts (re-matching may
    # change it), so the expert's share is credited when the report is published (money.py).
    order = payments.create_order(payer_account_id=caller.account_id, product_type="second_opinion",
                                  product_id=c.case_id, amount_fen=price, doctor_id=None,
                                  description="二次诊疗 专家意见", expires_in_s=ORDER_TTL_S)
    c.update(actions=[Case.order_id.set(order["order_id"])])
    return CaseCreated(case=case_out(c), order=OrderRef(order_id=order["order_id"], amount_fen=order["amount_fen"],
                                                        status=order["status"], expires_at=order["expires_at"]))


def my_cases(caller, limit: int | None, cursor: str | None) -> Page:
    page = query_page(Case, Case.by_account.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    return Page([case_out(c) for c in page.items], page.next_cursor)


def get_case_view(caller, case_id: str, request_id: str):
    c, _ = visible_case(caller, case_id)
    audit_read(caller, c, "opinion_case", c.case_id, request_id)
    expert_id = c.holder_id or c.expert_id
    return case_out(c, get_expert(expert_id) if expert_id else None)


# --- records ---------------------------------------------------------------------------------

def add_record(caller, case_id: str, body) -> RecordUpload:
    c, _ = visible_case(caller, case_id, allow=("patient",))
    if c.status not in UPLOADABLE:
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    rid = new_id()
    key = f"opinions/{c.case_id}/{rid}"
    post = client("s3").generate_presigned_post(
        get_settings().attachments_bucket, key, Fields={"Content-Type": body.content_type},
        Conditions=[{"Content-Type": body.content_type}, ["content-length-range", 1, body.size]],
        ExpiresIn=UPLOAD_TTL_S)
    CaseRecord(c.case_id, rid, kind=body.kind, title=body.title, key=key, content_type=body.content_type,
               size=body.size, uploader_id=caller.account_id, created_at=clock.now()).save()
    return RecordUpload(record_id=rid, upload_url=post["url"], fields=post["fields"], expires_in=UPLOAD_TTL_S)


def _record_out(r: CaseRecord) -> RecordOut:
    return RecordOut(record_id=r.record_id, kind=r.kind, title=r.title, content_type=r.content_type, size=int(r.size),
                     uploaded=r.uploaded_at is not None, created_at=clock.iso(r.created_at))


def _get_record(case_id: str, record_id: str) -> CaseRecord:
    try:
        return CaseRecord.get(case_id, record_id, consistent_read=True)
    except CaseRecord.DoesNotExist:
        raise NotFound("record not found")


def confirm_record(caller, case_id: str, record_id: str) -> RecordOut:
    """The patient's app says the upload is done; the record counts only if the file is really
    in the bucket (as referrals checks its documents), so nobody is shown a record with no file."""
    c, _ = visible_case(caller, case_id, allow=("patient",))
    r = _get_record(c.case_id, record_id)
    if r.uploaded_at is not None:
        return _record_out(r)
    if c.status not in UPLOADABLE:
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    if not s3_object_exists(r.key):
        raise Unprocessable("the file has not arrived; upload it before confirming", code="record_not_uploaded")
    try:
        r.update(actions=[CaseRecord.uploaded_at.set(clock.now())], condition=CaseRecord.uploaded_at.does_not_exist())
    except UpdateError:  # confirmed twice at once
        r = _get_record(c.case_id, record_id)
    return _record_out(r)


def _records_side(caller, case_id: str) -> tuple[Case, str]:
    """The patient, an operator, or the expert while holding the case; nobody else (the expert
    who declined, timed out or finished no longer sees them)."""
    c, s = visible_case(caller, case_id, allow=("patient", "holder", "admin"))
    if s == "holder" and c.status not in HELD:
        raise NotFound("case not found")
    return c, s


def list_records(caller, case_id: str, request_id: str) -> Page:
    """The patient sees every record with its upload state; the others only those confirmed."""
    c, s = _records_side(caller, case_id)
    confirmed = None if s == "patient" else CaseRecord.uploaded_at.exists()
    items = [_record_out(r) for r in CaseRecord.query(c.case_id, filter_condition=confirmed, limit=RECORDS_MAX)]
    audit_read(caller, c, "opinion_records", c.case_id, request_id)
    return Page(items, None)


def record_link(caller, case_id: str, record_id: str, request_id: str) -> RecordLink:
    c, s = _records_side(caller, case_id)
    r = _get_record(c.case_id, record_id)
    if r.uploaded_at is None:
        if s != "patient":
            raise NotFound("record not found")
        raise Unprocessable("the file has not arrived; upload it and confirm", code="record_not_uploaded")
    audit_read(caller, c, "opinion_record", r.record_id, request_id)
    url = client("s3").generate_presigned_url("get_object", Params={"Bucket": get_settings().attachments_bucket,
                                                                    "Key": r.key}, ExpiresIn=DOWNLOAD_TTL_S)
    return RecordLink(record_id=r.record_id, url=url, content_type=r.content_type, expires_in=DOWNLOAD_TTL_S)


def resubmit(caller, case_id: str, note: str | None):
    """The patient has added what the operator asked for: back to the triage queue."""
    c, _ = visible_case(caller, case_id, allow=("patient",))
    if c.status != "needs_records":
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.status.set("triage"), Case.queue.set("triage")],
                      condition=Case.status == "needs_records")
            emit(tx, "opinion.records_added", payload(c))
    except TransactWriteError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    return case_out(get_case_fresh(c.case_id))


# --- withdrawal ------------------------------------------------------------------------------

def withdraw(caller, case_id: str):
    """Before an expert accepts: full refund (or the unpaid order is closed). After: only an
    operator can decide a refund (409)."""
    from . import money

    c, _ = visible_case(caller, case_id, allow=("patient",))
    if c.status == "awaiting_payment":
        try:
            with transaction() as tx:
                tx.update(c, actions=[Case.status.set("withdrawn"), Case.ended_at.set(clock.now())],
                          condition=Case.status == "awaiting_payment")
                emit(tx, "opinion.withdrawn", payload(c, order_id=c.order_id))
        except TransactWriteError:
            return withdraw(caller, case_id)  # paid meanwhile: answer from the new state
        return case_out(get_case_fresh(c.case_id))
    if c.status in ("accepted", "reported"):
        raise Conflict("an expert has accepted the case; ask the operator for a refund", code="refund_needs_operator")
    if c.status not in ("triage", "needs_records", "matching", "assigned"):
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    money.refund_case(c, "withdrawn", "患者在专家接诊前撤回，全额退款")
    return case_out(get_case_fresh(c.case_id))


def get_case_fresh(case_id: str) -> Case:
    return Case.get(case_id, consistent_read=True)

