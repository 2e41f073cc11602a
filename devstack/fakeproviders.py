"""Fake notification providers over HTTP, for the local stack and the adapters' tests.

One server speaks the request shapes of JPush v3 push (``POST /v3/push``, Basic auth), APNs
(``POST /3/device/<token>`` with a bearer provider token and ``apns-topic``; JSON body over
HTTP/1.1), FCM HTTP v1 (``POST /token``, ``POST /v1/projects/<p>/messages:send``), Aliyun SMS
(``POST /`` form ``Action=SendSms``), Tencent Cloud SMS (``POST /`` with ``X-TC-Action: SendSms``)
and the WeChat subscribe-message API (``GET /cgi-bin/token``,
``POST /cgi-bin/message/subscribe/send``, field limits checked: 47003).

Control:
- ``GET /_fake/received[?provider=jpush]`` — what it received, oldest first;
- ``DELETE /_fake/received`` — forget it;
- ``POST /_fake/fail {"provider": "jpush", "mode": "5xx" | "timeout" | "invalid_token" | "quota" |
  "no_grant", "times": 1}`` — the next ``times`` requests to that provider fail that way.
A device token or openid starting with ``bad`` is always invalid.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WECHAT_LIMITS = {"thing": 20, "phrase": 5, "character_string": 32}
PROVIDERS = ("jpush", "apns", "fcm", "aliyun", "tencent", "wechat")


class FakeState:
    def __init__(self):
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.failures: dict[str, list[str]] = {}
        self.timeout_s = 6.0
        self.seq = 0

    def record(self, provider: str, path: str, body) -> int:
        with self.lock:
            self.seq += 1
            self.received.append({"provider": provider, "path": path, "body": body, "seq": self.seq})
            return self.seq

    def failure(self, provider: str) -> str | None:
        with self.lock:
            queue = self.failures.get(provider) or []
            return queue.pop(0) if queue else None


class Handler(BaseHTTPRequestHandler):
    state: FakeState
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body, headers: dict | None = None) -> None:
        raw = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _fail(self, provider: str) -> str | None:
        mode = self.state.failure(provider)
        if mode == "timeout":
            time.sleep(self.state.timeout_s)
        return mode

    # --- control -------------------------------------------------------------------------
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/_fake/received":
            items = [r for r in self.state.received if not q.get("provider") or r["provider"] == q["provider"]]
            return self._send(200, {"items": items})
        if url.path == "/cgi-bin/token":
            if not q.get("appid") or not q.get("secret"):
                return self._send(200, {"errcode": 41002, "errmsg": "appid missing"})
            return self._send(200, {"access_token": "fake-wx-token", "expires_in": 7200})
        return self._send(404, {"error": "unknown path"})

    def do_DELETE(self):
        if self.path.startswith("/_fake/received"):
            with self.state.lock:
                self.state.received.clear()
                self.state.failures.clear()
            return self._send(200, {"ok": True})
        return self._send(404, {"error": "unknown path"})

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        raw = self._body()
        if url.path == "/_fake/fail":
            spec = json.loads(raw or b"{}")
            if spec.get("provider") not in PROVIDERS:
                return self._send(400, {"error": f"provider is one of {PROVIDERS}"})
            with self.state.lock:
                self.state.failures.setdefault(spec["provider"], []).extend([spec.get("mode", "5xx")] * int(spec.get("times", 1)))
            return self._send(200, {"ok": True})
        if url.path == "/v3/push":
            return self._jpush(raw)
        if url.path.startswith("/3/device/"):
            return self._apns(url.path.rsplit("/", 1)[1], raw)
        if url.path == "/token":
            return self._send(200, {"access_token": "fake-fcm-token", "expires_in": 3600, "token_type": "Bearer"})
        m = re.match(r"^/v1/projects/([^/]+)/messages:send$", url.path)
        if m:
            return self._fcm(m.group(1), raw)
        if url.path == "/cgi-bin/message/subscribe/send":
            return self._wechat(dict(urllib.parse.parse_qsl(url.query)), raw)
        if url.path == "/" and self.headers.get("X-TC-Action"):
            return self._tencent(raw)
        if url.path == "/":
            return self._aliyun(raw)
        return self._send(404, {"error": "unknown path"})

    # --- providers -----------------------------------------------------------------------
    def _jpush(self, raw: bytes):
        if not (self.headers.get("Authorization") or "").startswith("Basic "):
            return self._send(401, {"error": {"code": 1004, "message": "Authen failed"}})
        body = json.loads(raw)
        tokens = (body.get("audience") or {}).get("registration_id") or []
        mode = self._fail("jpush")
        if mode in ("5xx", "timeout"):
            return self._send(503, {"error": {"code": 2002, "message": "Rate limit or server busy"}})
        if mode == "invalid_token" or any(t.startswith("bad") for t in tokens):
            return self._send(400, {"error": {"code": 1011, "message": "cannot find user by this audience"}})
        if mode == "quota":
            return self._send(429, {"error": {"code": 2003, "message": "quota exceeded"}})
        seq = self.state.record("jpush", "/v3/push", body)
        return self._send(200, {"sendno": "0", "msg_id": str(10**9 + seq)})

    def _apns(self, token: str, raw: bytes):
        if not (self.headers.get("authorization") or "").startswith("bearer ") or not self.headers.get("apns-topic"):
            return self._send(403, {"reason": "MissingProviderToken"})
        mode = self._fail("apns")
        if mode in ("5xx", "timeout"):
            return self._send(503, {"reason": "ServiceUnavailable"})
        if mode == "invalid_token" or token.startswith("bad"):
            return self._send(410, {"reason": "Unregistered", "timestamp": int(time.time() * 1000)})
        if mode == "quota":
            return self._send(429, {"reason": "TooManyRequests"})
        body = json.loads(raw)
        seq = self.state.record("apns", f"/3/device/{token}", {"headers": {
            "apns-topic": self.headers.get("apns-topic"), "apns-push-type": self.headers.get("apns-push-type"),
            "apns-priority": self.headers.get("apns-priority")}, "token": token, "payload": body})
        return self._send(200, {}, {"apns-id": f"00000000-0000-0000-0000-{seq:012d}"})

    def _fcm(self, project: str, raw: bytes):
        body = json.loads(raw)
        token = (body.get("message") or {}).get("token", "")
        mode = self._fail("fcm")
        if mode in ("5xx", "timeout"):
            return self._send(503, {"error": {"code": 503, "status": "UNAVAILABLE"}})
        if mode == "invalid_token" or token.startswith("bad"):
            return self._send(404, {"error": {"code": 404, "status": "NOT_FOUND", "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}})
        seq = self.state.record("fcm", f"/v1/projects/{project}/messages:send", body)
        return self._send(200, {"name": f"projects/{project}/messages/{seq}"})

    def _aliyun(self, raw: bytes):
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        if form.get("Action") != "SendSms" or not form.get("Signature"):
            return self._send(400, {"Code": "MissingParameter", "Message": "Action/Signature"})
        mode = self._fail("aliyun")
        if mode in ("5xx", "timeout"):
            return self._send(500, {"Code": "isp.SYSTEM_ERROR", "Message": "system error"})
        if mode == "quota":
            return self._send(200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发天级流控Permits:50"})
        seq = self.state.record("aliyun", "/", {k: v for k, v in form.items() if k != "Signature"})
        return self._send(200, {"Code": "OK", "Message": "OK", "BizId": f"{seq}^0", "RequestId": str(seq)})

    def _tencent(self, raw: bytes):
        if not (self.headers.get("Authorization") or "").startswith("TC3-HMAC-SHA256"):
            return self._send(200, {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure",
                                                           "Message": "signature"}, "RequestId": "0"}})
        body = json.loads(raw)
        mode = self._fail("tencent")
        if mode in ("5xx", "timeout"):
            return self._send(200, {"Response": {"Error": {"Code": "InternalError.Timeout", "Message": "busy"},
                                                 "RequestId": "0"}})
        code = "LimitExceeded.PhoneNumberDailyLimit" if mode == "quota" else "Ok"
        seq = self.state.record("tencent", "/", body) if code == "Ok" else 0
        return self._send(200, {"Response": {"SendStatusSet": [
            {"SerialNo": str(seq), "PhoneNumber": (body.get("PhoneNumberSet") or [""])[0], "Fee": 1,
             "SessionContext": "", "Code": code, "Message": "send success" if code == "Ok" else code,
             "IsoCode": "CN"}], "RequestId": str(seq)}})

    def _wechat(self, q: dict, raw: bytes):
        if q.get("access_token") != "fake-wx-token":
            return self._send(200, {"errcode": 40001, "errmsg": "invalid credential"})
        body = json.loads(raw)
        mode = self._fail("wechat")
        if mode in ("5xx", "timeout"):
            return self._send(200, {"errcode": -1, "errmsg": "system error"})
        if mode in ("no_grant", "invalid_token") or str(body.get("touser", "")).startswith("bad"):
            return self._send(200, {"errcode": 43101, "errmsg": "user refuse to accept the msg"})
        for key, v in (body.get("data") or {}).items():
            kind = re.sub(r"\d+$", "", key)
            if kind in WECHAT_LIMITS and len(str(v.get("value", ""))) > WECHAT_LIMITS[kind]:
                return self._send(200, {"errcode": 47003, "errmsg": f"argument invalid! data.{key}.value invalid"})
        seq = self.state.record("wechat", "/cgi-bin/message/subscribe/send", body)
        return self._send(200, {"errcode": 0, "errmsg": "ok", "msgid": seq})


def start(host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str, FakeState]:
    state = FakeState()
    handler = type("FakeHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="fake-providers").start()
    return server, f"http://{host}:{server.server_address[1]}", state


def dev_secret() -> dict:
    """Provider credentials for the fakes (dev only; real ones are created in SSM by operators)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    p8 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    sms_templates = {"login_code": "SMS_0001", "consultation_refunded": "SMS_0002", "booking_offered": "SMS_0003",
                     "booking_cancelled": "SMS_0004", "refund": "SMS_0005", "doctor_verified": "SMS_0006",
                     "followup_alert_urgent": "SMS_0007", "opinion_more_records": "SMS_0008",
                     "opinion_assigned": "SMS_0009", "opinion_report_published": "SMS_0010",
                     "refund_opinion": "SMS_0011", "consultation_reply_due": "SMS_0012"}
    return {
        "jpush": {"app_key": "fakeappkey", "master_secret": "fakesecret", "apns_production": False},
        "apns": {"team_id": "TEAM123456", "key_id": "KEY1234567", "p8": p8, "topic": "cn.suizhen.app"},
        "fcm": {"project_id": "suizhen-dev", "client_email": "push@suizhen-dev.iam.gserviceaccount.com",
                "private_key": rsa_key},
        "aliyun": {"access_key_id": "LTAIfake", "access_key_secret": "fake", "sign_name": "随诊",
                   "templates": sms_templates},
        "tencent": {"secret_id": "AKIDfake", "secret_key": "fake", "sdk_app_id": "1400000000", "sign_name": "随诊",
                    "templates": sms_templates},
        "wechat": {"appid": "wxfakeappid", "secret": "fake", "miniprogram_state": "developer",
                   "templates": {"binding_activated": "WX_BIND", "booking_held": "WX_BOOKING",
                                 "booking_offered": "WX_BOOKING", "booking_confirmed": "WX_BOOKING",
                                 "booking_reminder": "WX_BOOKING", "followup_task_due": "WX_FOLLOWUP",
                                 "followup_task_reminder": "WX_FOLLOWUP",
                                 "opinion_outcome_requested": "WX_OPINION"}},
    }


def start_dev(ssm, stage: str, env: dict) -> str:
    """Local stack: start the fakes, point every adapter at them, store dev credentials."""
    import os

    from chalicelib.core.config import get_settings

    _, url, _ = start()
    name = f"/suizhen/{stage}/notify-providers"
    try:
        ssm.get_parameter(Name=name)
    except ssm.exceptions.ParameterNotFound:
        ssm.put_parameter(Name=name, Value=json.dumps(dev_secret()), Type="SecureString")
    env["SUIZHEN_PROVIDER_BASE_URL"] = os.environ["SUIZHEN_PROVIDER_BASE_URL"] = url
    get_settings.cache_clear()
    print(f"[devstack] fake push/SMS/WeChat providers on {url}: what they received: curl -s {url}/_fake/received ; "
          f"make one fail: curl -s -XPOST {url}/_fake/fail -d '{{\"provider\": \"jpush\", \"mode\": \"5xx\"}}'",
          flush=True)
    return url


if __name__ == "__main__":
    srv, u, _ = start(port=8088)
    print(f"fake providers on {u}")
    threading.Event().wait()
