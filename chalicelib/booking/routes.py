"""Booking (加号) routes: sessions, bookings, waitlist, requests, attendance, check-in QR and .ics."""

from chalice import Response as HttpResponse

from chalicelib.core.http import Api, Ctx, ListOf
from chalicelib.core.lazy import lazy_module

service = lazy_module("chalicelib.booking.service")

api = Api("booking")
DOCTOR = ("doctor",)
PATIENT = ("patient",)


# --- doctor: sessions ------------------------------------------------------------------------

@api.route("/v1/doctor/booking/sessions", "POST", roles=DOCTOR, request="SessionCreate", response="SessionOut",
           status=201, idempotent=True, errors=(404, 422),
           summary="Publish an extra session (加号): date and times in Asia/Shanghai, place, capacity, fee")
def publish(ctx: Ctx):
    return service.publish_session(ctx.caller, ctx.body)


@api.route("/v1/doctor/booking/sessions", "GET", roles=DOCTOR, query="SessionsQuery", response=ListOf("SessionOut"),
           summary="The doctor's own sessions by status, soonest first")
def my_sessions(ctx: Ctx):
    q = ctx.query
    return service.my_sessions(ctx.caller, q.status, q.limit, q.cursor)


@api.route("/v1/doctor/booking/sessions/{session_id}", "PATCH", roles=DOCTOR, request="SessionUpdate",
           response="SessionOut", errors=(404, 409),
           summary="Edit a session (capacity never below the seats taken: 409)")
def update(ctx: Ctx, session_id: str):
    return service.update_session(ctx.caller, session_id, ctx.body)


@api.route("/v1/doctor/booking/sessions/{session_id}/cancel", "POST", roles=DOCTOR, request="Reason",
           response="SessionOut", errors=(404, 409),
           summary="Cancel a session: every paid booking refunded in full, unpaid orders closed, patients told")
def cancel_session(ctx: Ctx, session_id: str):
    return service.cancel_session(ctx.caller, session_id, ctx.body.reason)


@api.route("/v1/doctor/booking/sessions/{session_id}/bookings", "GET", roles=("doctor", "admin"),
           query="ListQuery", response=ListOf("RosterEntry"), errors=(404,),
           summary="Who is booked in a session, with each patient's name (the doctor's own; operators)")
def roster(ctx: Ctx, session_id: str):
    return service.roster(ctx.caller, session_id, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/doctor/booking/demand", "GET", roles=DOCTOR, query="DemandQuery", response="Demand",
           summary="Demand (the doctor's own): per day and part of day the weighted demand, distinct patients, "
                   "open sessions, free seats and waitlist; a page of open 加号 requests with patients' names")
def demand(ctx: Ctx):
    return service.demand(ctx.caller, ctx.query, ctx.request_id)


@api.route("/v1/doctor/booking/requests/{request_id}/accept", "POST", roles=DOCTOR, request="Accept",
           response="BookingOut", status=201, errors=(404, 409, 422, 429),
           summary="Accept a 加号 request by assigning a session: the patient gets a hold to pay")
def accept(ctx: Ctx, request_id: str):
    return service.accept_request(ctx.caller, request_id, ctx.body.session_id)


@api.route("/v1/doctor/booking/requests/{request_id}/decline", "POST", roles=DOCTOR, request="Reason",
           response="RequestOut", errors=(404, 409), summary="Decline a 加号 request with a reason")
def decline(ctx: Ctx, request_id: str):
    return service.decline_request(ctx.caller, request_id, ctx.body.reason)


@api.route("/v1/doctor/booking/bookings/{booking_id}/attendance", "POST", roles=DOCTOR, request="Attendance",
           response="BookingOut", errors=(404, 409, 422), summary="Mark a confirmed booking checked in or no-show")
def attendance(ctx: Ctx, booking_id: str):
    return service.mark_attendance(ctx.caller, booking_id, ctx.body.status, ctx.body.code)


@api.route("/v1/doctor/booking/checkin", "POST", roles=DOCTOR, request="CheckIn", response="BookingOut",
           errors=(404, 409, 422), summary="Check a patient in by the code scanned from their phone")
def checkin(ctx: Ctx):
    return service.check_in_by_code(ctx.caller, ctx.body.code)


# --- patients: sessions, bookings, waitlist --------------------------------------------------

@api.route("/v1/doctors/{doctor_id}/booking/sessions", "GET", query="ListQuery", response=ListOf("SessionOut"),
           summary="A doctor's open sessions that have not started (one Query)")
def open_sessions(ctx: Ctx, doctor_id: str):
    return service.open_sessions(doctor_id, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/booking/sessions/{session_id}", "GET", response="SessionOut", errors=(404,),
           summary="One session")
def get_session(ctx: Ctx, session_id: str):
    return service.get_session(ctx.caller, session_id)


@api.route("/v1/booking/sessions/{session_id}/book", "POST", roles=PATIENT, request="BookRequest",
           response="BookingOut", status=201, idempotent=True, errors=(404, 409, 422, 429),
           summary="Book a seat for a managed profile: a hold until the order expires (free sessions confirm at once)")
def book(ctx: Ctx, session_id: str):
    return service.book(ctx.caller, session_id, ctx.body.profile_id)


@api.route("/v1/booking/sessions/{session_id}/waitlist", "POST", roles=PATIENT, request="BookRequest",
           response="WaitlistOut", status=201, errors=(404, 409, 422),
           summary="Join the waitlist of a full session; a freed seat is offered as a new hold")
def join_waitlist(ctx: Ctx, session_id: str):
    return service.join_waitlist(ctx.caller, session_id, ctx.body.profile_id)


@api.route("/v1/booking/sessions/{session_id}/waitlist/{entry_id}", "DELETE", roles=PATIENT, response="Ok",
           errors=(404,), summary="Leave a waitlist")
def leave_waitlist(ctx: Ctx, session_id: str, entry_id: str):
    from chalicelib.core.schemas import Ok

    service.leave_waitlist(ctx.caller, session_id, entry_id)
    return Ok()


@api.route("/v1/booking/bookings", "GET", roles=PATIENT, query="ListQuery", response=ListOf("BookingOut"),
           summary="My bookings (every profile this account manages), newest first")
def my_bookings(ctx: Ctx):
    return service.my_bookings(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/booking/bookings/{booking_id}", "GET", response="BookingOut", errors=(404,),
           summary="One booking (its patient account, its doctor, operators)")
def get_booking(ctx: Ctx, booking_id: str):
    return service.get_booking(ctx.caller, booking_id)


@api.route("/v1/booking/bookings/{booking_id}/cancel", "POST", roles=PATIENT, response="BookingOut",
           errors=(404, 409, 422), summary="Cancel: free and fully refunded up to 24 h before the start")
def cancel_booking(ctx: Ctx, booking_id: str):
    return service.cancel_booking(ctx.caller, booking_id)


@api.route("/v1/booking/bookings/{booking_id}/checkin.png", "GET", roles=PATIENT, produces="image/png",
           errors=(404, 409), summary="Check-in code of a confirmed booking as a QR image (PNG)")
def checkin_png(ctx: Ctx, booking_id: str):
    return HttpResponse(body=service.checkin_png(ctx.caller, booking_id), status_code=200,
                        headers={"Content-Type": "image/png", "Cache-Control": "no-store"})


@api.route("/v1/booking/bookings/{booking_id}/calendar.ics", "GET", roles=PATIENT, produces="text/calendar",
           errors=(404, 409), summary="The booking as an iCalendar (.ics) event")
def calendar(ctx: Ctx, booking_id: str):
    return HttpResponse(body=service.calendar_ics(ctx.caller, booking_id).decode(), status_code=200,
                        headers={"Content-Type": "text/calendar; charset=utf-8",
                                 "Content-Disposition": f'attachment; filename="booking-{booking_id}.ics"'})


# --- patients: 加号 requests ------------------------------------------------------------------

@api.route("/v1/booking/requests", "POST", roles=PATIENT, request="RequestCreate", response="RequestOut",
           status=201, idempotent=True, errors=(404, 409, 422),
           summary="Request 加号 from a bound doctor: dates, parts of day, reason, attachments "
                   "(open until the range ends; a reminder on its last day)")
def create_request(ctx: Ctx):
    return service.create_request(ctx.caller, ctx.body)


@api.route("/v1/booking/requests", "GET", roles=PATIENT, query="ListQuery", response=ListOf("RequestOut"),
           summary="My 加号 requests, newest first")
def my_requests(ctx: Ctx):
    return service.my_requests(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/booking/requests/{request_id}/withdraw", "POST", roles=PATIENT, response="RequestOut",
           errors=(404, 409), summary="Withdraw my open 加号 request")
def withdraw_request(ctx: Ctx, request_id: str):
    return service.withdraw_request(ctx.caller, request_id)
