"""Surgery referral (名医主刀) routes: patients' and local doctors' cases, surgeons' work,
operators' partner hospitals, triage and matching."""

from chalicelib.core.http import Api, Ctx, ListOf
from chalicelib.core.lazy import lazy_module

intake = lazy_module("chalicelib.referrals.intake")
matching = lazy_module("chalicelib.referrals.matching")
partners = lazy_module("chalicelib.referrals.partners")
surgery = lazy_module("chalicelib.referrals.surgery")
money = lazy_module("chalicelib.referrals.money")

api = Api("referrals")
PATIENT = ("patient",)
DOCTOR = ("doctor",)
ADMIN = ("admin",)
ANY = ("patient", "doctor", "admin")
CASE = "/v1/referrals/cases/{case_id}"
DOC_CASE = "/v1/doctor/referrals/cases/{case_id}"
ADMIN_CASE = "/v1/admin/referrals/cases/{case_id}"


# --- patient ---------------------------------------------------------------------------------

@api.route("/v1/referrals/consents/{kind}", "GET", roles=ANY, response="ReferralConsentText", errors=(404,),
           summary="A consent text and its version: `referral` (at submission) or `surgery` (before confirming)")
def consent_text(ctx: Ctx, kind: str):
    return intake.consent_text(kind)


@api.route("/v1/referrals/cases", "POST", roles=PATIENT, request="ReferralCaseIn", response="ReferralCaseCreated", status=201,
           errors=(404, 422), summary="Submit a surgery case for one of your profiles; pay the returned order")
def create_case(ctx: Ctx):
    return intake.create_case(ctx.caller, ctx.body)


@api.route("/v1/referrals/cases", "GET", roles=PATIENT, query="ListQuery", response=ListOf("ReferralCaseOut"),
           summary="Your surgery referral cases, newest first (surgeon and host hospital on each row)")
def my_cases(ctx: Ctx):
    return intake.my_cases(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route(CASE, "GET", roles=ANY, response="ReferralCaseOut", errors=(404,),
           summary="A case: its patient, the referring doctor, the surgeon holding it, operators (others audited)")
def get_case(ctx: Ctx, case_id: str):
    return intake.get_case_view(ctx.caller, case_id, ctx.request_id)


@api.route(CASE + "/accept-referral", "POST", roles=PATIENT, request="ReferralConsentIn", response="ReferralCaseCreated",
           errors=(404, 409, 422), summary="Agree to the referral your doctor made for you; pay the returned order")
def accept_referral(ctx: Ctx, case_id: str):
    return intake.accept_referral(ctx.caller, case_id, ctx.body.version)


@api.route(CASE + "/documents", "POST", roles=ANY, request="DocIn", response="DocUpload", status=201,
           errors=(404, 409, 422),
           summary="Upload a document (presigned): records (patient, referrer), approval (surgeon), invitation (operator)")
def add_document(ctx: Ctx, case_id: str):
    return intake.add_document(ctx.caller, case_id, ctx.body)


@api.route(CASE + "/documents", "GET", roles=ANY, response=ListOf("DocOut"), errors=(404,),
           summary="The case's documents")
def list_documents(ctx: Ctx, case_id: str):
    return intake.list_documents(ctx.caller, case_id, ctx.request_id)


@api.route(CASE + "/documents/{doc_id}", "GET", roles=ANY, response="DocLink", errors=(404,),
           summary="A short-lived download link for one document (reads by others are audited)")
def document_link(ctx: Ctx, case_id: str, doc_id: str):
    return intake.document_link(ctx.caller, case_id, doc_id, ctx.request_id)


@api.route(CASE + "/surgery-consent", "POST", roles=PATIENT, request="ReferralConsentIn", response="ReferralCaseOut",
           errors=(404, 409, 422), summary="Record your informed consent to the proposed operation")
def surgery_consent(ctx: Ctx, case_id: str):
    return surgery.record_consent(ctx.caller, case_id, ctx.body.version)


@api.route(CASE + "/confirm", "POST", roles=PATIENT, request="ConfirmIn", response="ReferralCaseOut",
           errors=(404, 409, 422),
           summary="Confirm one of the surgeon's dates (409 invitation_missing / home_approval_missing / "
                   "patient_consent_missing until all three are recorded)")
def confirm(ctx: Ctx, case_id: str):
    return surgery.confirm(ctx.caller, case_id, ctx.body.surgery_at)


@api.route(CASE + "/checklist/{item_id}/done", "POST", roles=PATIENT, response="ReferralCaseOut", errors=(404, 409),
           summary="Tick off a pre-operative checklist item (its reminder is then not sent)")
def check_item(ctx: Ctx, case_id: str, item_id: str):
    return surgery.check_item(ctx.caller, case_id, item_id)


@api.route(CASE + "/cancel", "POST", roles=PATIENT, request="ReferralNote", response="ReferralCaseOut", errors=(404, 409),
           summary="Cancel: the fee is refunded before the date is confirmed, kept after")
def cancel(ctx: Ctx, case_id: str):
    return money.patient_cancel(ctx.caller, case_id, ctx.body.reason)


# --- doctors: referring (local) doctors and surgeons -----------------------------------------

@api.route("/v1/doctor/referrals/cases", "POST", roles=DOCTOR, request="DoctorCaseIn", response="ReferralCaseCreated",
           status=201, errors=(404, 422),
           summary="Refer a patient bound to you; the patient consents and pays in the app (you are never paid)")
def refer(ctx: Ctx):
    return intake.create_for_patient(ctx.caller, ctx.body)


@api.route("/v1/doctor/referrals/cases", "GET", roles=DOCTOR, query="DoctorCasesQuery", response=ListOf("ReferralCaseOut"),
           summary="Cases you referred (side=referrer) or hold as the surgeon (side=surgeon)")
def doctor_cases(ctx: Ctx):
    return intake.doctor_cases(ctx.caller, ctx.query.side, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/doctor/referrals/surgeon", "PUT", roles=DOCTOR, request="SurgeonIn", response="SurgeonOut",
           errors=(422,), summary="Operate at partner hospitals (verified doctors): specialties, region, travel dates")
def set_offer(ctx: Ctx):
    return partners.set_offer(ctx.caller, ctx.body)


@api.route("/v1/doctor/referrals/surgeon", "GET", roles=DOCTOR, response="SurgeonOut", errors=(404,),
           summary="Your surgeon offer")
def my_offer(ctx: Ctx):
    return partners.my_offer(ctx.caller)


@api.route(DOC_CASE + "/accept", "POST", roles=DOCTOR, request="AcceptIn", response="ReferralCaseOut", errors=(404, 409, 422),
           summary="Accept a proposed case and propose dates for the operation")
def accept(ctx: Ctx, case_id: str):
    return matching.accept(ctx.caller, case_id, ctx.body.dates)


@api.route(DOC_CASE + "/decline", "POST", roles=DOCTOR, request="ReferralNote", response="Ok", errors=(404, 409),
           summary="Decline a proposed case: it is matched again; your access ends")
def decline(ctx: Ctx, case_id: str):
    return matching.decline(ctx.caller, case_id, ctx.body.reason)


@api.route(DOC_CASE + "/home-approval", "POST", roles=DOCTOR, request="DocRef", response="ReferralCaseOut",
           errors=(404, 409, 422), summary="Record your own hospital's approval (an uploaded `approval` document)")
def home_approval(ctx: Ctx, case_id: str):
    return surgery.record_approval(ctx.caller, case_id, ctx.body.doc_id)


@api.route(DOC_CASE + "/withdraw", "POST", roles=DOCTOR, request="ReasonIn", response="ReferralCaseOut", errors=(404, 409),
           summary="Cancel after accepting: the case is matched again, the patient's fee is safe")
def withdraw(ctx: Ctx, case_id: str):
    return matching.surgeon_withdraw(ctx.caller, case_id, ctx.body.reason)


@api.route(DOC_CASE + "/done", "POST", roles=DOCTOR, request="DoneIn", response="ReferralCaseOut", errors=(404, 409),
           summary="Record the operation done: the post-operative follow-up plan is assigned")
def done(ctx: Ctx, case_id: str):
    return surgery.record_done(ctx.caller, case_id)


# --- operators -------------------------------------------------------------------------------

@api.route("/v1/admin/referrals/hospitals", "POST", roles=ADMIN, request="HospitalIn", response="HospitalOut",
           status=201, errors=(422,), summary="Add a partner hospital")
def create_hospital(ctx: Ctx):
    return partners.create_hospital(ctx.caller, ctx.body)


@api.route("/v1/admin/referrals/hospitals", "GET", roles=ADMIN, query="ListQuery", response=ListOf("HospitalOut"),
           summary="Active partner hospitals")
def list_hospitals(ctx: Ctx):
    return partners.list_hospitals(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/admin/referrals/hospitals/{hospital_id}", "GET", roles=ADMIN, response="HospitalOut",
           errors=(404,), summary="A partner hospital")
def get_hospital(ctx: Ctx, hospital_id: str):
    return partners.get_hospital_view(ctx.caller, hospital_id)


@api.route("/v1/admin/referrals/hospitals/{hospital_id}", "PUT", roles=ADMIN, request="HospitalIn",
           response="HospitalOut", errors=(404, 422),
           summary="Replace a partner hospital's details, contacts and availability windows")
def update_hospital(ctx: Ctx, hospital_id: str):
    return partners.update_hospital(ctx.caller, hospital_id, ctx.body)


@api.route("/v1/admin/referrals/cases", "GET", roles=ADMIN, query="ReferralQueueQuery", response=ListOf("ReferralCaseOut"),
           summary="Cases waiting for triage or for (re-)matching, oldest first")
def queue(ctx: Ctx):
    return matching.queue(ctx.caller, ctx.query.queue, ctx.query.limit, ctx.query.cursor)


@api.route(ADMIN_CASE + "/candidates", "GET", roles=ADMIN, response="Candidates", errors=(404,),
           summary="Surgeons (specialty, distance, travel dates, load) and hospitals (distance, OR windows)")
def candidates(ctx: Ctx, case_id: str):
    return partners.candidates(ctx.caller, case_id)


@api.route(ADMIN_CASE + "/propose", "POST", roles=ADMIN, request="Propose", response="ReferralCaseOut",
           errors=(404, 409, 422), summary="Propose a surgeon and a host hospital; the surgeon accepts or declines")
def propose(ctx: Ctx, case_id: str):
    return matching.propose(ctx.caller, case_id, ctx.body.surgeon_id, ctx.body.hospital_id, ctx.request_id)


@api.route(ADMIN_CASE + "/invitation", "POST", roles=ADMIN, request="DocRef", response="ReferralCaseOut",
           errors=(404, 409, 422), summary="Record the host hospital's written invitation (an uploaded document)")
def invitation(ctx: Ctx, case_id: str):
    return surgery.record_invitation(ctx.caller, case_id, ctx.body.doc_id)


@api.route(ADMIN_CASE + "/home-approval", "POST", roles=ADMIN, request="DocRef", response="ReferralCaseOut",
           errors=(404, 409, 422), summary="Record the surgeon's own hospital's approval on their behalf")
def admin_home_approval(ctx: Ctx, case_id: str):
    return surgery.record_approval(ctx.caller, case_id, ctx.body.doc_id)


@api.route(ADMIN_CASE + "/host-cancel", "POST", roles=ADMIN, request="ReasonIn", response="ReferralCaseOut",
           errors=(404, 409), summary="The host hospital cancelled: the case is matched again; everyone is told")
def host_cancel(ctx: Ctx, case_id: str):
    return matching.host_cancel(ctx.caller, case_id, ctx.body.reason)


@api.route(ADMIN_CASE + "/done", "POST", roles=ADMIN, request="DoneIn", response="ReferralCaseOut", errors=(404, 409),
           summary="Record the operation done on the surgeon's behalf")
def admin_done(ctx: Ctx, case_id: str):
    return surgery.record_done(ctx.caller, case_id)


@api.route(ADMIN_CASE + "/cancel", "POST", roles=ADMIN, request="CancelIn", response="ReferralCaseOut", errors=(404, 409),
           summary="Cancel with its cause: refunded unless the patient caused it after confirmation")
def admin_cancel(ctx: Ctx, case_id: str):
    return money.operator_cancel(ctx.caller, case_id, ctx.body.cause, ctx.body.reason)
