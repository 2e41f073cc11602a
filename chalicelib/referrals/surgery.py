"""From an accepted match to the operation and after: the paperwork a visiting surgeon needs,
the patient's confirmation of a date, the pre-operative checklist and its reminders, the
operation recorded done, and the post-operative follow-up plan.

A visiting surgeon (多点执业) operates only with the host hospital's written invitation and the
approval of their own hospital, and the patient's informed consent: confirming the date is one
conditional write that requires all three, so no path confirms without them (409 naming the
first one missing, the message naming all).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.bindings import service as bindings
from chalicelib.core import clock, timers
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import commit_once, consumer, emit, transaction

from .common import clock_parse, full_out, get_case, need, payload, shanghai_date, visible_case
from .intake import check_consent, get_document, uploaded
from .models import Case, Surgeon

REMINDER = "referral-reminder"
# the pre-operative checklist: (item, title, text, days before the operation, Asia/Shanghai time)
CHECKLIST = (
    ("tests", "术前检查", "请在术前完成血常规、凝血功能、肝肾功能、心电图、胸片等检查，并带上报告。", 3, time(9, 0)),
    ("documents", "携带资料", "请携带身份证、医保卡、既往病历、影像片子与检查报告，到合作医院办理入院。", 1, time(9, 0)),
    ("fasting", "禁食禁水", "手术前 8 小时起禁食、4 小时起禁水（以医生的具体要求为准）。", 1, time(20, 0)),
)
MISSING = (("invitation_doc", "invitation_missing", "the host hospital's written invitation"),
           ("approval_doc", "home_approval_missing", "the approval of the surgeon's own hospital"),
           ("surgery_consent", "patient_consent_missing", "the patient's informed consent"))


# --- paperwork -------------------------------------------------------------------------------

def _record_doc(c: Case, doc_id: str, kind: str, attr) -> None:
    need(c, "proposed", "accepted")
    d = get_document(c.case_id, doc_id)
    if d.kind != kind:
        raise Unprocessable(f"the document is not a {kind}", code="wrong_document")
    if not uploaded(d):
        raise Unprocessable("the document has not been uploaded yet", code="document_not_uploaded")
    try:
        c.update(actions=[attr.set(doc_id)], condition=Case.status.is_in("proposed", "accepted")
                 & (Case.surgeon_id == c.surgeon_id))
    except UpdateError:
        raise Conflict("the case changed meanwhile", code="invalid_state")


def record_invitation(caller, case_id: str, doc_id: str):
    c = get_case(case_id)
    _record_doc(c, doc_id, "invitation", Case.invitation_doc)
    return full_out(get_case(case_id))


def record_approval(caller, case_id: str, doc_id: str):
    c, _ = visible_case(caller, case_id, allow=("surgeon", "admin"))
    _record_doc(c, doc_id, "approval", Case.approval_doc)
    return full_out(get_case(case_id))


def record_consent(caller, case_id: str, version: str):
    c, _ = visible_case(caller, case_id, allow=("patient",))
    need(c, "proposed", "accepted")
    consent = check_consent("surgery", version)
    try:
        c.update(actions=[Case.surgery_consent.set(consent)], condition=Case.status.is_in("proposed", "accepted")
                 & (Case.surgeon_id == c.surgeon_id))
    except UpdateError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    return full_out(get_case(case_id))


# --- confirmation ----------------------------------------------------------------------------

def _checklist(at: datetime) -> list[dict]:
    now = clock.now()
    day = shanghai_date(at)
    out = []
    for item_id, title, text, before, when in CHECKLIST:
        remind = datetime.combine(day - timedelta(days=before), when, tzinfo=clock.SHANGHAI)
        out.append({"item_id": item_id, "kind": item_id, "title": title, "text": text,
                    "remind_at": clock.iso(max(remind, now)), "done_at": None})
    return out


def confirm(caller, case_id: str, surgery_at: datetime):
    c, _ = visible_case(caller, case_id, allow=("patient",))
    need(c, "accepted")
    if surgery_at.tzinfo is None or surgery_at not in [clock_parse(d) for d in c.proposed_dates or []]:
        raise Unprocessable("pick one of the surgeon's proposed dates", code="not_a_proposed_date")
    if surgery_at <= clock.now():
        raise Unprocessable("the date has passed; ask for new dates", code="date_passed")
    missing = [(code, what) for attr, code, what in MISSING if not getattr(c, attr)]
    if missing:
        raise Conflict("the surgery cannot be confirmed without " + "; ".join(w for _, w in missing),
                       code=missing[0][0])
    items = _checklist(surgery_at)
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.status.set("confirmed"), Case.surgery_at.set(surgery_at),
                                  Case.confirmed_at.set(clock.now()), Case.checklist.set(items)],
                      condition=(Case.status == "accepted") & (Case.surgeon_id == c.surgeon_id)
                      & Case.invitation_doc.exists() & Case.approval_doc.exists() & Case.surgery_consent.exists())
            for i in items:
                timers.schedule(REMINDER, clock_parse(i["remind_at"]),
                                {"case_id": c.case_id, "attempt": int(c.attempt), "item_id": i["item_id"]},
                                key=f"{c.case_id}#{int(c.attempt)}#{i['item_id']}", tx=tx)
            emit(tx, "referral.confirmed", payload(c, surgery_at=surgery_at.isoformat()))
    except TransactWriteError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    return full_out(get_case(case_id))


def check_item(caller, case_id: str, item_id: str):
    c, _ = visible_case(caller, case_id, allow=("patient",))
    need(c, "confirmed")
    items = [dict(i) for i in c.checklist or []]
    hit = [i for i in items if i["item_id"] == item_id]
    if not hit:
        raise NotFound("no such checklist item")
    if hit[0]["done_at"] is None:
        hit[0]["done_at"] = clock.iso(clock.now())
        try:
            c.update(actions=[Case.checklist.set(items)], condition=(Case.status == "confirmed")
                     & (Case.attempt == int(c.attempt)))
        except UpdateError:
            raise Conflict("the case changed meanwhile", code="invalid_state")
    return full_out(get_case(case_id))


@consumer(f"timer.{REMINDER}")
def _on_reminder(event_id: str, p: dict) -> None:
    """Remind once, and only for the match it was set for: a case re-matched, cancelled or done
    meanwhile (another attempt), or an item already done, sends nothing."""
    try:
        c = get_case(p["case_id"])
    except NotFound:
        return
    if c.status != "confirmed" or int(c.attempt) != int(p["attempt"]):
        return
    item = next((i for i in c.checklist or [] if i["item_id"] == p["item_id"]), None)
    if item is None or item.get("done_at"):
        return
    key = f"referral-reminder#{c.case_id}#{p['attempt']}#{p['item_id']}"
    commit_once(key, lambda tx: emit(tx, "referral.checklist_reminder",
                                     payload(c, item_id=item["item_id"], item_title=item["title"],
                                             surgery_at=c.surgery_at.isoformat())))


# --- the operation and after -----------------------------------------------------------------

def record_done(caller, case_id: str):
    c, _ = visible_case(caller, case_id, allow=("surgeon", "admin"))
    need(c, "confirmed")
    now = clock.now()
    if now < c.surgery_at:
        raise Conflict("the operation has not started yet", code="too_early")
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.status.set("done"), Case.done_at.set(now), Case.plan_id.set(new_id()),
                                  Case.plan_status.set("pending")],
                      condition=(Case.status == "confirmed") & (Case.surgeon_id == c.surgeon_id))
            tx.update(Surgeon(c.surgeon_id), actions=[Surgeon.open_cases.add(-1)])
            emit(tx, "referral.surgery_done", {"case_id": c.case_id, "account_id": c.account_id,
                                               "profile_id": c.profile_id, "doctor_id": c.surgeon_id,
                                               "done_at": now.isoformat()})
    except TransactWriteError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    return full_out(get_case(case_id))


def _plan_doctor(c: Case) -> str | None:
    """Who follows the patient up: the referring local doctor, else the surgeon — whoever the
    patient is bound to (follow-up is post-visit care: it needs the binding)."""
    for doctor_id in (c.referrer_id, c.surgeon_id):
        if doctor_id and bindings.is_active(doctor_id, c.profile_id):
            return doctor_id
    return None


@consumer("referral.surgery_done")
def _assign_plan(event_id: str, p: dict) -> None:
    """The post-operative plan: this domain decides who follows the patient up and records it on
    the case together with ``referral.postop_plan_requested``, in one transaction; the follow-up
    domain's consumer makes the plan under the id reserved on the case (idempotent by that id).
    Referrals writes only its own tables (issue #9: no synchronous write into another domain)."""
    c = get_case(p["case_id"])
    if c.status != "done" or c.plan_status != "pending":
        return  # decided by an earlier delivery
    doctor_id = _plan_doctor(c)
    if doctor_id is None:
        c.update(actions=[Case.plan_status.set("no_bound_doctor")], condition=Case.plan_status == "pending")
        logger.info("no bound doctor for the post-operative plan", extra={"case_id": c.case_id})
        return
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.plan_status.set("assigned"), Case.plan_doctor_id.set(doctor_id)],
                      condition=Case.plan_status == "pending")
            emit(tx, "referral.postop_plan_requested", {
                "case_id": c.case_id, "plan_id": c.plan_id, "doctor_id": doctor_id, "profile_id": c.profile_id,
                "template_id": get_settings().referral_postop_template,
                "anchor_date": shanghai_date(c.surgery_at).isoformat()})
    except TransactWriteError:
        logger.info("post-operative plan decided concurrently", extra={"case_id": c.case_id})
