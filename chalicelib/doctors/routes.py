"""Doctors routes: applying, the public directory, and operator verification."""

from chalicelib.core.http import Api, Ctx, ListOf
from chalicelib.core.lazy import lazy_module

service = lazy_module("chalicelib.doctors.service")

api = Api("doctors")


@api.route("/v1/doctor/application", "POST", roles=("patient", "doctor"), request="DoctorApply",
           response="DoctorApplication", status=201, idempotent=True, errors=(400, 409),
           summary="Apply to practise on the platform (an operator verifies the licence)")
def apply(ctx: Ctx):
    return service.apply(ctx.caller, ctx.body)


@api.route("/v1/doctor/application", "GET", response="DoctorApplication", errors=(404,),
           summary="The caller's own doctor application and its status")
def my_application(ctx: Ctx):
    return service.my_application(ctx.caller)


@api.route("/v1/doctor/profile", "PATCH", roles=("doctor",), request="DoctorUpdate", response="DoctorApplication",
           summary="Update the verified doctor's public profile")
def update_profile(ctx: Ctx):
    return service.update_profile(ctx.caller, ctx.body)


@api.route("/v1/doctors", "GET", auth=False, query="DirectoryQuery", response=ListOf("DoctorCard"),
           summary="Directory of verified doctors")
def directory(ctx: Ctx):
    return service.directory(ctx.query)


@api.route("/v1/doctors/{doctor_id}", "GET", auth=False, response="DoctorCard", errors=(404,),
           summary="A verified doctor's public card")
def get_doctor(ctx: Ctx, doctor_id: str):
    return service.card(service.get_verified(doctor_id))


@api.route("/v1/admin/doctors", "GET", roles=("admin",), query="AdminDoctorQuery", response=ListOf("DoctorApplication"),
           summary="Operator queue of doctor applications by status")
def admin_list(ctx: Ctx):
    return service.admin_list(ctx.query.status, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/admin/doctors/{doctor_id}", "GET", roles=("admin",), response="DoctorApplication", errors=(404,),
           summary="One doctor application (operator)")
def admin_get(ctx: Ctx, doctor_id: str):
    return service.admin_get(doctor_id)


@api.route("/v1/admin/doctors/{doctor_id}/verify", "POST", roles=("admin",), response="DoctorApplication",
           errors=(404, 409), summary="Verify a doctor's licence; the doctor appears in the directory")
def verify(ctx: Ctx, doctor_id: str):
    return service.verify(ctx.caller, doctor_id)


@api.route("/v1/admin/doctors/{doctor_id}/reject", "POST", roles=("admin",), request="RejectRequest",
           response="DoctorApplication", errors=(404, 409), summary="Reject a doctor application with a reason")
def reject(ctx: Ctx, doctor_id: str):
    return service.reject(ctx.caller, doctor_id, ctx.body.reason)
