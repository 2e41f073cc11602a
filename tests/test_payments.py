"""Payments: orders, WeChat Pay v3 callbacks, refunds, expiry, reconciliation, the ledger."""

import json

import pytest

from chalicelib.core import timers
from chalicelib.payments import service, wechat
from chalicelib.payments.models import LedgerEntry, Order
from tests.doctors_support import make_admin, make_doctor, make_patient
from tests.payments_support import deliver, pay, start_payment, wxpay  # noqa: F401
from tests.support import count_ddb_calls


@pytest.fixture
def people(api):
    admin = make_admin(api)
    return admin, make_doctor(api, admin), make_patient(api), make_patient(api)


def order_for(patient, doctor, amount=4800, product="consultation"):
    return service.create_order(payer_account_id=patient.account_id, product_type=product, product_id="p-" + patient.account_id,
                                amount_fen=amount, doctor_id=doctor.account_id, description="图文问诊")


def ledger_total(order_id=None):
    return sum(int(e.amount_fen) for e in LedgerEntry.scan() if order_id is None or e.order_id == order_id)


def test_pay_records_once_and_credits_ledger(api, people, wxpay, drain):
    _, doctor, alice, _ = people
    o = order_for(alice, doctor)
    params = start_payment(api, alice, o.order_id)["params"]
    assert params["prepayid"].startswith("wx") and params["sign"]
    headers, body = wxpay.pay(o.order_id)
    assert deliver(api, headers, body).status == 204
    assert Order.get(o.order_id).status == "paid"
    assert drain().count("order.paid") == 1
    entries = {e.party: int(e.amount_fen) for e in LedgerEntry.scan()}
    assert entries == {f"doctor#{doctor.account_id}": 4320, "platform": 480}
    # the provider retries the same notification: nothing changes, no second event
    assert deliver(api, headers, body).status == 204
    assert deliver(api, *wxpay.pay(o.order_id)).status == 204
    assert drain() == [] and ledger_total() == 4800


def test_notification_probes_are_refused(api, people, wxpay, clock):
    _, doctor, alice, _ = people
    o = order_for(alice, doctor)
    start_payment(api, alice, o.order_id)
    headers, body = wxpay.pay(o.order_id)
    calls_before = len(wxpay.calls)
    tampered = body.replace(b'"resource_type": "encrypt-resource"', b'"resource_type": "encrypt-resourcE"')
    assert tampered != body
    assert deliver(api, headers, tampered).status == 401
    reserialised = json.dumps(json.loads(body), indent=2).encode()
    assert deliver(api, headers, reserialised).status == 401
    assert deliver(api, {**headers, "Wechatpay-Serial": "UNKNOWN"}, body).status == 401
    assert deliver(api, {**headers, "Wechatpay-Signature": "AAAA"}, body).status == 401
    assert deliver(api, {"Content-Type": "application/json"}, body).status == 401
    # a signature type the service does not support is refused even when the RSA signature is good
    sm2 = wxpay.signed_headers(body, signature_type="WECHATPAY2-SM2-WITH-SM3")
    assert deliver(api, sm2, body).status == 401
    assert len(wxpay.calls) == calls_before  # no outbound call for a refused notification
    stale_headers = wxpay.signed_headers(body, ts=int(clock.now().timestamp()) - 301)
    assert deliver(api, stale_headers, body).status == 401
    assert Order.get(o.order_id).status == "created"
    assert deliver(api, headers, body).status == 204


def test_authentic_but_mismatched_notifications_rejected(api, people, wxpay):
    _, doctor, alice, _ = people
    o = order_for(alice, doctor)
    start_payment(api, alice, o.order_id)
    base = {"mchid": wxpay.mchid, "appid": wxpay.appid, "out_trade_no": o.order_id, "transaction_id": "4200001",
            "trade_state": "SUCCESS", "amount": {"total": 4800, "payer_total": 4800, "currency": "CNY"}}
    for bad in ({"amount": {"total": 1, "payer_total": 1, "currency": "CNY"}}, {"mchid": "1900009999"},
                {"appid": "wxother"}, {"out_trade_no": "01UNKNOWNORDER000000000000"}):
        r = deliver(api, *wxpay.notification("TRANSACTION.SUCCESS", {**base, **bad}, "transaction"))
        assert r.status == 400 and r.body["code"] == "FAIL", bad
    assert Order.get(o.order_id).status == "created"


def test_callback_budget(api, people, wxpay):
    _, doctor, alice, _ = people
    with count_ddb_calls() as calls:
        o = order_for(alice, doctor)
    assert len(calls) <= 2, calls
    start_payment(api, alice, o.order_id)
    headers, body = wxpay.pay(o.order_id)
    with count_ddb_calls() as calls:
        assert deliver(api, headers, body).status == 204
    assert len(calls) <= 3 and calls.count("TransactWriteItems") == 1, calls


def test_refunds_partial_full_and_double_click(api, people, wxpay, drain):
    _, doctor, alice, _ = people
    o = order_for(alice, doctor, amount=10000)
    pay(api, wxpay, alice, o.order_id)
    r1 = service.refund(order_id=o.order_id, amount_fen=3000, reason="部分退款", request_key="k1")
    again = service.refund(order_id=o.order_id, amount_fen=3000, reason="部分退款", request_key="k1")
    assert r1.refund_id == again.refund_id
    assert [c for c in wxpay.calls if c[1] == "/v3/refund/domestic/refunds"] == [("POST", "/v3/refund/domestic/refunds")]
    # another refund while one is in flight is a conflict
    with pytest.raises(service.Conflict):
        service.refund(order_id=o.order_id, amount_fen=100, reason="x", request_key="k2")
    assert deliver(api, *wxpay.complete_refund(r1.refund_id), path="/v1/payments/wechat/refund-notify").status == 204
    o2 = Order.get(o.order_id)
    assert (o2.status, o2.refunded_fen) == ("refunded", 3000)
    with pytest.raises(service.Unprocessable):
        service.refund(order_id=o.order_id, amount_fen=7001, reason="too much", request_key="k3")
    r2 = service.refund(order_id=o.order_id, amount_fen=None, reason="余额退款", request_key="k4")
    assert int(r2.amount_fen) == 7000
    assert deliver(api, *wxpay.complete_refund(r2.refund_id), path="/v1/payments/wechat/refund-notify").status == 204
    assert Order.get(o.order_id).refunded_fen == 10000
    assert ledger_total(o.order_id) == 0
    doctor_sum = sum(int(e.amount_fen) for e in LedgerEntry.scan() if e.party.startswith("doctor#"))
    assert doctor_sum == 0
    assert drain().count("order.refunded") == 2


def test_unpaid_order_expires_and_closes(api, people, wxpay, drain, clock):
    _, doctor, alice, _ = people
    o = order_for(alice, doctor)
    clock.advance(minutes=16)
    timers.sweep()
    drain()
    assert Order.get(o.order_id).status == "closed"
    assert api.post(f"/v1/orders/{o.order_id}/pay", {"channel": "wechat_app"}, token=alice.token).status == 409


def test_late_payment_is_refunded(api, people, wxpay, drain, clock):
    _, doctor, alice, _ = people
    o = order_for(alice, doctor)
    start_payment(api, alice, o.order_id)
    clock.advance(minutes=16)
    timers.sweep()
    assert "order.closed" in drain()
    wxpay.orders[o.order_id]["state"] = "NOTPAY"  # the payment raced the close at the provider
    headers, body = wxpay.pay(o.order_id)
    assert deliver(api, headers, body).status == 204
    drain()
    refund = next(iter(wxpay.refunds))
    assert deliver(api, *wxpay.complete_refund(refund), path="/v1/payments/wechat/refund-notify").status == 204
    o2 = Order.get(o.order_id)
    assert o2.late_payment and o2.status == "refunded" and o2.refunded_fen == 4800
    assert ledger_total(o.order_id) == 0


def test_reconciliation_settles_missed_notification(api, people, wxpay, drain, clock):
    _, doctor, alice, _ = people
    o = order_for(alice, doctor)
    start_payment(api, alice, o.order_id)
    wxpay.pay(o.order_id)  # paid at the provider, notification lost
    clock.advance(minutes=4)
    timers.sweep()
    drain()
    assert Order.get(o.order_id).status == "paid"
    assert service.reconcile_order(o.order_id) == "paid"  # re-running changes nothing
    assert ledger_total() == 4800


def test_refund_reconciliation(api, people, wxpay, drain, clock):
    _, doctor, alice, _ = people
    o = order_for(alice, doctor)
    pay(api, wxpay, alice, o.order_id)
    r = service.refund(order_id=o.order_id, amount_fen=None, reason="医生未回复", request_key="deadline")
    wxpay.refunds[r.refund_id]["status"] = "SUCCESS"  # succeeded at the provider; notification lost
    clock.advance(minutes=3)
    timers.sweep()
    drain()
    assert Order.get(o.order_id).status == "refunded"
    assert service.reconcile_refund(r.refund_id) == "succeeded"


def test_free_order_is_paid_at_once(api, people, drain):
    _, doctor, alice, _ = people
    o = order_for(alice, doctor, amount=0, product="booking")
    assert o.status == "paid" and drain() == ["order.paid"]


def test_close_order_by_domain(api, people, wxpay, drain):
    _, doctor, alice, _ = people
    o = order_for(alice, doctor)
    start_payment(api, alice, o.order_id)
    assert service.close_order(o.order_id, "hold cancelled").status == "closed"
    assert service.close_order(o.order_id, "again").status == "closed"
    assert wxpay.orders[o.order_id]["state"] == "CLOSED"
    o2 = order_for(alice, doctor)
    pay(api, wxpay, alice, o2.order_id)
    with pytest.raises(service.Conflict):
        service.close_order(o2.order_id, "too late")


def test_earnings_statement(api, people, wxpay, clock):
    _, doctor, alice, bob = people
    for p in (alice, bob):
        pay(api, wxpay, p, order_for(p, doctor, amount=2000).order_id)
    month = clock.now().astimezone().strftime("%Y-%m")
    r = api.get(f"/v1/doctor/earnings?month={month}", token=doctor.token)
    assert r.status == 200 and r.body["net_fen"] == 3600 and len(r.body["entries"]) == 2
    assert (r.body["gross_fen"], r.body["fee_fen"]) == (4000, 400)
    for line in r.body["entries"]:  # each line shows what the patient paid, the platform's fee and the net
        assert (line["gross_fen"], line["fee_fen"], line["net_fen"]) == (2000, 200, 1800)
    assert api.get("/v1/doctor/earnings?month=2026-13", token=doctor.token).status == 400


def test_jsapi_params_and_alipay_order_string(api, people, wxpay):
    _, doctor, alice, _ = people
    o = order_for(alice, doctor)
    r = api.post(f"/v1/orders/{o.order_id}/pay", {"channel": "wechat_jsapi"}, token=alice.token)
    assert r.status == 422 and r.error_code == "openid_required"
    r = api.post(f"/v1/orders/{o.order_id}/pay", {"channel": "wechat_jsapi", "openid": "o123"}, token=alice.token)
    p = r.body["params"]
    assert p["package"].startswith("prepay_id=") and p["signType"] == "RSA"
    # the paySign verifies with the merchant's public key over appId\ntimeStamp\nnonceStr\npackage\n
    message = f"{p['appId']}\n{p['timeStamp']}\n{p['nonceStr']}\n{p['package']}\n".encode()
    assert wechat.verify(wxpay.merchant_key, message, p["paySign"])


def test_authorization_matrix(api, people, wxpay):
    admin, doctor, alice, bob = people
    o = order_for(alice, doctor)
    assert api.get(f"/v1/orders/{o.order_id}", token=alice.token).status == 200
    assert api.get(f"/v1/orders/{o.order_id}", token=admin.token).status == 200
    assert api.get(f"/v1/orders/{o.order_id}", token=bob.token).status == 404
    assert api.get(f"/v1/orders/{o.order_id}", token=doctor.token).status == 404
    assert api.post(f"/v1/orders/{o.order_id}/pay", {"channel": "wechat_app"}, token=bob.token).status == 404
    assert [x["order_id"] for x in api.get("/v1/orders", token=alice.token).body["items"]] == [o.order_id]
    assert api.get("/v1/orders", token=bob.token).body["items"] == []
    assert api.get("/v1/doctor/earnings?month=2026-11", token=alice.token).status == 403
    assert api.get(f"/v1/admin/orders/{o.order_id}", token=alice.token).status == 403
    assert api.post(f"/v1/admin/orders/{o.order_id}/refund", {"reason": "纠纷"}, token=doctor.token).status == 403
    # operator refund of an unpaid order: conflict; of a paid one: created once per Idempotency-Key
    assert api.post(f"/v1/admin/orders/{o.order_id}/refund", {"reason": "纠纷"}, token=admin.token).status == 409
    pay(api, wxpay, alice, o.order_id)
    h = {"Idempotency-Key": "dispute-1"}
    r1 = api.post(f"/v1/admin/orders/{o.order_id}/refund", {"reason": "纠纷", "amount_fen": 800}, token=admin.token, headers=h)
    r2 = api.post(f"/v1/admin/orders/{o.order_id}/refund", {"reason": "纠纷", "amount_fen": 800}, token=admin.token, headers=h)
    assert r1.status == r2.status == 201 and r1.body["refund_id"] == r2.body["refund_id"]


def test_callback_answered_500_is_retried_on_wechat_schedule_and_credited_once(api, people, wxpay, drain, clock,
                                                                              monkeypatch):
    """The sandbox retries like WeChat Pay (15 s, 15 s, 30 s, … until a 2xx) on the clock; the
    API's first answer is a real 500 (the durable write failed), the retry is credited once."""
    from urllib.parse import urlsplit

    from chalicelib.payments.sandbox import RETRY_AFTER_S

    _, doctor, alice, _ = people
    o = order_for(alice, doctor)
    start_payment(api, alice, o.order_id)
    wxpay.notifier.post = lambda url, headers, body: deliver(api, headers, body, urlsplit(url).path).status
    real_settle, failures = service.settle_paid, []

    def settle_fails_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise RuntimeError("DynamoDB throttled the write")
        return real_settle(*args, **kwargs)

    monkeypatch.setattr(service, "settle_paid", settle_fails_once)
    assert wxpay.deliver_payment(o.order_id) == 500
    assert Order.get(o.order_id).status == "created" and ledger_total() == 0
    clock.advance(seconds=RETRY_AFTER_S[0] - 1)
    assert wxpay.notifier.tick() == 0  # not a second early
    clock.advance(seconds=1)
    assert wxpay.notifier.tick() == 1
    assert [status for _, status in wxpay.notifier.attempts] == [500, 204]
    assert Order.get(o.order_id).status == "paid"
    assert drain().count("order.paid") == 1 and ledger_total(o.order_id) == 4800
    # answered: no further attempt, however long we wait
    clock.advance(hours=25)
    assert wxpay.notifier.tick() == 0 and wxpay.notifier.pending() == 0
    assert drain() == [] and ledger_total(o.order_id) == 4800


def test_unanswered_callbacks_follow_wechat_schedule_then_stop(api, people, wxpay, clock):
    from chalicelib.payments.sandbox import RETRY_AFTER_S

    _, doctor, alice, _ = people
    o = order_for(alice, doctor)
    start_payment(api, alice, o.order_id)
    times = []
    wxpay.notifier.post = lambda url, headers, body: times.append(int(headers["Wechatpay-Timestamp"])) or 503
    start = wxpay.now()
    wxpay.deliver_payment(o.order_id)
    clock.advance(seconds=RETRY_AFTER_S[0] + RETRY_AFTER_S[1])
    assert wxpay.notifier.tick() == 2  # two attempts fell due
    clock.advance(hours=30)  # a jump runs every attempt that fell due meanwhile, in order, then stops
    assert wxpay.notifier.tick() == len(RETRY_AFTER_S) - 2
    assert wxpay.notifier.pending() == 0
    assert len(times) == 1 + len(RETRY_AFTER_S) == 16 and sum(RETRY_AFTER_S) == 24 * 3600 + 4 * 60
    assert times[:3] == [start, start + 30, start + 30] and times[3] == start + 30 + 30 * 3600  # each signed anew
