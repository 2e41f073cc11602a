"""The review itself: the case thread (expert questions, patient answers), the structured report,
its printable page and short-lived share link for the treating doctor, follow-up questions
answered as addenda, and the outcome questionnaire 30 days later."""

from __future__ import annotations

import hmac
from datetime import timedelta
from html import escape
from typing import Any
from urllib.parse import quote

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import audit, clock, crypto, timers
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import consumer, emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page
from chalicelib.core.schemas import ascii_digits

from .common import audit_read, case_out, count, expert_out, get_case, get_expert, payload, visible_case
from .matching import DEADLINE_TIMER
from .models import Case, CaseMessage, Expert
from .schemas import CaseMessageOut, ReportIn, ReportOut, ShareLink

OUTCOME_TIMER = "opinion-outcome"
REVIEWS = {"confirmed": "维持原诊断", "refined": "补充/细化诊断", "different": "不同诊断"}
URGENCY = {"routine": "常规", "soon": "尽快", "urgent": "紧急"}


# --- thread ----------------------------------------------------------------------------------

def message_out(m: CaseMessage) -> CaseMessageOut:
    return CaseMessageOut(message_id=m.message_id, kind=m.kind, sender_role=m.sender_role, text=m.text,
                      reply_to=m.reply_to, created_at=clock.iso(m.created_at))


def list_messages(caller, case_id: str, limit: int | None, cursor: str | None, request_id: str) -> Page:
    c, _ = visible_case(caller, case_id)
    audit_read(caller, c, "opinion_thread", c.case_id, request_id)
    page = query_page(CaseMessage, CaseMessage.query, c.case_id, limit=parse_limit(str(limit) if limit else None),
                      cursor=cursor)
    return Page([message_out(m) for m in page.items], page.next_cursor)


def post_message(caller, case_id: str, text: str, reply_to: str | None) -> CaseMessageOut:
    """While the expert works on the case: the expert asks, the patient answers."""
    c, s = visible_case(caller, case_id, allow=("patient", "holder"))
    if c.status != "accepted":
        raise Conflict("questions are asked while the expert reviews the case", code="invalid_state")
    kind, role, event = (("question", "expert", "opinion.question_asked") if s == "holder"
                         else ("answer", "patient", "opinion.question_answered"))
    m = CaseMessage(c.case_id, new_id(), kind=kind, sender_role=role, sender_id=caller.account_id, text=text,
                    reply_to=reply_to, created_at=clock.now())
    with transaction() as tx:
        tx.save(m, condition=CaseMessage.message_id.does_not_exist())
        tx.condition_check(Case, c.case_id, condition=Case.status == "accepted")
        emit(tx, event, payload(c, message_id=m.message_id))
    return message_out(m)


# --- report ----------------------------------------------------------------------------------

def publish(caller, case_id: str, body: ReportIn):
    c, _ = visible_case(caller, case_id, allow=("holder",))
    if c.status != "accepted":
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    asked = len(c.questions)
    answered = sorted(a.question for a in body.answers)
    if answered != list(range(asked)):
        raise Unprocessable(f"answer each of the {asked} questions once (indexes 0..{asked - 1})",
                            code="answers_incomplete")
    now = clock.now()
    report = body.model_dump()
    turnaround = int((now - c.completed_at).total_seconds()) if c.completed_at else 0
    outcome_at = now + timedelta(days=get_settings().opinion_outcome_days)
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.status.set("reported"), Case.report.set(report), Case.published_at.set(now),
                                  Case.holder_id.remove(), Case.ended_at.set(now)],
                      condition=(Case.status == "accepted") & (Case.holder_id == caller.account_id))
            tx.update(Expert(caller.account_id), actions=[Expert.open_cases.add(-1)])
            timers.cancel(timers.timer_id_for(DEADLINE_TIMER, c.case_id), tx=tx)
            timers.schedule(OUTCOME_TIMER, outcome_at, {"case_id": c.case_id}, key=c.case_id, tx=tx)
            count(tx, reports=1, turnaround_s=turnaround, **{body.diagnosis_review: 1})
            emit(tx, "opinion.report_published", payload(c, order_id=c.order_id))
    except TransactWriteError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    return get_report(caller, case_id, "")


def _addenda(case_id: str) -> list[CaseMessageOut]:
    return [message_out(m) for m in CaseMessage.query(case_id, filter_condition=CaseMessage.kind.is_in(
        "followup", "addendum"))]


def _published(caller, case_id: str, request_id: str) -> Case:
    c, _ = visible_case(caller, case_id, allow=("patient", "author", "admin"))
    if c.status != "reported":
        raise NotFound("no report yet")
    if request_id:
        audit_read(caller, c, "opinion_report", c.case_id, request_id)
    return c


def get_report(caller, case_id: str, request_id: str) -> ReportOut:
    c = _published(caller, case_id, request_id)
    return _report_out(c)


def _report_out(c: Case) -> ReportOut:
    e = get_expert(c.expert_id)
    if e is None:  # experts opt out, they are never deleted
        raise NotFound("the report's expert is not found")
    return ReportOut(case_id=c.case_id, expert=expert_out(e), diagnosis=c.diagnosis, questions=list(c.questions),
                     report=dict(c.report), addenda=_addenda(c.case_id), published_at=clock.iso(c.published_at))


def report_html(caller, case_id: str, request_id: str) -> str:
    return render_html(_report_out(_published(caller, case_id, request_id)))


_CSS = """body{font-family:"PingFang SC","Microsoft YaHei",sans-serif;max-width:800px;margin:2em auto;color:#222;
line-height:1.6}h1{font-size:1.5em;border-bottom:2px solid #333}h2{font-size:1.15em;margin-top:1.4em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #999;padding:.4em;vertical-align:top}
.meta{color:#555}.urgent{color:#b00;font-weight:bold}
@media print{body{margin:0;max-width:none;font-size:11pt}a{color:#000;text-decoration:none}
h2{page-break-after:avoid}table,.block{page-break-inside:avoid}.noprint{display:none}}"""


def render_html(r: ReportOut) -> str:
    """The printable report. Everything a person typed is escaped."""
    e = r.expert
    rep: dict[str, Any] = r.report  # validated as ReportIn when published
    h = escape
    answers = "".join(f"<div class=block><h3>{h(r.questions[a['question']])}</h3><p>{h(a['answer'])}</p></div>"
                      for a in sorted(rep["answers"], key=lambda a: a["question"]))
    options = "".join(f"<tr><td>{h(o['option'])}</td><td>{h(o['pros'])}</td><td>{h(o['cons'])}</td></tr>"
                      for o in rep["treatment_options"])
    tests = "".join(f"<li>{h(t)}</li>" for t in rep.get("recommended_tests") or []) or "<li>无</li>"
    addenda = "".join(f"<div class=block><p><b>{'追问' if a.kind == 'followup' else '补充意见'}</b>"
                      f"（{h(a.created_at)}）：{h(a.text)}</p></div>" for a in r.addenda)
    urgency = rep["urgency"]
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'><title>二次诊疗专家意见</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>二次诊疗专家意见书</h1>"
        f"<p class=meta>专家：{h(e.name)} · {h(e.title)} · {h(e.hospital)} {h(e.department)}<br>"
        f"出具时间：{h(r.published_at)}</p>"
        f"<h2>原诊断</h2><p>{h(r.diagnosis)}</p>"
        f"<h2>诊断意见：{h(REVIEWS[rep['diagnosis_review']])}</h2><p>{h(rep['diagnosis_comment'])}</p>"
        f"<h2>问题解答</h2>{answers}"
        "<h2>治疗方案比较</h2><table><tr><th>方案</th><th>优点</th><th>不足</th></tr>"
        f"{options}</table>"
        f"<h2>建议进一步检查</h2><ul>{tests}</ul>"
        f"<h2>紧急程度</h2><p class='{'urgent' if urgency == 'urgent' else ''}'>{h(URGENCY[urgency])}</p>"
        f"<h2>致主治医生</h2><p>{h(rep['note_to_treating_doctor'])}</p>"
        f"{'<h2>追问与补充</h2>' + addenda if addenda else ''}"
        "<p class=meta>本意见基于患者提供的资料，供主治医生参考，不替代面诊。</p>"
        "<p class=noprint><button onclick='window.print()'>打印</button></p>"
        "</body></html>")


# --- share with the treating doctor ----------------------------------------------------------

def _sign(case_id: str, exp: int) -> str:
    return crypto.blind_index(f"{case_id}|{exp}", "opinion-share")[:32]


def share(caller, case_id: str) -> ShareLink:
    c = _published(caller, case_id, "")
    if caller.account_id != c.account_id:
        raise NotFound("case not found")
    exp = clock.epoch() + get_settings().opinion_share_ttl_s
    token = f"{c.case_id}.{exp}.{_sign(c.case_id, exp)}"
    url = f"{get_settings().public_base_url.rstrip('/')}/v1/opinions/shared/{quote(token)}"
    return ShareLink(url=url, expires_at=_iso_epoch(exp))


def _iso_epoch(exp: int) -> str:
    from datetime import UTC, datetime

    return clock.iso(datetime.fromtimestamp(exp, UTC))


class _LinkReader:
    account_id = "share-link"
    role = "treating_doctor"


def shared_html(token: str, request_id: str) -> str:
    parts = token.split(".")
    # not str.isdigit(): it takes "١٢" (Arabic-Indic), which int() reads as 12, so a second
    # spelling of a valid link would open the page, and "²", on which int() raises (a 500)
    if len(parts) != 3 or not ascii_digits(parts[1]):
        raise NotFound("link not found or expired")
    case_id, exp, sig = parts[0], int(parts[1]), parts[2]
    if exp < clock.epoch() or not hmac.compare_digest(sig, _sign(case_id, exp)):
        raise NotFound("link not found or expired")
    try:
        c = get_case(case_id)
    except NotFound:
        raise NotFound("link not found or expired")
    if c.status != "reported":
        raise NotFound("link not found or expired")
    audit.record(caller=_LinkReader, subject_profile_id=c.profile_id, action="read", object_type="opinion_report",
                 object_id=c.case_id, request_id=request_id)
    return render_html(_report_out(c))


# --- follow-ups and addenda ------------------------------------------------------------------

def ask_followup(caller, case_id: str, text: str) -> CaseMessageOut:
    s = get_settings()
    c, _ = visible_case(caller, case_id, allow=("patient",))
    if c.status != "reported":
        raise Conflict("follow-up questions come after the report", code="invalid_state")
    if clock.now() >= c.published_at + timedelta(days=s.opinion_followup_days):  # as case_out's followups_left
        raise Unprocessable(f"follow-up questions are taken for {s.opinion_followup_days} days after the report",
                            code="followup_window_over")
    if int(c.followups or 0) >= s.opinion_followups_max:
        raise Unprocessable(f"at most {s.opinion_followups_max} follow-up questions", code="followups_used_up")
    m = CaseMessage(c.case_id, new_id(), kind="followup", sender_role="patient", sender_id=caller.account_id,
                    text=text, created_at=clock.now())
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.followups.add(1)],
                      condition=(Case.status == "reported") & (Case.followups < s.opinion_followups_max))
            tx.save(m, condition=CaseMessage.message_id.does_not_exist())
            emit(tx, "opinion.followup_asked", payload(c, message_id=m.message_id))
    except TransactWriteError:
        raise Unprocessable(f"at most {s.opinion_followups_max} follow-up questions", code="followups_used_up")
    return message_out(m)


def answer_followup(caller, case_id: str, reply_to: str | None, text: str) -> CaseMessageOut:
    c, _ = visible_case(caller, case_id, allow=("author",))
    if not reply_to:
        raise Unprocessable("reply_to names the follow-up question answered", code="validation_error")
    try:
        q = CaseMessage.get(c.case_id, reply_to)
    except CaseMessage.DoesNotExist:
        raise NotFound("follow-up question not found")
    if q.kind != "followup":
        raise Unprocessable("reply_to must be a follow-up question", code="validation_error")
    m = CaseMessage(c.case_id, new_id(), kind="addendum", sender_role="expert", sender_id=caller.account_id,
                    text=text, reply_to=reply_to, created_at=clock.now())
    with transaction() as tx:
        tx.save(m, condition=CaseMessage.message_id.does_not_exist())
        emit(tx, "opinion.addendum_published", payload(c, message_id=m.message_id))
    return message_out(m)


# --- outcome ---------------------------------------------------------------------------------

@consumer(f"timer.{OUTCOME_TIMER}")
def _ask_outcome(event_id: str, p: dict) -> None:
    c = get_case(p["case_id"])
    if c.status != "reported" or c.outcome_requested:
        return
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.outcome_requested.set(True)], condition=Case.status == "reported")
            emit(tx, "opinion.outcome_requested", payload(c))
    except TransactWriteError:
        pass


def record_outcome(caller, case_id: str, body):
    c, _ = visible_case(caller, case_id, allow=("patient",))
    if not c.outcome_requested:
        raise Conflict("the outcome questionnaire opens 30 days after the report", code="invalid_state")
    try:
        with transaction() as tx:
            tx.update(c, actions=[Case.outcome.set({**body.model_dump(), "at": clock.now().isoformat()})],
                      condition=Case.outcome.does_not_exist())
            count(tx, outcomes=1, outcomes_followed=1 if body.followed_advice == "yes" else 0)
    except TransactWriteError:
        raise Conflict("the questionnaire was already answered", code="already_answered")
    return case_out(get_case(case_id))
