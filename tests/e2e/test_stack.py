"""End to end over HTTP against the real local stack: moto server, chalice local, the outbox
dispatcher, the scheduler tick and the sandbox payment provider, as `make run` starts them."""

import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]


def until(fn, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("condition not reached")


def test_login_profile_doctor_verify_directory_bind_pay(stack):
    patient = stack.login("13900000002")  # a demo patient
    tok = patient["access_token"]
    status, me = stack.call("GET", "/v1/me", token=tok)
    assert status == 200 and me["phone_masked"] == "139****0002"
    status, child = stack.call("POST", "/v1/me/profiles", {"relation": "child", "real_name": "刘小小", "gender": "male",
                                                           "birth_date": "2019-06-01"}, token=tok)
    assert status == 201

    applicant = stack.login("13700009999")
    status, app = stack.call("POST", "/v1/doctor/application", {
        "name": "陈医生", "hospital": "四川大学华西医院", "department": "神经内科", "title": "attending",
        "licence_no": "510000200101"}, token=applicant["access_token"])
    assert status == 201 and app["status"] == "pending"
    admin = stack.login("13800000000")
    status, _ = stack.call("POST", f"/v1/admin/doctors/{app['doctor_id']}/verify", token=admin["access_token"])
    assert status == 200
    status, found = stack.call("GET", "/v1/doctors?hospital=%E5%9B%9B%E5%B7%9D%E5%A4%A7%E5%AD%A6%E5%8D%8E%E8%A5%BF%E5%8C%BB%E9%99%A2")
    assert [d["name"] for d in found["items"]] == ["陈医生"]

    # the new doctor (role refreshed) shows a live code; the patient binds the child's profile
    status, doctor = stack.call("POST", "/v1/auth/refresh", {"refresh_token": applicant["refresh_token"]})
    dtok = doctor["access_token"]
    assert doctor["account"]["role"] == "doctor"
    status, code = stack.call("POST", "/v1/doctor/codes/live", token=dtok)
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
    status, binding = stack.call("POST", "/v1/bindings", {
        "code": code["code"], "profile_id": child["profile_id"], "visit_date": today, "visit_type": "outpatient",
        "hospital": "四川大学华西医院", "consent": {"accepted": True, "version": "2026-01"}}, token=tok)
    assert status == 201 and binding["status"] == "active"

    # the dispatcher delivers binding.activated: the conversation appears
    convs = until(lambda: stack.call("GET", "/v1/conversations", token=tok)[1]["items"])
    conv = convs[0]["conversation_id"]
    assert stack.call("POST", f"/v1/conversations/{conv}/messages", {"text": "医生好"}, token=tok)[0] == 201

    # a paid consultation through the sandbox provider's signed callback
    stack.call("PUT", "/v1/doctor/consultation-package", {"price_fen": 2000}, token=dtok)
    status, consult = stack.call("POST", f"/v1/conversations/{conv}/consultations", token=tok)
    assert status == 201
    # the order was made by payments' call function (Lambda Invoke into the devstack process), not
    # by the API process: its DynamoDB calls count under that function
    assert stack.call("GET", "/dev/calls", token=tok)[1]["dynamodb"]["call-payments"]["TransactWriteItems"] >= 1
    status, params = stack.call("POST", f"/v1/orders/{consult['order_id']}/pay", {"channel": "wechat_app"}, token=tok)
    assert status == 200 and params["params"]["prepayid"]
    status, delivered = stack.call("POST", "/sandbox/pay", {"order_id": consult["order_id"]}, base=stack.sandbox)
    assert delivered == {"delivered": True, "api_status": 204}
    assert stack.call("GET", f"/v1/orders/{consult['order_id']}", token=tok)[1]["status"] == "paid"
    until(lambda: stack.call("GET", f"/v1/conversations/{conv}", token=tok)[1]["consultation_id"])


def test_landing_page_and_openapi(stack):
    status, doc = stack.call("GET", "/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    doctor = stack.login("13800000002")  # demo doctor 李秀英 (no other e2e test logs her in)
    status, code = stack.call("POST", "/v1/doctor/codes/live", token=doctor["access_token"])
    assert status == 201, code
    status, page = stack.call("GET", f"/b/{code['code']}")
    assert status == 200 and "李秀英" in page.decode() and 'lang="zh-CN"' in page.decode()
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(stack.base + "/b/not-a-code", timeout=30)
        raise AssertionError("an invalid code's page answered 2xx")
    except urllib.error.HTTPError as e:
        assert e.code == 404 and "二维码无效" in e.read().decode()


def test_booking_paid_confirmed_calendar_then_cancelled_and_refunded(stack):
    """加号 over HTTP: a demo doctor publishes a paid session, a bound demo patient books it, pays
    through the sandbox, the dispatcher confirms the booking, and cancelling refunds in full."""
    doctor = stack.login("13800000001")
    dtok = doctor["access_token"]
    patient = stack.login("13900000001")
    tok = patient["access_token"]
    me = stack.call("GET", "/v1/me", token=tok)[1]
    profile = next(p for p in me["profiles"] if p["relation"] == "self")["profile_id"]
    code = stack.call("POST", "/v1/doctor/codes/live", token=dtok)[1]["code"]
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
    status, binding = stack.call("POST", "/v1/bindings", {
        "code": code, "profile_id": profile, "visit_date": today, "visit_type": "outpatient",
        "hospital": "北京协和医院", "consent": {"accepted": True, "version": "2026-01"}}, token=tok)
    assert status in (200, 201) and binding["status"] == "active"

    in_three_days = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600 + 3 * 86400))
    status, session = stack.call("POST", "/v1/doctor/booking/sessions", {
        "date": in_three_days, "start_time": "14:00", "end_time": "16:00", "hospital": "北京协和医院",
        "campus": "东单院区", "room": "门诊楼 2 层 8 诊室", "capacity": 1, "fee_fen": 3000}, token=dtok)
    assert status == 201, session
    status, booking = stack.call("POST", f"/v1/booking/sessions/{session['session_id']}/book",
                                 {"profile_id": profile}, token=tok)
    assert status == 201 and booking["status"] == "held" and booking["amount_fen"] == 3000, booking
    assert stack.call("POST", f"/v1/orders/{booking['order_id']}/pay", {"channel": "wechat_app"}, token=tok)[0] == 200
    status, delivered = stack.call("POST", "/sandbox/pay", {"order_id": booking["order_id"]}, base=stack.sandbox)
    assert delivered == {"delivered": True, "api_status": 204}
    path = f"/v1/booking/bookings/{booking['booking_id']}"
    until(lambda: stack.call("GET", path, token=tok)[1]["status"] == "confirmed")

    status, ics = stack.call("GET", path + "/calendar.ics", token=tok)
    assert status == 200 and ics.startswith(b"BEGIN:VCALENDAR") and "北京协和医院".encode() in ics, ics
    status, png = stack.call("GET", path + "/checkin.png", token=tok, accept="image/png")  # binary: API Gateway asks
    assert status == 200 and png.startswith(b"\x89PNG")

    status, cancelled = stack.call("POST", path + "/cancel", token=tok)
    assert status == 200 and cancelled["status"] == "cancelled", cancelled
    until(lambda: stack.call("GET", f"/v1/orders/{booking['order_id']}", token=tok)[1]["refunded_fen"] == 3000)


def test_gateway_refusals_answer_in_our_error_envelope(stack):
    """What API Gateway itself refuses (no token, unknown route) answers as the deployed template
    declares, not chalice local's {"message": "Unauthorized"}; an invalid token is our own 401."""
    for token, code in ((None, "unauthorized"), ("not-a-token", "invalid_token")):
        status, body = stack.call("GET", "/v1/me", token=token)
        assert status == 401 and set(body) == {"error"}, body
        assert body["error"]["code"] == code and body["error"]["message"] and body["error"]["request_id"], body
    status, body = stack.call("GET", "/v1/no-such-route")
    assert status == 404 and body["error"]["code"] == "not_found" and body["error"]["request_id"], body
