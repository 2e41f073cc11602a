"""Second-opinion (二次诊疗) routes: patients' cases, experts' offers and work, operators' triage."""

from chalice import Response as HttpResponse

from chalicelib.core.errors import NotFound
from chalicelib.core.http import Api, Ctx, ListOf
from chalicelib.core.lazy import lazy_module

intake = lazy_module("chalicelib.opinions.intake")
matching = lazy_module("chalicelib.opinions.matching")
report = lazy_module("chalicelib.opinions.report")
money = lazy_module("chalicelib.opinions.money")

api = Api("opinions")
PATIENT = ("patient",)
DOCTOR = ("doctor",)
ADMIN = ("admin",)
ANY = ("patient", "doctor", "admin")
CASE = "/v1/opinions/cases/{case_id}"


def _page(render) -> HttpResponse:
    """A page for a browser (the treating doctor opens the share link in one): a missing or expired
    report is a zh-CN page too, not a JSON body."""
    try:
        return _html(render())
    except NotFound:
        return _html("<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>报告不可用</title>"
                     "<p>报告不存在或链接已过期。</p></html>", status=404)


def _html(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body=body, status_code=status, headers={"Content-Type": "text/html; charset=utf-8",
                                                             "Cache-Control": "no-store",
                                                             "Content-Security-Policy": "default-src 'none'; "
                                                             "style-src 'unsafe-inline'; script-src 'unsafe-inline'",
                                                             "X-Robots-Tag": "noindex"})


# --- patient ---------------------------------------------------------------------------------

@api.route("/v1/opinions/cases", "POST", roles=PATIENT, request="CaseIn", response="CaseCreated", status=201,
           idempotent=True, errors=(404, 422),
           summary="Submit a case for one of your profiles; pay the returned order (price shown up front)")
def create_case(ctx: Ctx):
    return intake.create_case(ctx.caller, ctx.body)


@api.route("/v1/opinions/cases", "GET", roles=PATIENT, query="ListQuery", response=ListOf("CaseOut"),
           summary="Your second-opinion cases, newest first")
def my_cases(ctx: Ctx):
    return intake.my_cases(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route(CASE, "GET", roles=ANY, response="CaseOut", errors=(404,),
           summary="A case: its patient, the expert holding it, operators (reads by others are audited)")
def get_case(ctx: Ctx, case_id: str):
    return intake.get_case_view(ctx.caller, case_id, ctx.request_id)


@api.route(CASE + "/records", "POST", roles=PATIENT, request="RecordIn", response="RecordUpload", status=201,
           errors=(404, 409),
           summary="Add a record (report, imaging, pathology, discharge summary): presigned upload, then confirm it")
def add_record(ctx: Ctx, case_id: str):
    return intake.add_record(ctx.caller, case_id, ctx.body)


@api.route(CASE + "/records/{record_id}/confirm", "POST", roles=PATIENT, response="RecordOut",
           errors=(404, 409, 422), summary="The file is uploaded: it must be in the bucket (422 record_not_uploaded), "
           "then the record counts (the expert and operators see it)")
def confirm_record(ctx: Ctx, case_id: str, record_id: str):
    return intake.confirm_record(ctx.caller, case_id, record_id)


@api.route(CASE + "/records", "GET", roles=ANY, response=ListOf("RecordOut"), errors=(404,),
           summary="The case's records (the patient: all; the expert while holding the case and operators: the "
           "confirmed ones)")
def list_records(ctx: Ctx, case_id: str):
    return intake.list_records(ctx.caller, case_id, ctx.request_id)


@api.route(CASE + "/records/{record_id}", "GET", roles=ANY, response="RecordLink", errors=(404, 422),
           summary="A short-lived download link for one record (every read by others is audited)")
def record_link(ctx: Ctx, case_id: str, record_id: str):
    return intake.record_link(ctx.caller, case_id, record_id, ctx.request_id)


@api.route(CASE + "/resubmit", "POST", roles=PATIENT, request="Resubmit", response="CaseOut", errors=(404, 409),
           summary="Records added as the operator asked: back to triage")
def resubmit(ctx: Ctx, case_id: str):
    return intake.resubmit(ctx.caller, case_id, ctx.body.note)


@api.route(CASE + "/withdraw", "POST", roles=PATIENT, response="CaseOut", errors=(404, 409),
           summary="Withdraw before an expert accepts: full refund (after acceptance only an operator refunds)")
def withdraw(ctx: Ctx, case_id: str):
    return intake.withdraw(ctx.caller, case_id)


@api.route(CASE + "/messages", "GET", roles=ANY, query="ListQuery", response=ListOf("CaseMessageOut"), errors=(404,),
           summary="The case thread: expert questions, patient answers, follow-ups and addenda")
def list_messages(ctx: Ctx, case_id: str):
    return report.list_messages(ctx.caller, case_id, ctx.query.limit, ctx.query.cursor, ctx.request_id)


@api.route(CASE + "/messages", "POST", roles=("patient", "doctor"), request="MessageIn", response="CaseMessageOut",
           status=201, errors=(404, 409), summary="The expert asks or the patient answers while the case is reviewed")
def post_message(ctx: Ctx, case_id: str):
    return report.post_message(ctx.caller, case_id, ctx.body.text, ctx.body.reply_to)


@api.route(CASE + "/report", "GET", roles=ANY, response="ReportOut", errors=(404,),
           summary="The published report with its addenda")
def get_report(ctx: Ctx, case_id: str):
    return report.get_report(ctx.caller, case_id, ctx.request_id)


@api.route(CASE + "/report.html", "GET", roles=ANY, produces="text/html", errors=(404,),
           summary="The report as a printable page")
def report_html(ctx: Ctx, case_id: str):
    return _page(lambda: report.report_html(ctx.caller, case_id, ctx.request_id))


@api.route(CASE + "/share", "POST", roles=PATIENT, response="ShareLink", status=201, errors=(404,),
           summary="A short-lived signed link to the report page for the treating doctor")
def share(ctx: Ctx, case_id: str):
    return report.share(ctx.caller, case_id)


@api.route("/v1/opinions/shared/{token}", "GET", auth=False, produces="text/html", errors=(404,),
           summary="The report page behind a share link (no login; expires; every read audited)")
def shared(ctx: Ctx, token: str):
    return _page(lambda: report.shared_html(token, ctx.request_id))


@api.route(CASE + "/followups", "POST", roles=PATIENT, request="MessageIn", response="CaseMessageOut", status=201,
           errors=(404, 409, 422), summary="A follow-up question on the report (up to 3 within 14 days)")
def followup(ctx: Ctx, case_id: str):
    return report.ask_followup(ctx.caller, case_id, ctx.body.text)


@api.route(CASE + "/outcome", "POST", roles=PATIENT, request="OutcomeIn", response="CaseOut", errors=(404, 409),
           summary="The outcome questionnaire, 30 days after the report: was the advice followed?")
def outcome(ctx: Ctx, case_id: str):
    return report.record_outcome(ctx.caller, case_id, ctx.body)


@api.route("/v1/opinions/experts", "GET", roles=ANY, query="ExpertsQuery", response=ListOf("ExpertOut"),
           summary="Experts offering second opinions, with their prices (optionally by specialty)")
def experts(ctx: Ctx):
    return matching.list_experts(ctx.query.specialty, ctx.query.limit, ctx.query.cursor)


# --- expert (doctor) -------------------------------------------------------------------------

@api.route("/v1/doctor/opinions/offer", "PUT", roles=DOCTOR, request="ExpertIn", response="ExpertOut",
           errors=(422,), summary="Offer second opinions (verified doctors): price, specialties, availability, load")
def set_offer(ctx: Ctx):
    return matching.set_offer(ctx.caller, ctx.body)


@api.route("/v1/doctor/opinions/offer", "GET", roles=DOCTOR, response="ExpertOut", errors=(404,),
           summary="Your second-opinion offer")
def my_offer(ctx: Ctx):
    return matching.my_offer(ctx.caller)


@api.route("/v1/doctor/opinions/cases", "GET", roles=DOCTOR, query="ListQuery", response=ListOf("CaseOut"),
           summary="Cases assigned to you now (to accept or decline, or under review)")
def expert_cases(ctx: Ctx):
    return matching.expert_cases(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/doctor/opinions/cases/{case_id}/accept", "POST", roles=DOCTOR, response="CaseOut",
           errors=(404, 409), summary="Accept an assigned case (within 24 hours of assignment)")
def accept(ctx: Ctx, case_id: str):
    return matching.accept(ctx.caller, case_id)


@api.route("/v1/doctor/opinions/cases/{case_id}/decline", "POST", roles=DOCTOR, request="Decline", response="Ok",
           errors=(404, 409), summary="Decline an assigned case: it is re-matched; your access ends")
def decline(ctx: Ctx, case_id: str):
    return matching.decline(ctx.caller, case_id, ctx.body.reason)


@api.route("/v1/doctor/opinions/cases/{case_id}/report", "POST", roles=DOCTOR, request="ReportIn",
           response="ReportOut", status=201, errors=(404, 409, 422),
           summary="Publish the structured report to the patient (your share is credited)")
def publish(ctx: Ctx, case_id: str):
    return report.publish(ctx.caller, case_id, ctx.body)


@api.route("/v1/doctor/opinions/cases/{case_id}/addenda", "POST", roles=DOCTOR, request="MessageIn",
           response="CaseMessageOut", status=201, errors=(404, 422),
           summary="Answer a follow-up question as an addendum to your report (reply_to: the question)")
def addendum(ctx: Ctx, case_id: str):
    return report.answer_followup(ctx.caller, case_id, ctx.body.reply_to, ctx.body.text)


# --- operator --------------------------------------------------------------------------------

@api.route("/v1/admin/opinions/cases", "GET", roles=ADMIN, query="QueueQuery", response=ListOf("CaseOut"),
           summary="Cases waiting for triage or for matching, oldest first")
def queue(ctx: Ctx):
    return matching.queue(ctx.caller, ctx.query.queue, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/admin/opinions/cases/{case_id}/request-records", "POST", roles=ADMIN, request="RequestRecords",
           response="CaseOut", errors=(404, 409), summary="Ask the patient for more records; the case waits")
def request_records(ctx: Ctx, case_id: str):
    return matching.request_records(ctx.caller, case_id, ctx.body.note, ctx.request_id)


@api.route("/v1/admin/opinions/cases/{case_id}/complete", "POST", roles=ADMIN, request="Complete",
           response="CaseOut", errors=(404, 409),
           summary="Mark complete with a summary of the open questions: the turnaround clock starts")
def complete(ctx: Ctx, case_id: str):
    return matching.complete(ctx.caller, case_id, ctx.body.summary, ctx.request_id)


@api.route("/v1/admin/opinions/cases/{case_id}/assign", "POST", roles=ADMIN, request="Assign", response="CaseOut",
           errors=(404, 409, 422), summary="Assign an expert, or match by specialty, load and availability")
def assign(ctx: Ctx, case_id: str):
    return matching.assign(ctx.caller, case_id, ctx.body.expert_id)


@api.route("/v1/admin/opinions/cases/{case_id}/refund", "POST", roles=ADMIN, request="RefundIn", response="CaseOut",
           errors=(404, 409, 422), summary="Refund a case by an operator's decision with a reason (not disagreement)")
def refund(ctx: Ctx, case_id: str):
    return money.operator_refund(ctx.caller, case_id, ctx.body.ground, ctx.body.reason)


@api.route("/v1/admin/opinions/stats", "GET", roles=ADMIN, response="Stats",
           summary="Confirmed / refined / different shares, turnaround, refund and outcome rates (counters)")
def stats(ctx: Ctx):
    return money.stats(ctx.caller)
