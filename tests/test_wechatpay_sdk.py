"""The sandbox speaks WeChat Pay as WeChat's merchant SDK reads it: ``wechatpayv3`` (a development
dependency) creates, queries and closes an order against the sandbox over HTTP, verifying every
signed answer, and parses a notification the sandbox sends with its own callback verifier."""

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from chalicelib.payments.sandbox import Sandbox, run_server
from tests.e2e.stack import free_port

pytestmark = pytest.mark.enable_socket


@pytest.fixture
def sandbox_url():
    sb, cfg = Sandbox.generate()
    stop = threading.Event()
    port = free_port()
    threading.Thread(target=run_server, args=("127.0.0.1", port, "http://127.0.0.1:9", stop, sb, None),
                     daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(50):
        try:
            urllib.request.urlopen(url + "/v3/ping", timeout=1)
        except urllib.error.HTTPError:
            break  # it answers (401: the ping is not signed)
        except OSError:
            time.sleep(0.05)
    yield sb, cfg, url
    stop.set()


def merchant_sdk(sb, cfg, url):
    from wechatpayv3 import WeChatPay, WeChatPayType

    wxpay = WeChatPay(wechatpay_type=WeChatPayType.APP, mchid=cfg.mchid, private_key=cfg.merchant_private_key_pem,
                      cert_serial_no=cfg.merchant_serial, appid=cfg.appid, apiv3_key=cfg.apiv3_key,
                      notify_url="https://api.suizhen.example.cn/v1/payments/wechat/notify",
                      public_key=cfg.platform_public_keys[sb.serial], public_key_id=sb.serial)
    # the SDK has no gateway option: its one seam is the base URL it keeps
    wxpay._core._gate_way = url
    return wxpay


def test_merchant_sdk_creates_queries_and_closes_an_order(sandbox_url):
    sb, cfg, url = sandbox_url
    wxpay = merchant_sdk(sb, cfg, url)
    code, message = wxpay.pay(description="图文问诊", out_trade_no="01SDKORDER0000000000000001",
                              amount={"total": 4800, "currency": "CNY"})
    assert code == 200 and json.loads(message)["prepay_id"].startswith("wx")  # the answer's signature verified
    code, message = wxpay.query(out_trade_no="01SDKORDER0000000000000001")
    tx = json.loads(message)
    assert code == 200 and tx["trade_state"] == "NOTPAY" and tx["trade_state_desc"] == "订单未支付"
    assert tx["amount"]["total"] == 4800 and tx["payer"]["openid"]
    code, _ = wxpay.close(out_trade_no="01SDKORDER0000000000000001")
    assert code == 204
    code, message = wxpay.query(out_trade_no="01SDKORDER0000000000000001")
    assert json.loads(message)["trade_state"] == "CLOSED"


def test_merchant_sdk_verifies_and_decrypts_a_sandbox_notification(sandbox_url):
    sb, cfg, url = sandbox_url
    wxpay = merchant_sdk(sb, cfg, url)
    assert wxpay.pay(description="加号", out_trade_no="01SDKORDER0000000000000002",
                     amount={"total": 3000, "currency": "CNY"})[0] == 200
    sent = []
    sb.notifier.post = lambda target, headers, body: sent.append((headers, body)) or 204
    assert sb.deliver_payment("01SDKORDER0000000000000002") == 204
    headers, body = sent[0]  # exactly what the sandbox posts to the notify URL
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048" and headers["Request-ID"]
    note = wxpay.callback(headers, body)
    assert note is not None, "the SDK refused the notification"
    assert note["event_type"] == "TRANSACTION.SUCCESS" and note["summary"] == "支付成功"
    tx = note["resource"]
    assert tx["trade_state"] == "SUCCESS" and tx["trade_state_desc"] == "支付成功"
    assert tx["out_trade_no"] == "01SDKORDER0000000000000002" and tx["amount"]["payer_total"] == 3000
    for field in ("transaction_id", "trade_type", "bank_type", "success_time", "payer", "attach"):
        assert field in tx, field
    assert tx["success_time"] == note["create_time"]  # both on the sandbox's clock, not a fixed date
    # a tampered notification is refused by the SDK too
    assert wxpay.callback(headers, body.replace(b"TRANSACTION", b"TRANSACTIOM")) is None
    # and the SDK refuses what WeChat would never send: a notification without the signature type
    without_type = {k: v for k, v in headers.items() if k != "Wechatpay-Signature-Type"}
    with pytest.raises(Exception, match="does not support this algorithm"):
        wxpay.callback(without_type, body)
