"""Bindings routes: doctor codes and QR images, the landing page, scan → binding, both sides' lists."""

from chalice import Response as HttpResponse

from chalicelib.core.errors import NotFound
from chalicelib.core.http import Api, Ctx, ListOf
from chalicelib.core.lazy import lazy_module

service = lazy_module("chalicelib.bindings.service")
landing = lazy_module("chalicelib.bindings.landing")

api = Api("bindings")
DOCTOR = ("doctor",)


# --- codes -----------------------------------------------------------------------------------

@api.route("/v1/doctor/codes/live", "POST", roles=DOCTOR, response="LiveCode", status=201,
           summary="A live code for the consulting room (valid 60 s; scanning it binds at once)")
def live_code(ctx: Ctx):
    return service.live_code(ctx.caller)


@api.route("/v1/doctor/codes/clinic", "POST", roles=DOCTOR, response="StoredCode", status=201,
           summary="Issue (or rotate) the printable clinic card; the previous card stops working")
def rotate_clinic(ctx: Ctx):
    return service.rotate_clinic_card(ctx.caller)


@api.route("/v1/doctor/codes/clinic", "GET", roles=DOCTOR, response="StoredCode", errors=(404,),
           summary="The current clinic card")
def get_clinic(ctx: Ctx):
    return service.get_clinic_card(ctx.caller)


@api.route("/v1/doctor/codes/clinic", "DELETE", roles=DOCTOR, response="StoredCode", errors=(404,),
           summary="Revoke the clinic card")
def revoke_clinic(ctx: Ctx):
    return service.revoke_clinic_card(ctx.caller)


@api.route("/v1/doctor/codes/slips", "POST", roles=DOCTOR, request="SlipCreate", response="StoredCode",
           status=201, summary="A one-time visit slip (≤24 h), optionally tied to the patient's phone")
def create_slip(ctx: Ctx):
    return service.create_slip(ctx.caller, ctx.body)


def _qr(ctx: Ctx, code: str, kind: str, content_type: str) -> HttpResponse:
    code = service.owned_code(ctx.caller, code)
    image = landing.qr_image(service._url(code), kind)
    return HttpResponse(body=image if kind == "png" else image.decode(), status_code=200,
                        headers={"Content-Type": content_type, "Cache-Control": "no-store"})


@api.route("/v1/doctor/codes/{code}/qr.png", "GET", roles=DOCTOR, produces="image/png", errors=(404,),
           summary="QR image (PNG) of one of the doctor's codes")
def qr_png(ctx: Ctx, code: str):
    return _qr(ctx, code, "png", "image/png")


@api.route("/v1/doctor/codes/{code}/qr.svg", "GET", roles=DOCTOR, produces="image/svg+xml", errors=(404,),
           summary="QR image (SVG) of one of the doctor's codes")
def qr_svg(ctx: Ctx, code: str):
    return _qr(ctx, code, "svg", "image/svg+xml")


@api.route("/b/{code}", "GET", auth=False, produces="text/html", errors=(404,),
           summary="Landing page a binding QR code opens (zh-CN, mobile)")
def landing_page(ctx: Ctx, code: str):
    headers: dict[str, str | list[str]] = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
    try:
        kind, doctor = service.resolve_code(code)
    except NotFound as exc:
        return HttpResponse(body=landing.invalid_page(exc.code), status_code=404, headers=headers)
    return HttpResponse(body=landing.doctor_page(code, kind, doctor), status_code=200, headers=headers)


@api.route("/v1/consents/{kind}", "GET", auth=False, response="ConsentOut", errors=(404,),
           summary="A consent text and its current version (kind: binding — sharing health data with the doctor)")
def consent(ctx: Ctx, kind: str):
    return service.consent_text(kind)


@api.route("/v1/codes/{code}", "GET", roles=("patient",), response="CodeInfo", errors=(404,),
           summary="What a scanned code is (doctor card and kind), before binding")
def code_info(ctx: Ctx, code: str):
    return service.code_info(code)


# --- patient side ----------------------------------------------------------------------------

@api.route("/v1/bindings", "POST", roles=("patient",), request="ScanRequest", response="ScanResult", status=201,
           errors=(404, 409, 422, 429), summary="Scan a doctor's code: bind a managed profile to that doctor")
def scan(ctx: Ctx):
    status, result = service.scan(ctx.caller, ctx.body, ctx.request_id)
    return HttpResponse(body=result.model_dump(mode="json"), status_code=status,
                        headers={"Content-Type": "application/json"})


@api.route("/v1/bindings", "GET", roles=("patient",), query="StatusQuery", response=ListOf("BindingOut"),
           summary="My doctors (bindings of the profiles this account manages)")
def my_doctors(ctx: Ctx):
    q = ctx.query
    return service.my_doctors(ctx.caller, q.status, q.limit, q.cursor)


@api.route("/v1/bindings/{binding_id}", "GET", response="BindingDetail", errors=(404,),
           summary="One binding with its visit evidence (participants and operators; audited)")
def detail(ctx: Ctx, binding_id: str):
    return service.detail(ctx.caller, binding_id, ctx.request_id)


@api.route("/v1/bindings/{binding_id}/end", "POST", roles=("patient",), response="BindingOut", errors=(404, 409),
           summary="End a binding (or withdraw a pending request)")
def end(ctx: Ctx, binding_id: str):
    return service.end(ctx.caller, binding_id, ctx.request_id)


# --- doctor side -----------------------------------------------------------------------------

@api.route("/v1/doctor/patients", "GET", roles=DOCTOR, query="PatientsQuery", response=ListOf("BindingOut"),
           summary="The doctor's bound patients (filter by group); to search by name use POST …/patients/search")
def patients(ctx: Ctx):
    q = ctx.query
    return service.patients(ctx.caller, q.group, None, q.limit, q.cursor)


@api.route("/v1/doctor/patients/search", "POST", roles=DOCTOR, request="PatientSearch", response=ListOf("BindingOut"),
           summary="Search the doctor's bound patients by name (in the body: a name never goes in a URL)")
def search_patients(ctx: Ctx):
    b = ctx.body
    return service.patients(ctx.caller, b.group, b.q, b.limit, b.cursor)


@api.route("/v1/admin/doctors/{doctor_id}/bindings", "GET", roles=("admin",), query="StatusQuery",
           response=ListOf("BindingOut"), summary="Operators: a doctor's bindings in one status (for disputes); audited")
def admin_doctor_bindings(ctx: Ctx, doctor_id: str):
    q = ctx.query
    return service.doctor_bindings_for_operator(ctx.caller, doctor_id, q.status, q.limit, q.cursor, ctx.request_id)


@api.route("/v1/doctor/binding-requests", "GET", roles=DOCTOR, query="ListQuery", response=ListOf("BindingDetail"),
           summary="Pending binding requests with their visit evidence (audited)")
def pending(ctx: Ctx):
    return service.pending_requests(ctx.caller, ctx.request_id, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/doctor/bindings/{binding_id}/approve", "POST", roles=DOCTOR, response="BindingOut",
           errors=(404, 409), summary="Approve a pending request; the free follow-up window starts")
def approve(ctx: Ctx, binding_id: str):
    return service.approve(ctx.caller, binding_id, ctx.request_id)


@api.route("/v1/doctor/bindings/{binding_id}/reject", "POST", roles=DOCTOR, request="RejectBody",
           response="BindingOut", errors=(404, 409), summary="Reject a pending request with a reason")
def reject(ctx: Ctx, binding_id: str):
    return service.reject(ctx.caller, binding_id, ctx.body.reason, ctx.request_id)


@api.route("/v1/doctor/bindings/{binding_id}/block", "POST", roles=DOCTOR, response="BindingOut",
           errors=(404, 409), summary="Block a patient (no messages, no re-binding)")
def block(ctx: Ctx, binding_id: str):
    return service.block(ctx.caller, binding_id, ctx.request_id)


@api.route("/v1/doctor/bindings/{binding_id}/unblock", "POST", roles=DOCTOR, response="BindingOut",
           errors=(404, 409), summary="Unblock a patient")
def unblock(ctx: Ctx, binding_id: str):
    return service.unblock(ctx.caller, binding_id, ctx.request_id)


@api.route("/v1/doctor/bindings/{binding_id}/groups", "PUT", roles=DOCTOR, request="GroupsBody",
           response="BindingOut", errors=(404, 422), summary="Set a patient's groups/tags (患者分组)")
def set_groups(ctx: Ctx, binding_id: str):
    return service.set_groups(ctx.caller, binding_id, ctx.body.groups)


@api.route("/v1/doctor/follow-up-settings", "GET", roles=DOCTOR, response="FollowUpSettings",
           summary="Free follow-up window and visit window settings")
def get_settings(ctx: Ctx):
    return service.get_settings_for(ctx.caller)


@api.route("/v1/doctor/follow-up-settings", "PUT", roles=DOCTOR, request="FollowUpSettingsUpdate",
           response="FollowUpSettings", summary="Set free follow-up days/messages and the visit window")
def put_settings(ctx: Ctx):
    b = ctx.body
    return service.update_settings(ctx.caller, b.free_days, b.free_messages, b.visit_window_days)
