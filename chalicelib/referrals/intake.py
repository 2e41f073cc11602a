"""Case intake: a patient's own case (consent and payment at submission), or a local doctor's
case on a bound patient's behalf (the patient consents and pays in the app); documents uploaded
straight to S3 with a presigned POST (opinions' pattern, our own table and prefix); reads."""

from __future__ import annotations

from datetime import date

from pynamodb.exceptions import UpdateError

from chalicelib import calls
from chalicelib.accounts import service as accounts
from chalicelib.bindings import service as bindings
from chalicelib.core import clock
from chalicelib.core.aws import client, s3_object_exists
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from .common import audit_read, cases_page, full_out, get_case, payload, visible_case
from .models import Case, CaseDocument
from .schemas import DocLink, DocOut, DocUpload, ReferralCaseCreated, ReferralConsentText, ReferralOrderRef

payments = calls.client("payments")  # synchronous, to payments' function (chalicelib/calls.py)

UPLOAD_TTL_S = 600
DOWNLOAD_TTL_S = 300
ORDER_TTL_S = 1800
DOCS_MAX = 100
PRODUCT = "surgery_deposit"  # the payments domain's product type for the platform's referral service fee

CONSENTS = {
    "referral": ("名医主刀转诊知情同意",
                 "我同意平台将本人（或所代理就诊人）的诊断、病历资料提供给平台运营人员、受邀专家及合作医院，"
                 "仅用于手术转诊的评估、匹配与安排。平台服务费在手术确认前取消可全额退还；"
                 "因专家或医院原因取消的，同样全额退还。转诊医生不因转诊获得任何报酬。"),
    "surgery": ("手术知情同意",
                "我已了解拟行手术的目的、方式、风险及替代方案，同意由受邀专家在合作医院实施手术，"
                "并将按术前清单完成检查、禁食与资料准备。"),
}
# who may upload which documents
UPLOADS = {"patient": ("report", "imaging", "pathology", "discharge_summary", "other"),
           "referrer": ("report", "imaging", "pathology", "discharge_summary", "other"),
           "surgeon": ("approval",), "admin": ("invitation", "approval", "other")}
OPEN_FOR_DOCS = ("awaiting_consent", "awaiting_payment", "triage", "matching", "proposed", "accepted", "confirmed")


def consent_text(kind: str) -> ReferralConsentText:
    if kind not in CONSENTS:
        raise NotFound("no such consent")
    s = get_settings()
    version = s.referral_consent_version if kind == "referral" else s.referral_surgery_consent_version
    title, text = CONSENTS[kind]
    return ReferralConsentText(kind=kind, title=title, text=text, version=version)


def check_consent(kind: str, version: str) -> dict:
    current = consent_text(kind).version
    if version != current:
        raise Unprocessable(f"the consent text has changed (version {current})", code="consent_outdated")
    return {"version": version, "at": clock.now().isoformat()}


def _dates_ok(body) -> None:
    if body.window_to < body.window_from:
        raise Unprocessable("the preferred window ends before it starts", code="validation_error")
    if body.window_to < clock.now().astimezone(clock.SHANGHAI).date():
        raise Unprocessable("the preferred window is in the past", code="validation_error")


def _new_case(body, *, account_id: str, profile_id: str, patient_name: str, submitted_by: str,
              referrer_id: str | None, consent: dict | None) -> Case:
    return Case(new_id(), account_id=account_id, profile_id=profile_id, patient_name=patient_name,
                submitted_by=submitted_by, referrer_id=referrer_id, referral_consent=consent,
                diagnosis=body.diagnosis, operation=body.operation, specialty=body.specialty, urgency=body.urgency,
                region_code=body.region_code, window_from=date.isoformat(body.window_from),
                window_to=date.isoformat(body.window_to), notes=body.notes, fee_fen=get_settings().referral_fee_fen,
                status="awaiting_payment" if consent else "awaiting_consent", tried=[], attempt=0,
                proposed_dates=[], checklist=[], created_at=clock.now())


def _order(c: Case):
    """The platform's service fee: an order with no doctor, so every fen is the platform's (the
    referring doctor — and anyone else — is never paid from it)."""
    o = payments.create_order(payer_account_id=c.account_id, product_type=PRODUCT, product_id=c.case_id,
                              amount_fen=int(c.fee_fen), doctor_id=None, description="名医主刀 平台服务费",
                              expires_in_s=ORDER_TTL_S)
    c.update(actions=[Case.order_id.set(o["order_id"])])
    return ReferralOrderRef(order_id=o["order_id"], amount_fen=o["amount_fen"], status=o["status"],
                            expires_at=o["expires_at"])


def create_case(caller, body) -> ReferralCaseCreated:
    profile = accounts.get_profile(caller.account_id, body.profile_id)  # 404 for another account's profile
    _dates_ok(body)
    consent = check_consent("referral", body.consent.version)
    c = _new_case(body, account_id=caller.account_id, profile_id=profile.profile_id, patient_name=profile.real_name,
                  submitted_by="patient", referrer_id=None, consent=consent)
    c.save(condition=Case.case_id.does_not_exist())
    order = _order(c)
    return ReferralCaseCreated(case=full_out(c), order=order)


def create_for_patient(caller, body) -> ReferralCaseCreated:
    """A local doctor refers a patient bound to them; nothing moves until the patient consents."""
    try:
        b = bindings.get_binding(body.binding_id)
    except NotFound:
        raise NotFound("binding not found")
    if b.doctor_id != caller.account_id or b.status != "active":
        raise NotFound("binding not found")
    _dates_ok(body)
    c = _new_case(body, account_id=b.patient_account_id, profile_id=b.profile_id, patient_name=b.patient_name,
                  submitted_by="doctor", referrer_id=caller.account_id, consent=None)
    with transaction() as tx:
        tx.save(c, condition=Case.case_id.does_not_exist())
        emit(tx, "referral.consent_requested", payload(c))
    return ReferralCaseCreated(case=full_out(c), order=None)


def accept_referral(caller, case_id: str, version: str) -> ReferralCaseCreated:
    """The patient agrees to the referral a doctor made for them, and gets the fee's order."""
    c, _ = visible_case(caller, case_id, allow=("patient",))
    if c.status != "awaiting_consent":
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    consent = check_consent("referral", version)
    try:
        c.update(actions=[Case.status.set("awaiting_payment"), Case.referral_consent.set(consent)],
                 condition=Case.status == "awaiting_consent")
    except UpdateError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    order = _order(c)
    return ReferralCaseCreated(case=full_out(get_case(case_id)), order=order)


def my_cases(caller, limit: int | None, cursor: str | None) -> Page:
    page = query_page(Case, Case.by_account.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    return cases_page(page)


def doctor_cases(caller, side: str, limit: int | None, cursor: str | None) -> Page:
    index = Case.by_referrer if side == "referrer" else Case.by_surgeon
    page = query_page(Case, index.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    return cases_page(page)


def get_case_view(caller, case_id: str, request_id: str):
    c, _ = visible_case(caller, case_id)
    audit_read(caller, c, "referral_case", c.case_id, request_id)
    return full_out(c)


# --- documents -------------------------------------------------------------------------------

def add_document(caller, case_id: str, body) -> DocUpload:
    c, s = visible_case(caller, case_id)
    if body.kind not in UPLOADS[s]:
        raise Unprocessable(f"a {s} cannot upload a document of kind {body.kind}", code="kind_not_allowed")
    if c.status not in OPEN_FOR_DOCS:
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    did = new_id()
    key = f"referrals/{c.case_id}/{did}"
    post = client("s3").generate_presigned_post(
        get_settings().attachments_bucket, key, Fields={"Content-Type": body.content_type},
        Conditions=[{"Content-Type": body.content_type}, ["content-length-range", 1, body.size]],
        ExpiresIn=UPLOAD_TTL_S)
    CaseDocument(c.case_id, did, kind=body.kind, title=body.title, key=key, content_type=body.content_type,
                 size=body.size, uploader_id=caller.account_id, uploader_role=s, created_at=clock.now()).save()
    return DocUpload(doc_id=did, upload_url=post["url"], fields=post["fields"], expires_in=UPLOAD_TTL_S)


def _doc_out(d: CaseDocument) -> DocOut:
    return DocOut(doc_id=d.doc_id, kind=d.kind, title=d.title, content_type=d.content_type, size=int(d.size),
                  uploader_role=d.uploader_role, created_at=clock.iso(d.created_at))


def list_documents(caller, case_id: str, request_id: str) -> Page:
    c, _ = visible_case(caller, case_id)
    items = [_doc_out(d) for d in CaseDocument.query(c.case_id, limit=DOCS_MAX)]
    audit_read(caller, c, "referral_documents", c.case_id, request_id)
    return Page(items, None)


def get_document(case_id: str, doc_id: str) -> CaseDocument:
    try:
        return CaseDocument.get(case_id, doc_id, consistent_read=True)
    except CaseDocument.DoesNotExist:
        raise NotFound("document not found")


def uploaded(d: CaseDocument) -> bool:
    """The file is really in the bucket (a presigned upload that never happened records nothing)."""
    return s3_object_exists(d.key)


def document_link(caller, case_id: str, doc_id: str, request_id: str) -> DocLink:
    c, _ = visible_case(caller, case_id)
    d = get_document(c.case_id, doc_id)
    audit_read(caller, c, "referral_document", d.doc_id, request_id)
    url = client("s3").generate_presigned_url("get_object", Params={"Bucket": get_settings().attachments_bucket,
                                                                    "Key": d.key}, ExpiresIn=DOWNLOAD_TTL_S)
    return DocLink(doc_id=d.doc_id, url=url, content_type=d.content_type, expires_in=DOWNLOAD_TTL_S)
