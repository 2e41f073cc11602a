"""The Alipay gateway peer the tests use signs its async notifications as Alipay does: the kept
merchant SDK ``python-alipay-sdk`` (a development dependency) verifies them with its own code."""

import pytest
from alipay import AliPay
from alipay.exceptions import AliPayException

from tests.alipay_gateway import AlipayGateway


@pytest.fixture
def peer_and_sdk():
    gw = AlipayGateway()
    sdk = AliPay(appid=gw.config["app_id"], app_notify_url=None, app_private_key_string=gw.merchant_private,
                 alipay_public_key_string=gw.public, sign_type="RSA2")
    return gw, sdk


def test_sdk_verifies_the_gateway_peers_notification(peer_and_sdk):
    gw, sdk = peer_and_sdk
    params = gw.pay("01ALIPAYSDK000000000000001", 4800)
    signature = params.pop("sign")
    assert sdk.verify(dict(params), signature)
    assert not sdk.verify({**params, "total_amount": "0.01"}, signature)  # tampered amount
    assert not sdk.verify(dict(params), AlipayGateway().pay("01ALIPAYSDK000000000000001", 4800)["sign"])  # other key


def test_sdk_refuses_a_sign_type_it_was_not_given(peer_and_sdk):
    gw, sdk = peer_and_sdk
    params = gw.pay("01ALIPAYSDK000000000000002", 100)
    signature = params.pop("sign")
    with pytest.raises(AliPayException):
        sdk.verify({**params, "sign_type": "RSA"}, signature)
