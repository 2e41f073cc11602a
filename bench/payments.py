"""Payment routes: create order (service), a valid WeChat Pay callback."""

import json

from bench.harness import Scenario
from chalicelib.core import aws as core_aws
from chalicelib.core import clock
from chalicelib.payments import providers, service
from chalicelib.payments.sandbox import Sandbox

_st: dict = {}


def _setup(env):
    sb, cfg = Sandbox.generate(clock=clock.epoch)
    core_aws.client("ssm").put_parameter(Name=providers.wechat_param_name("test"), Value=json.dumps(cfg.__dict__),
                                         Type="SecureString", Overwrite=True)
    core_aws._param_cache.clear()
    providers.set_transport(sb.handle)
    payer = env.api.login(env.next_phone())
    _st.update(sb=sb, payer=payer, notes=[])
    for _ in range(30):
        o = _create(env, _st)
        env.api.post(f"/v1/orders/{o}/pay", {"channel": "wechat_app"}, token=payer.token)
        _st["notes"].append(sb.pay(o))
    _st["i"] = 0
    return _st


def _create(env, st):
    return service.create_order(payer_account_id=st["payer"].account_id, product_type="consultation",
                                product_id="bench", amount_fen=4800, doctor_id="01BENCHDOCTOR0000000000000",
                                description="图文问诊").order_id


def _callback(env, st):
    headers, body = st["notes"][st["i"]]
    st["i"] += 1
    return env.api.call("POST", "/v1/payments/wechat/notify", raw=body, headers=headers).status


SCENARIOS = [
    Scenario("payments.create_order (service)", {"total": 1}, _setup, lambda env, st: (_create(env, st), 201)[1]),
    Scenario("POST /v1/payments/wechat/notify (valid)", {"TransactWriteItems": 1, "total": 2}, lambda env: _st,
             _callback),
]
