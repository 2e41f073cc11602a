"""The sandbox provider wired into the service for tests: real signing, real verification."""

import json

import pytest

from chalicelib.core import aws as core_aws
from chalicelib.core import clock as core_clock
from chalicelib.payments import providers
from chalicelib.payments.sandbox import Sandbox


@pytest.fixture
def wxpay(aws):
    """A sandbox WeChat Pay whose merchant configuration the service reads from SSM."""
    sb, cfg = Sandbox.generate(clock=core_clock.epoch)
    cfg.base_url = "https://sandbox.wechatpay.test"
    core_aws.client("ssm").put_parameter(Name=providers.wechat_param_name("test"), Value=json.dumps(cfg.__dict__),
                                         Type="SecureString", Overwrite=True)
    core_aws.forget_secrets()
    providers.set_transport(sb.handle)
    yield sb
    providers.set_transport(None)
    core_aws.forget_secrets()


def start_payment(api, user, order_id: str, channel: str = "wechat_app"):
    r = api.post(f"/v1/orders/{order_id}/pay", {"channel": channel}, token=user.token)
    assert r.status == 200, r.body
    return r.body


def deliver(api, headers: dict, body: bytes, path: str = "/v1/payments/wechat/notify"):
    return api.call("POST", path, raw=body, headers=headers)


def pay(api, sb, user, order_id: str) -> None:
    """The patient pays in the app; WeChat notifies the service."""
    start_payment(api, user, order_id)
    r = deliver(api, *sb.pay(order_id))
    assert r.status == 204, r.body
