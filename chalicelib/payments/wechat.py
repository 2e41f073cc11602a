"""WeChat Pay API v3, written directly with ``cryptography``.

* Requests are signed SHA256withRSA over ``METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n`` and sent with
  ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,signature=…,timestamp=…,serial_no=…``.
* Responses and notifications are verified over ``timestamp\\nnonce\\nbody\\n`` (the raw body)
  with the pinned platform public key named by ``Wechatpay-Serial``; an unknown serial or a
  timestamp older than 5 minutes is refused before anything else happens; so is a
  ``Wechatpay-Signature-Type`` other than ``WECHATPAY2-SHA256-RSA2048``.
* Notification ``resource`` is AEAD_AES_256_GCM with the APIv3 key.
"""

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAX_SKEW_S = 300
SCHEMA = "WECHATPAY2-SHA256-RSA2048"


class SignatureError(Exception):
    """A response or notification that does not prove it came from WeChat Pay."""


@dataclass
class WechatConfig:
    mchid: str
    appid: str
    merchant_serial: str
    merchant_private_key_pem: str
    apiv3_key: str  # 32 ASCII characters
    platform_public_keys: dict[str, str]  # serial -> PEM
    base_url: str = "https://api.mch.weixin.qq.com"

    @classmethod
    def from_json(cls, raw: str) -> "WechatConfig":
        return cls(**json.loads(raw))


def sign(private_key_pem: str, message: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("WeChat Pay signs with an RSA key")
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(public_key_pem: str, message: bytes, signature_b64: str) -> bool:
    try:
        key = serialization.load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        key.verify(base64.b64decode(signature_b64), message, padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def new_rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def authorization(cfg: WechatConfig, method: str, path_with_query: str, body: str, *, nonce: str | None = None,
                  timestamp: int | None = None) -> str:
    nonce = nonce or secrets.token_hex(16)
    ts = str(timestamp or int(time.time()))
    signature = sign(cfg.merchant_private_key_pem, f"{method}\n{path_with_query}\n{ts}\n{nonce}\n{body}\n")
    return (f'{SCHEMA} mchid="{cfg.mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{ts}",serial_no="{cfg.merchant_serial}"')


def parse_authorization(header: str) -> dict[str, str]:
    if not header.startswith(SCHEMA + " "):
        return {}
    out = {}
    for part in header[len(SCHEMA) + 1:].split(","):
        k, _, v = part.partition("=")
        out[k.strip()] = v.strip().strip('"')
    return out


def verify_signed(cfg: WechatConfig, headers: dict[str, str], raw_body: bytes, now: int) -> None:
    """Check a WeChat-signed message (response or notification); raise SignatureError if not."""
    h = {k.lower(): v for k, v in headers.items()}
    serial, ts, nonce, sig = (h.get("wechatpay-serial"), h.get("wechatpay-timestamp"), h.get("wechatpay-nonce"),
                              h.get("wechatpay-signature"))
    if not (serial and ts and nonce and sig):
        raise SignatureError("missing Wechatpay-* headers")
    # the only type WeChat Pay uses for merchants; anything else is not verified (absent: the
    # same type, as before WeChat added the header)
    if h.get("wechatpay-signature-type", SCHEMA) != SCHEMA:
        raise SignatureError("unsupported signature type")
    key = cfg.platform_public_keys.get(serial)
    if key is None:
        raise SignatureError("unknown platform certificate serial")
    try:
        if abs(now - int(ts)) > MAX_SKEW_S:
            raise SignatureError("stale timestamp")
    except ValueError:
        raise SignatureError("bad timestamp")
    if not verify(key, f"{ts}\n{nonce}\n".encode() + raw_body + b"\n", sig):
        raise SignatureError("bad signature")


def decrypt_resource(cfg: WechatConfig, resource: dict[str, Any]) -> dict[str, Any]:
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise SignatureError("unsupported resource algorithm")
    try:
        plain = AESGCM(cfg.apiv3_key.encode()).decrypt(
            resource["nonce"].encode(), base64.b64decode(resource["ciphertext"]),
            (resource.get("associated_data") or "").encode())
        return json.loads(plain)
    except (InvalidTag, KeyError, ValueError, TypeError):
        raise SignatureError("resource does not decrypt")


def encrypt_resource(apiv3_key: str, plain: dict[str, Any], associated_data: str) -> dict[str, Any]:
    """What WeChat does (used by the sandbox provider)."""
    nonce = secrets.token_hex(6)
    ct = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), json.dumps(plain).encode(), associated_data.encode())
    return {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(ct).decode(),
            "associated_data": associated_data, "nonce": nonce, "original_type": "transaction"}


def parse_notification(cfg: WechatConfig, headers: dict[str, str], raw_body: bytes, now: int) -> tuple[str, dict]:
    """(event_type, decrypted resource) of a verified notification."""
    verify_signed(cfg, headers, raw_body, now)
    try:
        envelope = json.loads(raw_body)
        return envelope["event_type"], decrypt_resource(cfg, envelope["resource"])
    except (ValueError, KeyError, TypeError):
        raise SignatureError("malformed notification")


def app_pay_params(cfg: WechatConfig, prepay_id: str, now: int) -> dict[str, str]:
    """What the APP SDK needs (``appid\\ntimestamp\\nnoncestr\\nprepayid\\n`` signed)."""
    nonce = secrets.token_hex(16)
    ts = str(now)
    return {"appid": cfg.appid, "partnerid": cfg.mchid, "prepayid": prepay_id, "package": "Sign=WXPay",
            "noncestr": nonce, "timestamp": ts,
            "sign": sign(cfg.merchant_private_key_pem, f"{cfg.appid}\n{ts}\n{nonce}\n{prepay_id}\n")}


def jsapi_pay_params(cfg: WechatConfig, prepay_id: str, now: int) -> dict[str, str]:
    """What ``WeixinJSBridge.invoke('getBrandWCPayRequest')`` needs."""
    nonce = secrets.token_hex(16)
    ts = str(now)
    package = f"prepay_id={prepay_id}"
    return {"appId": cfg.appid, "timeStamp": ts, "nonceStr": nonce, "package": package, "signType": "RSA",
            "paySign": sign(cfg.merchant_private_key_pem, f"{cfg.appid}\n{ts}\n{nonce}\n{package}\n")}


Transport = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def urllib_transport(method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class WechatClient:
    """The merchant side of the v3 HTTP API."""

    def __init__(self, cfg: WechatConfig, transport: Transport, clock: Callable[[], int]):
        self.cfg, self.transport, self.now = cfg, transport, clock

    def call(self, method: str, path: str, payload: dict | None = None) -> tuple[int, dict]:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False) if payload is not None else ""
        headers = {"Authorization": authorization(self.cfg, method, path, body, timestamp=self.now()),
                   "Accept": "application/json", "Content-Type": "application/json"}
        status, resp_headers, raw = self.transport(method, self.cfg.base_url.rstrip("/") + path, headers,
                                                   body.encode())
        if status < 500:
            verify_signed(self.cfg, resp_headers, raw, self.now())
        return status, (json.loads(raw) if raw else {})

    def prepay(self, kind: str, out_trade_no: str, total: int, description: str, notify_url: str,
               openid: str | None = None) -> str:
        payload: dict[str, Any] = {"appid": self.cfg.appid, "mchid": self.cfg.mchid, "description": description,
                                   "out_trade_no": out_trade_no, "notify_url": notify_url,
                                   "amount": {"total": total, "currency": "CNY"}}
        if kind == "jsapi":
            payload["payer"] = {"openid": openid}
        status, data = self.call("POST", f"/v3/pay/transactions/{kind}", payload)
        if status != 200 or "prepay_id" not in data:
            raise RuntimeError(f"prepay failed: {status} {data.get('code')}")
        return data["prepay_id"]

    def query(self, out_trade_no: str) -> dict:
        status, data = self.call("GET", f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={self.cfg.mchid}")
        return data if status == 200 else {"trade_state": "NOTPAY" if status == 404 else "UNKNOWN"}

    def close(self, out_trade_no: str) -> None:
        self.call("POST", f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close", {"mchid": self.cfg.mchid})

    def refund(self, out_trade_no: str, out_refund_no: str, refund: int, total: int, reason: str,
               notify_url: str) -> dict:
        status, data = self.call("POST", "/v3/refund/domestic/refunds", {
            "out_trade_no": out_trade_no, "out_refund_no": out_refund_no, "reason": reason[:80],
            "notify_url": notify_url, "amount": {"refund": refund, "total": total, "currency": "CNY"}})
        if status != 200:
            raise RuntimeError(f"refund failed: {status} {data.get('code')}")
        return data

    def query_refund(self, out_refund_no: str) -> dict | None:
        status, data = self.call("GET", f"/v3/refund/domestic/refunds/{out_refund_no}")
        return data if status == 200 else None
