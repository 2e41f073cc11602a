"""Fake notification providers over HTTP, for the local stack and the adapters' tests.

One server speaks the request shapes of JPush v3 push (``POST /v3/push``, Basic auth), APNs
(HTTP/2 only, as Apple: ``POST /3/device/<token>`` with an ES256 provider token — its signature
checked against the dev key, older than an hour → 403 ``ExpiredProviderToken`` — and
``apns-topic``; a connection that opens with the HTTP/2 preface is served by ``h2`` on the same
port, prior knowledge instead of TLS ALPN; APNs over HTTP/1.1 answers 505), FCM HTTP v1
(``POST /token``, ``POST /v1/projects/<p>/messages:send``), Aliyun SMS (``POST /`` form
``Action=SendSms``), Tencent Cloud SMS (``POST /`` with ``X-TC-Action: SendSms``)
and the WeChat mini-program API (``GET /cgi-bin/token``, ``GET /sns/jscode2session`` — a code
is single use and lives 5 minutes: 40029 unknown or expired, 40163 used —,
``POST /cgi-bin/message/subscribe/send``, field limits checked: 47003).

Control:
- ``GET /_fake/received[?provider=jpush]`` — what it received, oldest first;
- ``DELETE /_fake/received`` — forget it;
- ``GET /_fake/receipts?provider=aliyun|tencent[&fail=1]`` — the status-report push that provider
  would make for every SMS it accepted (Aliyun's SmsReport array, Tencent's callback array), to
  POST to ``/v1/notify/receipts/<provider>/<receipt_token>``; ``fail=1`` reports them undelivered;
- ``POST /_fake/wechat/code {"openid": "o…"}`` → ``{"code"}``: what ``wx.login()`` gives that
  WeChat user in the mini-program (the code to send to ``POST /v1/wechat/subscriptions``);
- ``POST /_fake/fail {"provider": "jpush", "mode": "5xx" | "timeout" | "invalid_token" | "quota" |
  "no_grant", "times": 1}`` — the next ``times`` requests to that provider fail that way (APNs
  also ``bad_token`` → 400 BadDeviceToken and ``expired_token`` → 403 ExpiredProviderToken;
  ``invalid_token`` is its 410 Unregistered, ``quota`` 429 TooManyRequests, ``5xx`` 503).
A device token or openid starting with ``bad`` is always invalid.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .jsonhttp import send_json

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
APNS_KEYS: dict[str, str] = {}  # key id → the public key of the dev .p8 (dev_secret registers it)
WECHAT_LIMITS = {"thing": 20, "phrase": 5, "character_string": 32}
PROVIDERS = ("jpush", "apns", "fcm", "aliyun", "tencent", "wechat")


class FakeState:
    def __init__(self):
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.failures: dict[str, list[str]] = {}
        self.timeout_s = 6.0
        self.seq = 0
        self.wx_codes: dict[str, tuple[str, float | None]] = {}  # code → (openid, issued at; None once used)

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

    def handle(self):
        """HTTP/2 with prior knowledge (APNs) or HTTP/1.1 (everything else), told by the preface."""
        try:
            head = self.connection.recv(len(H2_PREFACE), socket.MSG_PEEK | socket.MSG_WAITALL)
        except OSError:
            return
        if head == H2_PREFACE:
            return serve_h2(self.connection, self.state)
        return super().handle()

    def _send(self, status: int, body, headers: dict | None = None) -> None:
        send_json(self, status, body, headers)

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
        if url.path == "/_fake/receipts":
            return self._send(200, receipts(self.state, q.get("provider", ""), q.get("fail") == "1"))
        if url.path == "/cgi-bin/token":
            if not q.get("appid") or not q.get("secret"):
                return self._send(200, {"errcode": 41002, "errmsg": "appid missing"})
            return self._send(200, {"access_token": "fake-wx-token", "expires_in": 7200})
        if url.path == "/sns/jscode2session":
            return self._wx_session(q)
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
        if url.path == "/_fake/wechat/code":
            openid = str(json.loads(raw or b"{}").get("openid") or "")
            if not re.fullmatch(r"[A-Za-z0-9_\-]{6,64}", openid):
                return self._send(400, {"error": "openid is 6-64 letters, digits, _ or -"})
            code = secrets.token_hex(16)
            with self.state.lock:
                self.state.wx_codes[code] = (openid, time.time())
            return self._send(200, {"code": code})
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
        return self._send(505, {"reason": "APNs speaks HTTP/2 only"})

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

    def _wx_session(self, q: dict):
        if q.get("appid") != "wxfakeappid" or not q.get("secret"):
            return self._send(200, {"errcode": 40013, "errmsg": "invalid appid"})
        if q.get("grant_type") != "authorization_code" or not q.get("js_code"):
            return self._send(200, {"errcode": 41008, "errmsg": "missing code"})
        mode = self._fail("wechat")
        if mode in ("5xx", "timeout"):
            return self._send(200, {"errcode": -1, "errmsg": "system error"})
        if mode == "quota":
            return self._send(200, {"errcode": 45011, "errmsg": "api minute-quota reach limit"})
        with self.state.lock:
            hit = self.state.wx_codes.get(q["js_code"])
            if hit and hit[1] is not None and hit[1] > time.time() - 300:
                self.state.wx_codes[q["js_code"]] = (hit[0], None)
                return self._send(200, {"openid": hit[0], "session_key": secrets.token_urlsafe(16)})
        if hit and hit[1] is None:
            return self._send(200, {"errcode": 40163, "errmsg": "code been used"})
        return self._send(200, {"errcode": 40029, "errmsg": "invalid code"})

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


def receipts(state: FakeState, provider: str, fail: bool) -> list[dict]:
    """The provider's status-report body for what it accepted (phone numbers masked as they send them)."""
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    out = []
    for r in state.received:
        if r["provider"] == "aliyun" == provider:
            phone = r["body"].get("PhoneNumbers", "")
            out.append({"phone_number": phone, "send_time": now, "report_time": now, "success": not fail,
                        "err_code": "MK:0001" if fail else "DELIVERED", "err_msg": "失败" if fail else "用户接收成功",
                        "sms_size": "1", "biz_id": f"{r['seq']}^0", "out_id": ""})
        elif r["provider"] == "tencent" == provider:
            out.append({"user_receive_time": now, "nationcode": "86", "mobile": "", "report_status":
                        "FAIL" if fail else "SUCCESS", "errmsg": "MK:0001" if fail else "DELIVRD",
                        "description": "用户短信送达成功", "sid": str(r["seq"])})
    return out


# --- APNs over HTTP/2 -----------------------------------------------------------------------------

def _apns_auth(headers: dict) -> str | None:
    """The refusal reason for a provider token, or None: ES256 with a kid, iss (team) and iat,
    signed by the registered dev key when the key id is known, at most an hour old."""
    import jwt

    auth = headers.get("authorization", "")
    if not auth.startswith("bearer "):
        return "MissingProviderToken"
    raw = auth[len("bearer "):]
    try:
        head = jwt.get_unverified_header(raw)
        if head.get("alg") != "ES256" or not head.get("kid"):
            return "InvalidProviderToken"
        key = APNS_KEYS.get(head["kid"])
        claims = (jwt.decode(raw, key, algorithms=["ES256"], options={"verify_iat": False}) if key
                  else jwt.decode(raw, options={"verify_signature": False}))
    except jwt.PyJWTError:
        return "InvalidProviderToken"
    if not claims.get("iss") or not isinstance(claims.get("iat"), int):
        return "InvalidProviderToken"
    if claims["iat"] < time.time() - 3600:
        return "ExpiredProviderToken"
    return None


def apns_answer(state: FakeState, headers: dict, raw: bytes) -> tuple[int, dict, dict | None]:
    """(status, extra headers, JSON body) for one APNs request, as Apple answers it."""
    path = headers.get(":path", "")
    if headers.get(":method") != "POST" or not path.startswith("/3/device/"):
        return 404, {}, {"reason": "BadPath"}
    token = path.rsplit("/", 1)[1]
    refused = _apns_auth(headers)
    if refused:
        return 403, {}, {"reason": refused}
    if not headers.get("apns-topic"):
        return 400, {}, {"reason": "MissingTopic"}
    if headers.get("apns-push-type") not in ("alert", "background", "voip", "complication", "fileprovider", "mdm",
                                              "liveactivity", "pushtotalk"):
        return 400, {}, {"reason": "InvalidPushType"}
    if len(raw) > 4096:
        return 413, {}, {"reason": "PayloadTooLarge"}
    mode = state.failure("apns")
    if mode == "timeout":
        time.sleep(state.timeout_s)
        return 0, {}, None  # the connection is dropped unanswered
    if mode == "5xx":
        return 503, {}, {"reason": "ServiceUnavailable"}
    if mode == "expired_token":
        return 403, {}, {"reason": "ExpiredProviderToken"}
    if mode == "bad_token" or not re.fullmatch(r"[0-9A-Za-z\-_]{8,200}", token):
        return 400, {}, {"reason": "BadDeviceToken"}
    if mode == "invalid_token" or token.startswith("bad"):
        return 410, {}, {"reason": "Unregistered", "timestamp": int(time.time() * 1000)}
    if mode == "quota":
        return 429, {}, {"reason": "TooManyRequests"}
    try:
        body = json.loads(raw)
    except ValueError:
        return 400, {}, {"reason": "PayloadEmpty" if not raw else "BadPayload"}
    if not isinstance(body, dict) or not isinstance(body.get("aps"), dict):
        return 400, {}, {"reason": "BadPayload"}
    seq = state.record("apns", path, {"http_version": "2", "token": token, "payload": body, "headers": {
        k: headers.get(k) for k in ("apns-topic", "apns-push-type", "apns-priority", "apns-expiration")}})
    return 200, {"apns-id": f"00000000-0000-0000-0000-{seq:012d}"}, None


def serve_h2(sock: socket.socket, state: FakeState) -> None:
    """One HTTP/2 connection (the ``h2`` state machine over the accepted socket)."""
    import h2.config
    import h2.connection
    import h2.events

    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    streams: dict[int, tuple[dict, bytearray]] = {}
    while True:
        try:
            data = sock.recv(65535)
        except OSError:
            return
        if not data:
            return
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                streams[ev.stream_id] = ({str(k): str(v) for k, v in ev.headers}, bytearray())
            elif isinstance(ev, h2.events.DataReceived):
                streams[ev.stream_id][1].extend(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                headers, body = streams.pop(ev.stream_id)
                status, extra, answer = apns_answer(state, headers, bytes(body))
                if status == 0:
                    return  # the server closes the connection unanswered
                raw = json.dumps(answer).encode() if answer is not None else b""
                out = [(":status", str(status)), *extra.items()]
                if raw:
                    out += [("content-type", "application/json"), ("content-length", str(len(raw)))]
                conn.send_headers(ev.stream_id, out, end_stream=not raw)
                if raw:
                    conn.send_data(ev.stream_id, raw, end_stream=True)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                sock.sendall(conn.data_to_send())
                return
        pending = conn.data_to_send()
        if pending:
            sock.sendall(pending)


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

    ec_key = ec.generate_private_key(ec.SECP256R1())
    p8 = ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
    APNS_KEYS["KEY1234567"] = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
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
                   "templates": sms_templates, "receipt_token": "dev-aliyun-receipts"},
        "tencent": {"secret_id": "AKIDfake", "secret_key": "fake", "sdk_app_id": "1400000000", "sign_name": "随诊",
                    "templates": sms_templates, "receipt_token": "dev-tencent-receipts"},
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
          f"make one fail: curl -s -XPOST {url}/_fake/fail -d '{{\"provider\": \"jpush\", \"mode\": \"5xx\"}}' ; "
          f"a wx.login() code for POST /v1/wechat/subscriptions: "
          f"curl -s -XPOST {url}/_fake/wechat/code -d '{{\"openid\": \"oDemoUser01\"}}'",
          flush=True)
    return url


if __name__ == "__main__":
    srv, u, _ = start(port=8088)
    print(f"fake providers on {u}")
    threading.Event().wait()
