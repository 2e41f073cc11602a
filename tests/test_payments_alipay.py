"""Alipay async notifications: RSA2 over the sorted parameters, then matched to the order."""

import json
from urllib.parse import urlencode

import pytest

from chalicelib.core import aws as core_aws
from chalicelib.payments import alipay, providers, service
from chalicelib.payments.models import Order
from chalicelib.payments.wechat import new_rsa_pair, sign


@pytest.fixture
def ali(aws):
    merchant_private, _ = new_rsa_pair()
    alipay_private, alipay_public = new_rsa_pair()
    cfg = {"app_id": "2021000000000001", "seller_id": "2088000000000001", "merchant_private_key_pem": merchant_private,
           "alipay_public_key_pem": alipay_public}
    core_aws.client("ssm").put_parameter(Name=providers.alipay_param_name("test"), Value=json.dumps(cfg),
                                         Type="SecureString", Overwrite=True)
    core_aws._param_cache.clear()
    yield cfg, alipay_private
    core_aws._param_cache.clear()


def notify(api, params, private):
    params = {**params, "sign_type": "RSA2"}
    params["sign"] = sign(private, alipay.signing_string(params))
    return api.call("POST", "/v1/payments/alipay/notify", raw=urlencode(params),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_alipay_notify(api, ali, drain):
    cfg, private = ali
    o = service.create_order(payer_account_id="01PAYER", product_type="booking", product_id="b1", amount_fen=1234,
                             doctor_id=None, description="加号")
    params = {"app_id": cfg["app_id"], "seller_id": cfg["seller_id"], "out_trade_no": o.order_id,
              "trade_no": "2026112222001", "total_amount": "12.34", "trade_status": "TRADE_SUCCESS",
              "notify_time": "2026-11-22 10:00:00"}
    bad = notify(api, {**params, "total_amount": "0.01"}, private)
    assert bad.status == 400 and bad.body == b"failure"
    forged = dict(params, sign_type="RSA2", sign=sign(new_rsa_pair()[0], alipay.signing_string(params)))
    r = api.call("POST", "/v1/payments/alipay/notify", raw=urlencode(forged),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 400
    ok = notify(api, params, private)
    assert ok.status == 200 and ok.body == b"success"
    assert notify(api, params, private).body == b"success"  # retried: acknowledged, nothing twice
    assert Order.get(o.order_id).status == "paid" and drain().count("order.paid") == 1
    assert notify(api, {**params, "seller_id": "2088999"}, private).status == 400


def test_amount_conversion():
    assert alipay.fen("12.34") == 1234 and alipay.fen("12.3") == 1230 and alipay.fen("12") == 1200
    assert alipay.fen("1.234") is None and alipay.fen("-1") is None and alipay.yuan(1205) == "12.05"
