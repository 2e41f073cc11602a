"""The APNs adapter over HTTP/2 against the fake APNs peer: the request Apple expects (path,
headers, ES256 provider token, JSON body), and each answer's outcome — 410/400 drop the device,
an expired provider token is renewed at once, 429 and 5xx are retried on the timers."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import jwt
import pytest

from chalicelib.core import timers
from chalicelib.core.ids import new_id
from chalicelib.notifications import delivery, providers
from chalicelib.notifications.models import Delivery, Device
from tests.doctors_support import make_patient
from tests.notify_support import fail, fake_providers, received, stop_pointing

pytestmark = pytest.mark.enable_socket  # the fake providers listen on a loopback port

TOKEN = "a1" * 32  # an APNs device token is 64 hex digits


@pytest.fixture
def fake(aws):
    url, _ = fake_providers()
    providers._apns_jwt.clear()
    yield url
    for client in providers._apns_clients.values():
        client.close()
    providers._apns_clients.clear()
    stop_pointing()


def _send(token: str = TOKEN, critical: bool = False) -> str:
    return providers.send_push("apns", token, "随诊", "您有一条新消息", {"link_type": "order", "link_id": "O1"},
                               critical=critical)


def test_a_push_is_one_http2_post_with_the_provider_token_and_apple_headers(fake):
    apns_id = _send(critical=True)
    [got] = received(fake, "apns")
    assert got["path"] == f"/3/device/{TOKEN}" and got["body"]["http_version"] == "2"
    assert apns_id == f"00000000-0000-0000-0000-{got['seq']:012d}"
    assert got["body"]["headers"] == {"apns-topic": "cn.suizhen.app", "apns-push-type": "alert",
                                      "apns-priority": "10", "apns-expiration": "0"}
    aps = got["body"]["payload"]["aps"]
    assert aps["alert"] == {"title": "随诊", "body": "您有一条新消息"} and aps["interruption-level"] == "time-sensitive"
    assert got["body"]["payload"]["link_id"] == "O1"
    # the provider token is reused, on the same kept connection
    _send()
    assert len(received(fake, "apns")) == 2 and len(providers._apns_clients) == 1


def test_the_fake_refuses_apns_over_http1_as_apple_does(fake):
    req = urllib.request.Request(f"{fake}/3/device/{TOKEN}", data=b"{}", method="POST",
                                 headers={"authorization": "bearer x", "apns-topic": "cn.suizhen.app"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 505 and received(fake, "apns") == []


def test_a_provider_token_signed_by_another_key_is_refused(fake):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    forged = jwt.encode({"iss": "TEAM123456", "iat": int(time.time())}, other, algorithm="ES256",
                        headers={"kid": "KEY1234567"})
    providers._apns_jwt["KEY1234567"] = (time.time() + 60, forged)
    # the forged token is refused (403 InvalidProviderToken), renewed with the real key and sent
    _send()
    assert len(received(fake, "apns")) == 1 and providers._apns_jwt["KEY1234567"][1] != forged


def test_an_expired_provider_token_is_renewed_and_the_push_sent_once(fake):
    old = providers._apns_token(providers.provider_config("apns"))
    fail(fake, "apns", "expired_token")
    _send()
    assert len(received(fake, "apns")) == 1 and providers._apns_jwt["KEY1234567"][1] != old


@pytest.mark.parametrize("mode,error,code", [
    ("invalid_token", providers.InvalidToken, "apns_Unregistered"),
    ("bad_token", providers.InvalidToken, "apns_BadDeviceToken"),
    ("quota", providers.Transient, "apns_TooManyRequests"),
    ("5xx", providers.Transient, "apns_ServiceUnavailable"),
    ("timeout", providers.Transient, "apns_network"),
])
def test_each_apns_answer_has_its_outcome(fake, mode, error, code):
    fail(fake, "apns", mode)
    with pytest.raises(error) as exc:
        _send()
    assert exc.value.code == code and received(fake, "apns") == []
    _send()  # the connection (renewed after a timeout) carries the next push
    assert len(received(fake, "apns")) == 1


def test_a_payload_over_4_kb_is_refused_before_sending(fake):
    with pytest.raises(providers.Rejected):
        providers.send_push("apns", TOKEN, "t", "x" * 5000, {})
    assert received(fake, "apns") == []


@pytest.fixture
def alice(clock, api, drain, fake):
    user = make_patient(api)
    drain()
    return user


def _device(api, user, token):
    r = api.post("/v1/devices", {"platform": "ios", "provider": "apns", "token": token}, token=user.token)
    assert r.status == 201, r.body
    return r.body["device_id"]


def _push_delivery(account_id):
    return next(d for d in Delivery.by_account.query(account_id) if d.channel == "push")


def test_410_unregistered_drops_the_device(api, alice, drain, fake):
    dev = _device(api, alice, TOKEN)
    fail(fake, "apns", "invalid_token")
    delivery.handle("order.paid", new_id(), {"payer_account_id": alice.account_id, "order_id": "O1", "amount_fen": 100})
    drain()
    assert Device.get(dev).enabled is False and Device.get(dev).disabled_reason == "apns_Unregistered"
    d = _push_delivery(alice.account_id)
    assert (d.status, d.reason) == ("failed", "invalid_token")
    # the app registers the token again (Apple gave it back): pushes reach it again
    _device(api, alice, TOKEN)
    assert Device.get(dev).enabled is True


def test_429_then_503_are_retried_on_the_timers_then_sent_once(api, alice, clock, drain, fake):
    _device(api, alice, TOKEN)
    fail(fake, "apns", "quota")
    fail(fake, "apns", "5xx")
    delivery.handle("order.paid", new_id(), {"payer_account_id": alice.account_id, "order_id": "O1", "amount_fen": 100})
    drain()
    d = _push_delivery(alice.account_id)
    assert (d.status, d.attempts, d.reason) == ("queued", 1, "retrying: apns_TooManyRequests")
    clock.advance(minutes=1)
    timers.sweep()
    drain()
    assert _push_delivery(alice.account_id).reason == "retrying: apns_ServiceUnavailable"
    clock.advance(minutes=2)
    timers.sweep()
    drain()
    d = _push_delivery(alice.account_id)
    assert (d.status, d.attempts) == ("sent", 3)
    [got] = received(fake, "apns")
    assert got["body"]["token"] == TOKEN and json.dumps(got["body"]["payload"], ensure_ascii=False).count("随诊") == 1


def test_the_notification_function_loads_no_api_schema_nor_provider_sdk_before_sending():
    """Its cold start (bench.platform measures it): the consumers, not pydantic's API models nor
    the JPush/Tencent SDKs or the HTTP/2 client, which load on the first send that needs them."""
    import os
    import subprocess
    import sys

    code = ("import sys; from chalicelib import entry, events; entry.consume; events.load_unit('notifications'); "
            "print(','.join(m for m in ('chalicelib.notifications.schemas', 'jpush', 'tencentcloud', 'httpcore', 'h2')"
            " if type(sys.modules.get(m)).__name__ == 'module'))")  # a lazy module is a _LazyModule until used
    env = {**os.environ, "SUIZHEN_UNIT": "notifications", "POWERTOOLS_TRACE_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "", out.stdout
