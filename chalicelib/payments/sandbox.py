"""Sandbox payment provider: the WeChat Pay v3 server side, for the local stack and the tests.

It holds its own platform key pair and the APIv3 key, verifies the merchant's request
signatures, answers with signed responses, and delivers payment and refund notifications
signed and encrypted exactly as WeChat does, so the service's real verification code runs.

CLI (local stack): ``python -m chalicelib.payments.sandbox pay <order_id> --sandbox http://127.0.0.1:PORT``.
"""

import heapq
import itertools
import json
import os
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from chalicelib.core import clock as core_clock
from chalicelib.core.clock import SHANGHAI

from . import wechat

SANDBOX_PARAM = "/suizhen/{stage}/sandbox-pay"
# WeChat Pay's notification schedule: after a non-2xx answer (or none) it tries again after 15 s,
# 15 s, 30 s, 3 min, 10 min, 20 min, 30 min, 30 min, 30 min, 60 min, 3 h, 3 h, 3 h, 6 h, 6 h (24 h 4 min).
TRADE_STATE_DESC = {"SUCCESS": "支付成功", "NOTPAY": "订单未支付", "CLOSED": "订单已关闭", "REFUND": "转入退款"}
RETRY_AFTER_S = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)


class Notifier:
    """Delivers notifications the way WeChat Pay does: until the merchant answers 2xx, on
    :data:`RETRY_AFTER_S`, on the sandbox's clock (in the local stack, the test clock: an advance
    makes every retry that fell due run at once), each attempt signed afresh over the same body.
    ``tick()`` runs what is due; the local stack calls it several times a second."""

    def __init__(self, sign: Callable[[bytes], dict[str, str]], post: Callable[[str, dict, bytes], int],
                 clock: Callable[[], int]):
        self.sign, self.post, self.now = sign, post, clock
        self.attempts: list[tuple[str, int]] = []  # (url, status) of every attempt, in order
        self._jobs: list[tuple[int, int, Callable[[], object]]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def later(self, due_epoch: int, fn: Callable[[], object]) -> None:
        with self._lock:
            heapq.heappush(self._jobs, (due_epoch, next(self._seq), fn))

    def notify(self, url: str, body: bytes) -> int:
        """First attempt now; returns its status (0: no answer). Retries are scheduled."""
        return self._attempt(url, body, 0, self.now())

    def _attempt(self, url: str, body: bytes, n: int, at: int) -> int:
        """Attempt ``n`` (0: the first), due at ``at``: the next is due a step after this one was
        due, so after a jump of the clock every attempt that fell due meanwhile runs, in order."""
        try:
            status = self.post(url, self.sign(body), body)
        except Exception:  # no answer at all counts as a failure, as for WeChat
            status = 0
        self.attempts.append((url, status))
        if not 200 <= status < 300 and n < len(RETRY_AFTER_S):
            due = at + RETRY_AFTER_S[n]
            self.later(due, lambda: self._attempt(url, body, n + 1, due))
        return status

    def tick(self) -> int:
        """Run every job due by now; returns how many ran."""
        ran = 0
        while True:
            with self._lock:
                if not self._jobs or self._jobs[0][0] > self.now():
                    return ran
                _, _, fn = heapq.heappop(self._jobs)
            fn()
            ran += 1

    def pending(self) -> int:
        with self._lock:
            return len(self._jobs)

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()


class Sandbox:
    def __init__(self, *, mchid: str, appid: str, serial: str, platform_private_key_pem: str, apiv3_key: str,
                 merchant_public_key_pem: str, clock: Callable[[], int] = core_clock.epoch):
        self.mchid, self.appid, self.serial = mchid, appid, serial
        self.platform_key, self.apiv3_key, self.merchant_key = platform_private_key_pem, apiv3_key, merchant_public_key_pem
        self.now = clock
        self.orders: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.notifier = Notifier(lambda body: self.signed_headers(body), _post, self.now)

    def clear(self) -> None:
        """Forget every order and refund (the local stack's reset)."""
        with self.lock:
            self.orders.clear()
            self.refunds.clear()
        self.notifier.clear()

    # --- keys ------------------------------------------------------------------------------
    @classmethod
    def generate(cls, clock: Callable[[], int] = core_clock.epoch) -> tuple["Sandbox", wechat.WechatConfig]:
        """A sandbox and the merchant configuration that talks to it."""
        merchant_private, merchant_public = wechat.new_rsa_pair()
        platform_private, platform_public = wechat.new_rsa_pair()
        serial = secrets.token_hex(20).upper()
        apiv3 = secrets.token_hex(16)
        sb = cls(mchid="1900000001", appid="wxd0000000000sand", serial=serial, platform_private_key_pem=platform_private,
                 apiv3_key=apiv3, merchant_public_key_pem=merchant_public, clock=clock)
        cfg = wechat.WechatConfig(mchid=sb.mchid, appid=sb.appid, merchant_serial=secrets.token_hex(20).upper(),
                                  merchant_private_key_pem=merchant_private, apiv3_key=apiv3,
                                  platform_public_keys={serial: platform_public})
        return sb, cfg

    def to_json(self) -> str:
        return json.dumps({"mchid": self.mchid, "appid": self.appid, "serial": self.serial,
                           "platform_private_key_pem": self.platform_key, "apiv3_key": self.apiv3_key,
                           "merchant_public_key_pem": self.merchant_key})

    # --- signing ---------------------------------------------------------------------------
    def signed_headers(self, body: bytes, *, ts: int | None = None, serial: str | None = None,
                       signature_type: str = wechat.SCHEMA) -> dict[str, str]:
        """The headers WeChat Pay signs its answers and notifications with (all of them: its own
        SDKs dispatch on ``Wechatpay-Signature-Type`` and log ``Request-ID``)."""
        ts = ts or self.now()
        nonce = secrets.token_hex(16)
        sig = wechat.sign(self.platform_key, f"{ts}\n{nonce}\n{body.decode()}\n")
        return {"Wechatpay-Timestamp": str(ts), "Wechatpay-Nonce": nonce, "Wechatpay-Signature": sig,
                "Wechatpay-Serial": serial or self.serial, "Wechatpay-Signature-Type": signature_type,
                "Request-ID": f"{secrets.token_hex(28).upper()}-0", "Content-Type": "application/json"}

    def _reply(self, status: int, payload: dict | None) -> tuple[int, dict, bytes]:
        body = json.dumps(payload, ensure_ascii=False).encode() if payload is not None else b""
        headers = self.signed_headers(body)
        headers.update({"Content-Type": "application/json; charset=utf-8", "Content-Language": "zh-CN"})
        return status, headers, body

    def _time(self, epoch: int | None = None) -> str:
        """WeChat's time format: RFC 3339 in Beijing time, on the sandbox's clock."""
        return datetime.fromtimestamp(self.now() if epoch is None else epoch, SHANGHAI).isoformat(timespec="seconds")

    # --- the v3 API --------------------------------------------------------------------------
    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        auth = wechat.parse_authorization({k.lower(): v for k, v in headers.items()}.get("authorization", ""))
        message = f"{method}\n{path}\n{auth.get('timestamp')}\n{auth.get('nonce_str')}\n{body.decode()}\n".encode()
        if auth.get("mchid") != self.mchid or not wechat.verify(self.merchant_key, message, auth.get("signature", "")):
            return self._reply(401, {"code": "SIGN_ERROR", "message": "bad merchant signature"})
        self.calls.append((method, parts.path))
        data = json.loads(body) if body else {}
        with self.lock:
            if method == "POST" and parts.path in ("/v3/pay/transactions/app", "/v3/pay/transactions/jsapi"):
                if data.get("mchid") != self.mchid or data.get("appid") != self.appid:
                    return self._reply(400, {"code": "PARAM_ERROR", "message": "mchid/appid"})
                trade_type = parts.path.rsplit("/", 1)[1].upper()
                openid = (data.get("payer") or {}).get("openid") or "o" + secrets.token_urlsafe(20)[:27]
                o = self.orders.setdefault(data["out_trade_no"], {"state": "NOTPAY", "amount": data["amount"]["total"],
                                                                  "notify_url": data["notify_url"],
                                                                  "trade_type": trade_type, "openid": openid,
                                                                  "attach": data.get("attach", "")})
                o.setdefault("prepay_id", "wx" + secrets.token_hex(14))
                return self._reply(200, {"prepay_id": o["prepay_id"]})
            if method == "GET" and parts.path.startswith("/v3/pay/transactions/out-trade-no/"):
                found = self.orders.get(parts.path.rsplit("/", 1)[1])
                if found is None:
                    return self._reply(404, {"code": "ORDER_NOT_EXIST", "message": "no such order"})
                return self._reply(200, self._transaction(parts.path.rsplit("/", 1)[1], found))
            if method == "POST" and parts.path.endswith("/close"):
                closing = self.orders.get(parts.path.split("/")[-2])
                if closing and closing["state"] == "NOTPAY":
                    closing["state"] = "CLOSED"
                return self._reply(204, None)
            if method == "POST" and parts.path == "/v3/refund/domestic/refunds":
                return self._refund(data)
            if method == "GET" and parts.path.startswith("/v3/refund/domestic/refunds/"):
                r = self.refunds.get(parts.path.rsplit("/", 1)[1])
                if r is None:
                    return self._reply(404, {"code": "RESOURCE_NOT_EXISTS", "message": "no such refund"})
                return self._reply(200, r)
        return self._reply(404, {"code": "NOT_FOUND", "message": parts.path})

    def _transaction(self, out_trade_no: str, o: dict) -> dict:
        """A transaction as WeChat Pay documents it (query answer and decrypted notification)."""
        tx = {"appid": self.appid, "mchid": self.mchid, "out_trade_no": out_trade_no, "trade_state": o["state"],
              "trade_state_desc": TRADE_STATE_DESC.get(o["state"], o["state"]), "attach": o.get("attach", ""),
              "payer": {"openid": o.get("openid", "")},
              "amount": {"total": o["amount"], "currency": "CNY", "payer_currency": "CNY"}}
        if o.get("transaction_id"):
            tx.update({"transaction_id": o["transaction_id"], "trade_type": o.get("trade_type", "APP"),
                       "bank_type": "OTHERS", "success_time": o["success_time"]})
            tx["amount"]["payer_total"] = o["amount"]
        return tx

    def _refund(self, data: dict) -> tuple[int, dict, bytes]:
        existing = self.refunds.get(data["out_refund_no"])
        if existing:  # WeChat treats a repeated out_refund_no as the same refund
            return self._reply(200, existing)
        o = self.orders.get(data["out_trade_no"])
        if o is None or o["state"] not in ("SUCCESS", "REFUND"):
            return self._reply(400, {"code": "RESOURCE_NOT_EXISTS", "message": "order not paid"})
        already = sum(r["amount"]["refund"] for r in self.refunds.values() if r["out_trade_no"] == data["out_trade_no"])
        if already + data["amount"]["refund"] > o["amount"]:
            return self._reply(400, {"code": "NOT_ENOUGH", "message": "refund exceeds payment"})
        r = {"refund_id": "50" + secrets.token_hex(14), "out_refund_no": data["out_refund_no"],
             "transaction_id": o["transaction_id"], "out_trade_no": data["out_trade_no"], "status": "PROCESSING",
             "channel": "ORIGINAL", "user_received_account": "支付用户零钱", "create_time": self._time(),
             "funds_account": "AVAILABLE",
             "amount": {"refund": data["amount"]["refund"], "total": o["amount"], "currency": "CNY"},
             "notify_url": data.get("notify_url")}
        self.refunds[data["out_refund_no"]] = r
        o["state"] = "REFUND"
        return self._reply(200, {k: v for k, v in r.items() if k != "notify_url"})

    # --- what the payer does, and the notifications that follow ------------------------------
    def pay(self, out_trade_no: str) -> tuple[dict[str, str], bytes]:
        """The payer pays: the transaction succeeds; returns the signed notification to deliver."""
        with self.lock:
            o = self.orders[out_trade_no]
            if o["state"] == "NOTPAY":
                o["state"] = "SUCCESS"
                o["transaction_id"] = "42" + secrets.token_hex(13)
                o["success_time"] = self._time()
            resource = self._transaction(out_trade_no, o)
        return self.notification("TRANSACTION.SUCCESS", resource, "transaction")

    def deliver_payment(self, out_trade_no: str) -> int:
        """The payer pays and WeChat notifies the order's ``notify_url`` (retrying until 2xx);
        returns the first attempt's status."""
        _, body = self.pay(out_trade_no)
        return self.notifier.notify(self.orders[out_trade_no]["notify_url"], body)

    def deliver_refund(self, out_refund_no: str) -> int:
        """The refund completes and WeChat notifies its ``notify_url`` (retrying until 2xx)."""
        _, body = self.complete_refund(out_refund_no)
        return self.notifier.notify(self.refunds[out_refund_no]["notify_url"], body)

    def complete_refund(self, out_refund_no: str) -> tuple[dict[str, str], bytes]:
        with self.lock:
            r = self.refunds[out_refund_no]
            r["status"] = "SUCCESS"
            r["success_time"] = self._time()
            resource = {"mchid": self.mchid, "out_trade_no": r["out_trade_no"], "transaction_id": r["transaction_id"],
                        "out_refund_no": out_refund_no, "refund_id": r["refund_id"], "refund_status": "SUCCESS",
                        "success_time": r["success_time"], "user_received_account": r["user_received_account"],
                        "amount": {"total": r["amount"]["total"], "refund": r["amount"]["refund"],
                                   "payer_total": r["amount"]["total"], "payer_refund": r["amount"]["refund"]}}
        return self.notification("REFUND.SUCCESS", resource, "refund")

    def notification(self, event_type: str, resource: dict, original_type: str) -> tuple[dict[str, str], bytes]:
        enc = wechat.encrypt_resource(self.apiv3_key, resource, original_type)
        enc["original_type"] = original_type
        summary = {"TRANSACTION.SUCCESS": "支付成功", "REFUND.SUCCESS": "退款成功"}.get(event_type, "通知")
        body = json.dumps({"id": secrets.token_hex(16), "create_time": self._time(),
                           "resource_type": "encrypt-resource", "event_type": event_type, "summary": summary,
                           "resource": enc}, ensure_ascii=False).encode()
        return self.signed_headers(body), body


# --- the local stack ---------------------------------------------------------------------------

def ensure_dev_secrets(ssm, stage: str, base_url: str) -> Sandbox:
    """Create (once) the merchant configuration the API reads and the sandbox's own keys."""
    from .providers import wechat_param_name

    try:
        raw = ssm.get_parameter(Name=SANDBOX_PARAM.format(stage=stage), WithDecryption=True)["Parameter"]["Value"]
        sb = Sandbox(**json.loads(raw))
        cfg = wechat.WechatConfig.from_json(
            ssm.get_parameter(Name=wechat_param_name(stage), WithDecryption=True)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        sb, cfg = Sandbox.generate()
        ssm.put_parameter(Name=SANDBOX_PARAM.format(stage=stage), Value=sb.to_json(), Type="SecureString",
                          Overwrite=True)
    cfg.base_url = base_url
    ssm.put_parameter(Name=wechat_param_name(stage), Value=json.dumps(cfg.__dict__), Type="SecureString", Overwrite=True)
    return sb


def _post(url: str, headers: dict[str, str], body: bytes) -> int:
    return wechat.urllib_transport("POST", url, headers, body)[0]


def run_server(host: str, port: int, api_base_url: str, stop_event: threading.Event,
               sandbox: Sandbox | None = None, refund_after_s: float | None = 2.0) -> None:
    """Serve the v3 API plus ``POST /sandbox/pay {"order_id"}`` and ``POST /sandbox/refund
    {"out_refund_no"}``, which make the sandbox deliver the signed notification to the API.

    Like WeChat Pay, a refund is accepted as PROCESSING and completes later: ``refund_after_s``
    seconds later on the sandbox's clock it delivers REFUND.SUCCESS by itself (``None``: only when
    asked through ``/sandbox/refund``). Every notification is retried until the API answers 2xx."""

    if sandbox is None:
        from chalicelib.core.aws import client
        from chalicelib.core.config import get_settings

        sandbox = ensure_dev_secrets(client("ssm"), get_settings().stage, f"http://{host}:{port}")
    sb: Sandbox = sandbox

    def complete_later(out: bytes) -> None:
        out_refund_no = json.loads(out)["out_refund_no"]
        sb.notifier.later(sb.now() + int(refund_after_s or 0), lambda: sb.deliver_refund(out_refund_no))

    def tick() -> None:
        while not stop_event.wait(0.2):
            try:
                sb.notifier.tick()
            except Exception:  # keep delivering; one broken job must not stop the others
                pass

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, headers: dict, body: bytes):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self, method: str):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/sandbox/"):
                data = json.loads(body or b"{}")
                if self.path == "/sandbox/pay":
                    order = sb.orders.get(data.get("order_id", ""))
                    if order is None:
                        return self._send(404, {}, b'{"error":"start payment in the app first (POST /v1/orders/{id}/pay)"}')
                    status = sb.deliver_payment(data["order_id"])
                else:
                    refund = sb.refunds.get(data.get("out_refund_no", ""))
                    if refund is None:
                        return self._send(404, {}, b'{"error":"no such refund"}')
                    status = sb.deliver_refund(data["out_refund_no"])
                reply = {"delivered": status == 204, "api_status": status}
                if not 200 <= status < 300:
                    reply["retry_in_s"] = RETRY_AFTER_S[0]  # like WeChat: until a 2xx
                return self._send(200, {"Content-Type": "application/json"}, json.dumps(reply).encode())
            url = f"http://{self.headers.get('Host')}{self.path}"
            status, headers, out = sb.handle(method, url, dict(self.headers), body)
            self._send(status, headers, out)
            if (refund_after_s is not None and method == "POST" and self.path == "/v3/refund/domestic/refunds"
                    and status == 200):
                complete_later(out)

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=tick, daemon=True, name="sandbox-notifier").start()
    stop_event.wait()
    server.shutdown()


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description="Sandbox payment provider: pay an order or complete a refund")
    p.add_argument("action", choices=["pay", "refund"])
    p.add_argument("id", help="order id (pay) or out_refund_no (refund)")
    p.add_argument("--sandbox", default=os.environ.get("SUIZHEN_SANDBOX_URL", "http://127.0.0.1:8010"))
    a = p.parse_args()
    key = "order_id" if a.action == "pay" else "out_refund_no"
    body = json.dumps({key: a.id}).encode()
    status, _, out = wechat.urllib_transport("POST", f"{a.sandbox}/sandbox/{a.action}",
                                             {"Content-Type": "application/json"}, body)
    print(status, out.decode())


if __name__ == "__main__":
    main()
