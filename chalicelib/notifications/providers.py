"""Channel adapters, each behind one small interface, chosen by configuration.

- push: ``send_push(provider, token, title, text, extras, *, critical)`` for JPush (the ``jpush``
  SDK), APNs (HTTP/2 through ``httpx[http2]``, token auth with the .p8 key, ES256 JWT by PyJWT)
  and FCM (HTTP v1, service-account token);
- SMS: ``send_sms(phone, key, params, text=)`` for Aliyun (SendSms, signed RPC) and Tencent
  Cloud (the ``tencentcloud-sdk-python-sms`` SDK) with approved template ids and parameters;
  ``sns``/``console`` remain for tests and the dev stack (AWS China has no SNS SMS);
- WeChat subscribe messages: ``send_wechat(openid, template_id, page, data)``.

Outcomes are exceptions: :class:`Transient` (retry later), :class:`InvalidToken` (disable the
device), :class:`NoGrant` (WeChat 43101), :class:`Quota`, :class:`Rejected` (do not retry).
Credentials come from one SSM SecureString (``notify_providers_param``, JSON); endpoints default
to the providers' and ``provider_base_url`` points them all at the local fake. Nothing here logs
a phone number or a device token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib.core.aws import secret_parameter
from chalicelib.core.config import get_settings

logging.getLogger("jpush").setLevel(logging.WARNING)  # its debug lines carry registration ids


class ProviderError(Exception):
    def __init__(self, code: str, message: str = ""):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


class Transient(ProviderError):
    pass


class InvalidToken(ProviderError):
    pass


class NoGrant(ProviderError):
    pass


class Quota(ProviderError):
    pass


class Rejected(ProviderError):
    pass


DEFAULT_URLS = {
    "jpush": "https://api.jpush.cn", "apns": "https://api.push.apple.com", "fcm": "https://fcm.googleapis.com",
    "aliyun": "https://dysmsapi.aliyuncs.com", "tencent": "https://sms.tencentcloudapi.com",
    "wechat": "https://api.weixin.qq.com",
}


def base_url(provider: str) -> str:
    return (get_settings().provider_base_url or DEFAULT_URLS[provider]).rstrip("/")


def config() -> dict[str, Any]:
    """Provider credentials and template ids (SSM SecureString, cached like every secret).

    A stage that has not created the parameter has no providers: the inbox still works and every
    push/SMS/WeChat delivery ends ``failed`` with ``unconfigured`` (visible to operators), rather
    than an event retried forever. The missing parameter is cached like a present one."""
    return json.loads(secret_parameter(get_settings().notify_providers_param, missing="{}"))


def provider_config(name: str) -> dict[str, Any]:
    cfg = config().get(name)
    if not cfg:
        raise Rejected("unconfigured", name)
    return cfg


def _timeout() -> float:
    return float(get_settings().provider_timeout_s)


def _http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=_timeout()) as resp:  # noqa: S310 (https or the local fake)
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), exc.read() or b""
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
        raise Transient("network", type(exc).__name__) from None


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- push ------------------------------------------------------------------------------------

def send_push(provider: str, token: str, title: str, text: str, extras: dict, *, critical: bool = False) -> str:
    """Send one notification to one device; returns the provider's message id."""
    return {"jpush": _jpush, "apns": _apns, "fcm": _fcm}[provider](token, title, text, extras, critical)


def _jpush(token: str, title: str, text: str, extras: dict, critical: bool) -> str:
    import jpush
    from jpush import common as jcommon

    cfg = provider_config("jpush")
    zone = "default"
    if get_settings().provider_base_url:  # the SDK's endpoints are a public table of zones
        root = base_url("jpush") + "/v3/"
        jcommon.ZONES["SUIZHEN"] = {k: root for k in jcommon.ZONES["DEFAULT"]}
        zone = "suizhen"
    client = jpush.JPush(cfg["app_key"], cfg["master_secret"], timeout=_timeout(), zone=zone)
    push = client.create_push()
    push.audience = jpush.audience(jpush.registration_id(token))
    push.platform = jpush.all_
    push.notification = jpush.notification(
        alert=text,
        android=jpush.android(alert=text, title=title, extras=extras, priority=1 if critical else 0),
        ios=jpush.ios(alert={"title": title, "body": text}, sound="default", extras=extras))
    # Service messages, not marketing: JPush's own classification and the vendors' channels
    # (Huawei importance/category, Xiaomi/OPPO channel ids, vivo classification, Honor importance).
    vendor = cfg.get("vendor_channels", {})
    push.options = {
        "time_to_live": 86400, "apns_production": bool(cfg.get("apns_production", True)), "classification": 1,
        "third_party_channel": {
            "huawei": {"importance": "NORMAL", "category": vendor.get("huawei_category", "WORK")},
            "xiaomi": {"channel_id": vendor.get("xiaomi_channel_id", "")},
            "oppo": {"channel_id": vendor.get("oppo_channel_id", "")},
            "vivo": {"classification": 1, "category": vendor.get("vivo_category", "TODO")},
            "honor": {"importance": "NORMAL"},
        },
    }
    try:
        resp = push.send()
    except jcommon.Unauthorized:
        raise Rejected("jpush_unauthorized") from None
    except jcommon.JPushFailure as exc:
        status = getattr(exc.response, "status_code", 0)
        if exc.error_code in (1011, 1003) and status == 400:
            raise InvalidToken(f"jpush_{exc.error_code}") from None
        if status == 429 or status >= 500 or exc.error_code in (2002, 2003, 1030):
            raise Transient(f"jpush_{exc.error_code or status}") from None
        raise Rejected(f"jpush_{exc.error_code or status}") from None
    except (jcommon.APIConnectionException, jcommon.APIRequestException):
        raise Transient("jpush_network") from None
    return str(resp.payload.get("msg_id", ""))


_apns_jwt: dict[str, tuple[float, str]] = {}
_apns_clients: dict[tuple[str, float], Any] = {}
APNS_SANDBOX = "https://api.sandbox.push.apple.com"
APNS_MAX_PAYLOAD = 4096  # bytes, Apple's limit for an alert


def _apns_token(cfg: dict, *, fresh: bool = False) -> str:
    """APNs provider token: ES256 over {iss: team, iat}, kid = key id; reused 50 minutes
    (Apple refuses one renewed more often than every 20 minutes or older than an hour)."""
    import jwt

    hit = _apns_jwt.get(cfg["key_id"])
    if hit and hit[0] > time.time() and not fresh:
        return hit[1]
    token = jwt.encode({"iss": cfg["team_id"], "iat": int(time.time())}, cfg["p8"], algorithm="ES256",
                       headers={"kid": cfg["key_id"]})
    _apns_jwt[cfg["key_id"]] = (time.time() + 50 * 60, token)
    return token


def _apns_base(cfg: dict) -> str:
    if get_settings().provider_base_url:
        return base_url("apns")
    return APNS_SANDBOX if cfg.get("environment") == "development" else DEFAULT_URLS["apns"]


def _apns_client(base: str):
    """One HTTP/2 connection per warm function, kept open as Apple asks (``http1=False``: HTTP/2
    only — ALPN ``h2`` over TLS to Apple, prior knowledge over plain HTTP to the local fake).
    ``httpcore`` (httpx's transport, without httpx and anyio: the zip stays under 10 MB)."""
    import httpcore

    key = (base, _timeout())
    client = _apns_clients.get(key)
    if client is None:
        client = _apns_clients[key] = httpcore.ConnectionPool(http1=False, http2=True, max_connections=1)
    return client


def _apns_drop_client(base: str) -> None:
    client = _apns_clients.pop((base, _timeout()), None)
    if client is not None:
        client.close()


def _apns(token: str, title: str, text: str, extras: dict, critical: bool) -> str:
    """One POST /3/device/<token> over HTTP/2 (httpcore + h2). 200 → the apns-id; 400 BadDeviceToken,
    410 Unregistered/ExpiredToken, DeviceTokenNotForTopic → the device is disabled; an expired or
    refused provider token is renewed and tried once more at once; 429 and 5xx are retried later
    on the timers; anything else is refused for good."""
    import httpcore

    cfg = provider_config("apns")
    body = json.dumps({"aps": {"alert": {"title": title, "body": text}, "sound": "default",
                               "interruption-level": "time-sensitive" if critical else "active"},
                       **extras}, ensure_ascii=False).encode()
    if len(body) > APNS_MAX_PAYLOAD:
        raise Rejected("apns_PayloadTooLarge")
    base = _apns_base(cfg)
    for fresh in (False, True):
        headers = {"authorization": f"bearer {_apns_token(cfg, fresh=fresh)}", "apns-topic": cfg["topic"],
                   "apns-push-type": "alert", "apns-priority": "10", "apns-expiration": "0",
                   "content-type": "application/json", "content-length": str(len(body))}
        t = _timeout()
        try:
            resp = _apns_client(base).request("POST", f"{base}/3/device/{token}", headers=headers, content=body,
                                              extensions={"timeout": {"connect": t, "read": t, "write": t, "pool": t}})
        except httpcore.TimeoutException as exc:
            _apns_drop_client(base)  # a connection that stopped answering is not reused
            raise Transient("apns_network", type(exc).__name__) from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            _apns_drop_client(base)
            raise Transient("apns_network", type(exc).__name__) from None
        status = resp.status
        if status == 200:
            return next((v.decode() for k, v in resp.headers if k.lower() == b"apns-id"), "")
        reason = _json(resp.content).get("reason", str(status))
        if status == 403 and reason in ("ExpiredProviderToken", "InvalidProviderToken") and not fresh:
            continue
        break
    if status == 410 or reason in ("BadDeviceToken", "Unregistered", "ExpiredToken", "DeviceTokenNotForTopic"):
        raise InvalidToken(f"apns_{reason}")
    if status in (429, 500, 503):
        raise Transient(f"apns_{reason}")
    raise Rejected(f"apns_{reason}")


_fcm_token: dict[str, tuple[float, str]] = {}


def _fcm_access_token(cfg: dict) -> str:
    """OAuth2 JWT-bearer grant with the service account's key (what google-auth does)."""
    import jwt

    hit = _fcm_token.get(cfg["client_email"])
    if hit and hit[0] > time.time():
        return hit[1]
    token_uri = cfg.get("token_uri", "https://oauth2.googleapis.com/token")
    if get_settings().provider_base_url:
        token_uri = base_url("fcm") + "/token"
    now = int(time.time())
    assertion = jwt.encode({"iss": cfg["client_email"], "scope": "https://www.googleapis.com/auth/firebase.messaging",
                            "aud": token_uri, "iat": now, "exp": now + 3600}, cfg["private_key"], algorithm="RS256")
    status, _, raw = _http("POST", token_uri, urllib.parse.urlencode(
        {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}).encode(),
        {"content-type": "application/x-www-form-urlencoded"})
    data = _json(raw)
    if status != 200 or "access_token" not in data:
        raise Transient(f"fcm_token_{status}")
    _fcm_token[cfg["client_email"]] = (time.time() + int(data.get("expires_in", 3600)) - 300, data["access_token"])
    return data["access_token"]


def _fcm(token: str, title: str, text: str, extras: dict, critical: bool) -> str:
    cfg = provider_config("fcm")
    body = json.dumps({"message": {"token": token, "notification": {"title": title, "body": text},
                                   "data": {k: str(v) for k, v in extras.items()},
                                   "android": {"priority": "high" if critical else "normal"}}},
                      ensure_ascii=False).encode()
    url = f"{base_url('fcm')}/v1/projects/{cfg['project_id']}/messages:send"
    status, _, raw = _http("POST", url, body, {"authorization": f"Bearer {_fcm_access_token(cfg)}",
                                               "content-type": "application/json"})
    if status == 200:
        return _json(raw).get("name", "")
    err = _json(raw).get("error", {})
    codes = {d.get("errorCode") for d in err.get("details", []) if isinstance(d, dict)}
    if status == 404 or "UNREGISTERED" in codes or (status == 400 and "INVALID_ARGUMENT" in codes):
        raise InvalidToken("fcm_unregistered")
    if status in (429, 500, 503) or "UNAVAILABLE" in codes:
        raise Transient(f"fcm_{status}")
    raise Rejected(f"fcm_{status}")


# --- SMS ------------------------------------------------------------------------------------

RECEIPT_PROVIDERS = ("aliyun", "tencent")  # their SMS status reports (HTTP push) say delivered or not


def receipt_token(provider: str) -> str | None:
    """The secret the provider's console puts in the report URL (the reports are not signed)."""
    return (config().get(provider) or {}).get("receipt_token")


def parse_receipts(provider: str, raw: bytes) -> list[tuple[str, bool, str]]:
    """(receipt id, delivered, code) per report in a status-report push. Aliyun's SmsReport:
    ``[{"biz_id", "success", "err_code", ...}]``; Tencent's: ``[{"sid", "report_status":
    "SUCCESS" | "FAIL", "errmsg", ...}]``. Raises ValueError on a body that is neither."""
    items = json.loads(raw or b"null")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise ValueError("a status report is a non-empty JSON array of objects")
    out = []
    for i in items:
        if provider == "aliyun" and i.get("biz_id"):
            out.append((f"aliyun:{i['biz_id']}", i.get("success") is True, str(i.get("err_code", ""))[:40]))
        elif provider == "tencent" and i.get("sid"):
            out.append((f"tencent:{i['sid']}", i.get("report_status") == "SUCCESS", str(i.get("errmsg", ""))[:40]))
    return out


def sms_provider() -> str:
    return get_settings().sms_provider


def send_sms(phone: str, key: str, params: dict[str, str], *, text: str = "") -> str:
    """One SMS from an approved template (``key`` names it; its id per provider is configured)."""
    provider = sms_provider()
    if provider == "sns":  # tests and legacy only: AWS China regions have no SNS SMS
        from chalicelib.core.aws import client

        client("sns").publish(PhoneNumber=f"+86{phone}", Message=text, MessageAttributes={
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}})
        return "sns"
    if provider == "none":
        raise Rejected("sms_disabled")
    cfg = provider_config(provider)
    template_id = cfg.get("templates", {}).get(key)
    if not template_id:
        raise Rejected(f"sms_template_missing_{key}")
    return (_aliyun_sms if provider == "aliyun" else _tencent_sms)(cfg, phone, template_id, params)


def _pct(value: str) -> str:
    return urllib.parse.quote(value, safe="-_.~")


def aliyun_signature(secret: str, method: str, params: dict[str, str]) -> str:
    """Alibaba Cloud RPC signature (HMAC-SHA1 over the canonicalized query), as the SDK signs."""
    canonical = "&".join(f"{_pct(k)}={_pct(params[k])}" for k in sorted(params))
    to_sign = f"{method}&%2F&{_pct(canonical)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def _aliyun_sms(cfg: dict, phone: str, template_id: str, params: dict) -> str:
    p = {"AccessKeyId": cfg["access_key_id"], "Action": "SendSms", "Format": "JSON", "PhoneNumbers": phone,
         "RegionId": "cn-hangzhou", "SignName": cfg["sign_name"], "SignatureMethod": "HMAC-SHA1",
         "SignatureNonce": uuid.uuid4().hex, "SignatureVersion": "1.0", "TemplateCode": template_id,
         "TemplateParam": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
         "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": "2017-05-25"}
    p["Signature"] = aliyun_signature(cfg["access_key_secret"], "POST", p)
    status, _, raw = _http("POST", base_url("aliyun") + "/", urllib.parse.urlencode(p).encode(),
                           {"content-type": "application/x-www-form-urlencoded"})
    data = _json(raw)
    code = data.get("Code", str(status))
    if status == 200 and code == "OK":
        return data.get("BizId", "")
    if code in ("isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.AMOUNT_NOT_ENOUGH"):
        raise Quota(f"aliyun_{code}")
    if status >= 500 or code.startswith("isp.") or code == "Throttling.User":
        raise Transient(f"aliyun_{code}")
    raise Rejected(f"aliyun_{code}")


def _tencent_sms(cfg: dict, phone: str, template_id: str, params: dict) -> str:
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.sms.v20210111 import models, sms_client

    url = urllib.parse.urlparse(base_url("tencent"))
    profile = ClientProfile(httpProfile=HttpProfile(protocol=url.scheme, endpoint=url.netloc,
                                                    reqTimeout=int(_timeout())))
    client = sms_client.SmsClient(credential.Credential(cfg["secret_id"], cfg["secret_key"]),
                                  cfg.get("region", "ap-guangzhou"), profile)
    req = models.SendSmsRequest()
    req.PhoneNumberSet = [f"+86{phone}"]
    req.SmsSdkAppId = cfg["sdk_app_id"]
    req.SignName = cfg["sign_name"]
    req.TemplateId = template_id
    req.TemplateParamSet = [str(v) for v in params.values()]
    try:
        resp = client.SendSms(req)
    except TencentCloudSDKException as exc:
        code = exc.get_code() or "unknown"
        if code.startswith(("InternalError", "RequestLimitExceeded")) or code in ("ClientNetworkError", "ServerNetworkError"):
            raise Transient(f"tencent_{code}") from None
        raise Rejected(f"tencent_{code}") from None
    status = (resp.SendStatusSet or [None])[0]
    code = getattr(status, "Code", "unknown")
    if code == "Ok":
        return getattr(status, "SerialNo", "") or ""
    if code.startswith("LimitExceeded"):
        raise Quota(f"tencent_{code}")
    if code.startswith("InternalError"):
        raise Transient(f"tencent_{code}")
    raise Rejected(f"tencent_{code}")


# --- WeChat subscribe messages ----------------------------------------------------------------

_wx_token: dict[str, tuple[float, str]] = {}


def _wechat_access_token(cfg: dict, *, fresh: bool = False) -> str:
    hit = _wx_token.get(cfg["appid"])
    if hit and hit[0] > time.time() and not fresh:
        return hit[1]
    q = urllib.parse.urlencode({"grant_type": "client_credential", "appid": cfg["appid"], "secret": cfg["secret"]})
    status, _, raw = _http("GET", f"{base_url('wechat')}/cgi-bin/token?{q}")
    data = _json(raw)
    if status != 200 or "access_token" not in data:
        raise Transient(f"wechat_token_{data.get('errcode', status)}")
    _wx_token[cfg["appid"]] = (time.time() + int(data.get("expires_in", 7200)) - 300, data["access_token"])
    return data["access_token"]


def wechat_session(code: str) -> str:
    """The mini-program user's openid for a ``wx.login()`` code (``jscode2session``): the server
    asks WeChat, so a client cannot name someone else's openid. The session key WeChat also
    returns is neither kept nor logged. A code is single use and lives 5 minutes."""
    cfg = provider_config("wechat")
    q = urllib.parse.urlencode({"appid": cfg["appid"], "secret": cfg["secret"], "js_code": code,
                                "grant_type": "authorization_code"})
    status, _, raw = _http("GET", f"{base_url('wechat')}/sns/jscode2session?{q}")
    if status >= 500:
        raise Transient(f"wechat_http_{status}")
    data = _json(raw)
    err = int(data.get("errcode") or 0)
    if err == 0 and data.get("openid"):
        return str(data["openid"])
    if err == 45011:  # too many codes for this user this minute
        raise Quota("wechat_45011")
    if err in (-1, 0):
        raise Transient(f"wechat_{err}")
    raise Rejected(f"wechat_{err}")  # 40029 invalid code, 40163 code used, 40226 high-risk user, …


def send_wechat(openid: str, template_id: str, page: str, data: dict) -> str:
    cfg = provider_config("wechat")
    body = json.dumps({"touser": openid, "template_id": template_id, "page": page, "data": data,
                       "miniprogram_state": cfg.get("miniprogram_state", "formal"), "lang": "zh_CN"},
                      ensure_ascii=False).encode()
    for fresh in (False, True):
        token = _wechat_access_token(cfg, fresh=fresh)
        status, _, raw = _http("POST", f"{base_url('wechat')}/cgi-bin/message/subscribe/send?access_token={token}",
                               body, {"content-type": "application/json"})
        if status >= 500:
            raise Transient(f"wechat_http_{status}")
        err = _json(raw).get("errcode", -1)
        if err == 0:
            return str(_json(raw).get("msgid", ""))
        if err in (40001, 42001) and not fresh:
            continue  # the access token was rotated: fetch a new one once
        if err == 43101:
            raise NoGrant("wechat_43101")
        if err in (-1, 45009):
            raise Transient(f"wechat_{err}")
        raise Rejected(f"wechat_{err}")
    raise Transient("wechat_token")


