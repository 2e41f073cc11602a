"""Alipay: async notifications (RSA2 over the sorted parameters, matched to the order), and the
server-to-server calls against a gateway that signs and checks like Alipay's: refunds (once,
never above paid, retried with the same out_request_no), refund and trade reconciliation."""

import json
from urllib.parse import parse_qsl, urlencode

import pytest

from chalicelib.core import aws as core_aws
from chalicelib.core import timers
from chalicelib.core.errors import Unprocessable
from chalicelib.core.timers import Timer
from chalicelib.payments import alipay, providers, service
from chalicelib.payments.models import Order, Refund
from chalicelib.payments.wechat import new_rsa_pair, sign
from tests.alipay_gateway import AlipayGateway
from tests.doctors_support import make_patient


@pytest.fixture
def ali(aws):
    gw = AlipayGateway()
    core_aws.client("ssm").put_parameter(Name=providers.alipay_param_name("test"), Value=json.dumps(gw.config),
                                         Type="SecureString", Overwrite=True)
    core_aws.forget_secrets()
    providers.set_transport(gw.handle)
    yield gw
    providers.set_transport(None)
    core_aws.forget_secrets()


def notify(api, params):
    return api.call("POST", "/v1/payments/alipay/notify", raw=urlencode(params),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})


def resign(gw, params):
    params = {k: v for k, v in params.items() if k != "sign"}
    return {**params, "sign": sign(gw.private, alipay.signing_string(params))}


def paid_order(api, gw, amount=1234):
    o = service.create_order(payer_account_id="01PAYER", product_type="booking", product_id="b1", amount_fen=amount,
                             doctor_id=None, description="加号")
    assert notify(api, gw.pay(o.order_id, amount)).body == b"success"
    return o


def test_alipay_notify(api, ali, drain):
    o = service.create_order(payer_account_id="01PAYER", product_type="booking", product_id="b1", amount_fen=1234,
                             doctor_id=None, description="加号")
    params = ali.pay(o.order_id, 1234)
    bad = notify(api, resign(ali, {**params, "total_amount": "0.01"}))
    assert bad.status == 400 and bad.body == b"failure"
    forged = dict(params, sign=sign(new_rsa_pair()[0], alipay.signing_string(params)))
    assert notify(api, forged).status == 400
    ok = notify(api, params)
    assert ok.status == 200 and ok.body == b"success"
    assert notify(api, params).body == b"success"  # retried: acknowledged, nothing twice
    assert Order.get(o.order_id).status == "paid" and drain().count("order.paid") == 1
    assert notify(api, resign(ali, {**params, "seller_id": "2088999"})).status == 400


def test_order_string_expires_with_the_order(api, ali, clock):
    user = make_patient(api)
    o = service.create_order(payer_account_id=user.account_id, product_type="booking", product_id="b1",
                             amount_fen=500, doctor_id=None, description="加号")
    clock.advance(minutes=14)  # the payer starts late: Alipay must still stop when the order closes
    user = api.relogin(user)
    r = api.post(f"/v1/orders/{o.order_id}/pay", {"channel": "alipay_app"}, token=user.token)
    assert r.status == 200, r.body
    params = dict(parse_qsl(r.body["params"]["order_string"]))
    assert json.loads(params["biz_content"])["time_expire"] == providers.shanghai_timestamp(o.expires_at)
    assert alipay.verify_notify(alipay.AlipayConfig(**{**ali.config, "alipay_public_key_pem": ali.merchant_public}),
                                params)  # signed with the merchant key


def test_refund_in_full_once(api, ali, drain):
    o = paid_order(api, ali)  # (its order.paid is drained below: a booking product nobody holds)
    r = service.refund(order_id=o.order_id, amount_fen=None, reason="医生取消", request_key="k1")
    assert r.status == "succeeded" and int(r.amount_fen) == 1234
    again = service.refund(order_id=o.order_id, amount_fen=None, reason="医生取消", request_key="k1")
    assert again.refund_id == r.refund_id and ali.refunded_total(o.order_id) == 1234
    assert [api for api, _ in ali.requests].count("alipay.trade.refund") == 1
    order = Order.get(o.order_id)
    assert order.status == "refunded" and int(order.refunded_fen) == 1234
    assert drain().count("order.refunded") == 1
    with pytest.raises(Unprocessable):  # nothing left to refund
        service.refund(order_id=o.order_id, amount_fen=1, reason="x", request_key="k2")


def test_partial_refunds_never_above_paid(api, ali):
    o = paid_order(api, ali, amount=1000)
    assert service.refund(order_id=o.order_id, amount_fen=400, reason="部分", request_key="a").status == "succeeded"
    assert service.refund(order_id=o.order_id, amount_fen=600, reason="余额", request_key="b").status == "succeeded"
    assert ali.refunded_total(o.order_id) == 1000 and int(Order.get(o.order_id).refunded_fen) == 1000


def refund_check_fires(clock, refund_id):
    """The refund-check timer is pending and comes due; what its consumer runs, run."""
    timer = Timer.get(timers.timer_id_for("refund-check", refund_id))
    assert timer.status == "pending"
    clock.advance(minutes=6)
    return service.reconcile_refund(refund_id)


def test_busy_gateway_retried_by_the_refund_check_timer(api, ali, clock):
    o = paid_order(api, ali)
    ali.fail_next = ["ACQ.SYSTEM_ERROR", "ACQ.SYSTEM_ERROR"]
    r = service.refund(order_id=o.order_id, amount_fen=None, reason="退款", request_key="k")
    assert r.status == "processing" and ali.refunded_total(o.order_id) == 0
    assert refund_check_fires(clock, r.refund_id) == "processing"  # still busy: checked again later
    assert refund_check_fires(clock, r.refund_id) == "succeeded"
    assert Refund.get(r.refund_id).status == "succeeded" and ali.refunded_total(o.order_id) == 1234
    refunds = [biz for api, biz in ali.requests if api == "alipay.trade.refund"]
    assert len(refunds) == 3 and {b["out_request_no"] for b in refunds} == {r.refund_id}


def test_lost_answer_settled_by_the_refund_query_without_moving_money_twice(api, ali, clock):
    o = paid_order(api, ali)
    ali.lose_next_answer = True  # Alipay refunds, the answer never arrives
    r = service.refund(order_id=o.order_id, amount_fen=None, reason="退款", request_key="k")
    assert r.status == "processing" and ali.refunded_total(o.order_id) == 1234
    assert refund_check_fires(clock, r.refund_id) == "succeeded"
    assert ali.refunded_total(o.order_id) == 1234 and len(ali.refunds) == 1
    assert [api for api, _ in ali.requests].count("alipay.trade.refund") == 1
    assert Order.get(o.order_id).status == "refunded"


def test_forged_answer_is_not_believed(api, ali, clock):
    o = paid_order(api, ali)
    ali.forge_next_answer = True
    r = service.refund(order_id=o.order_id, amount_fen=None, reason="退款", request_key="k")
    assert r.status == "processing"  # the money did move at Alipay, but an unverified answer settles nothing
    assert refund_check_fires(clock, r.refund_id) == "succeeded"
    assert Refund.get(r.refund_id).status == "succeeded" and len(ali.refunds) == 1


def test_refusal_fails_the_refund_and_leaves_the_order_paid(api, ali):
    o = paid_order(api, ali)
    ali.fail_next = ["ACQ.TRADE_HAS_FINISHED"]
    r = service.refund(order_id=o.order_id, amount_fen=None, reason="退款", request_key="k")
    assert r.status == "failed"
    order = Order.get(o.order_id)
    assert order.status == "paid" and int(order.refunded_fen) == 0


def test_lost_payment_notify_found_by_the_trade_query(api, ali, clock):
    user = make_patient(api)
    o = service.create_order(payer_account_id=user.account_id, product_type="booking", product_id="b1",
                             amount_fen=800, doctor_id=None, description="加号")
    assert api.post(f"/v1/orders/{o.order_id}/pay", {"channel": "alipay_app"}, token=user.token).status == 200
    assert service.reconcile_order(o.order_id) == "created"  # not paid yet: ACQ.TRADE_NOT_EXIST
    ali.pay(o.order_id, 800)  # paid, but the notify is lost
    ali.forge_next_answer = True
    assert service.reconcile_order(o.order_id) == "created"  # an answer we cannot verify proves nothing
    assert service.reconcile_order(o.order_id) == "paid"
    assert Order.get(o.order_id).provider_txn_id == ali.trades[o.order_id]["trade_no"]


def test_amount_conversion():
    assert alipay.fen("12.34") == 1234 and alipay.fen("12.3") == 1230 and alipay.fen("12") == 1200
    assert alipay.fen("1.234") is None and alipay.fen("-1") is None and alipay.yuan(1205) == "12.05"


def test_closing_an_order_closes_the_alipay_trade(api, ali):
    user = make_patient(api)
    o = service.create_order(payer_account_id=user.account_id, product_type="booking", product_id="b1",
                             amount_fen=800, doctor_id=None, description="加号")
    assert api.post(f"/v1/orders/{o.order_id}/pay", {"channel": "alipay_app"}, token=user.token).status == 200
    ali.open_trade(o.order_id, 800)
    assert service.close_order(o.order_id, "hold released").status == "closed"
    assert ali.trades[o.order_id]["status"] == "TRADE_CLOSED"  # the payer can no longer pay it
    # a payer who never opened Alipay: nothing to close there, the order closes all the same
    o2 = service.create_order(payer_account_id=user.account_id, product_type="booking", product_id="b2",
                              amount_fen=800, doctor_id=None, description="加号")
    assert api.post(f"/v1/orders/{o2.order_id}/pay", {"channel": "alipay_app"}, token=user.token).status == 200
    assert service.close_order(o2.order_id, "expired").status == "closed"


def test_unconfigured_channel_is_a_clear_422(api, aws):
    ssm = core_aws.client("ssm")
    try:
        ssm.delete_parameter(Name=providers.alipay_param_name("test"))  # left by an earlier test
    except ssm.exceptions.ParameterNotFound:
        pass
    core_aws.forget_secrets()
    user = make_patient(api)
    o = service.create_order(payer_account_id=user.account_id, product_type="booking", product_id="b1",
                             amount_fen=800, doctor_id=None, description="加号")
    r = api.post(f"/v1/orders/{o.order_id}/pay", {"channel": "alipay_app"}, token=user.token)
    assert r.status == 422 and r.error_code == "channel_unavailable"
    assert Order.get(o.order_id).channel is None  # nothing recorded for a channel that cannot be used
