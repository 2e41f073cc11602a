"""Alipay (open platform, RSA2), written directly with ``cryptography``.

The async notify is verified over all parameters except ``sign`` and ``sign_type``, sorted by
name and joined as ``k=v&…``, with Alipay's public key (SHA256withRSA); then ``app_id``,
``out_trade_no``, ``total_amount`` and ``seller_id`` are compared with the stored order.

Server-to-server calls (trade query, refund, refund query) POST signed form parameters to the
gateway; the answer ``{"<method>_response": {...}, "sign": "..."}`` is trusted only after the
signature over the exact text of the ``<method>_response`` value verifies with Alipay's key.
Refunds are synchronous: ``code`` 10000 with ``fund_change`` Y means the money moved; a repeated
``out_request_no`` answers N, so the refund query decides (data returned = refunded).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode

from .wechat import Transport, sign, verify

SUCCESS_STATES = ("TRADE_SUCCESS", "TRADE_FINISHED")
GATEWAY = "https://openapi.alipay.com/gateway.do"
OK = "10000"
# service unavailable, Alipay busy, or the merchant balance short until topped up: the same request again later
RETRYABLE = ("20000", "ACQ.SYSTEM_ERROR", "ACQ.SELLER_BALANCE_NOT_ENOUGH")


class GatewayError(Exception):
    """The gateway did not answer with a verifiable response (network, 5xx, bad signature)."""


@dataclass
class AlipayConfig:
    app_id: str
    seller_id: str
    merchant_private_key_pem: str
    alipay_public_key_pem: str
    gateway_url: str = GATEWAY

    @classmethod
    def from_json(cls, raw: str) -> "AlipayConfig":
        return cls(**json.loads(raw))


def signing_string(params: dict[str, str]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type") and params[k] != "")


def verify_notify(cfg: AlipayConfig, params: dict[str, str]) -> bool:
    if params.get("sign_type", "RSA2") != "RSA2" or not params.get("sign"):
        return False
    return verify(cfg.alipay_public_key_pem, signing_string(params).encode(), params["sign"])


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def fen(yuan_str: str) -> int | None:
    whole, _, frac = yuan_str.partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        return None
    return int(whole) * 100 + int((frac + "00")[:2])


def app_order_string(cfg: AlipayConfig, out_trade_no: str, amount_fen: int, subject: str, notify_url: str,
                     timestamp: str, time_expire: str) -> str:
    """The signed order string the Alipay APP SDK takes (``alipay.trade.app.pay``).

    ``time_expire`` is the order's own expiry (Asia/Shanghai ``yyyy-MM-dd HH:mm:ss``), so Alipay
    stops taking the payment when the order closes here, however late the payer started."""
    biz = json.dumps({"out_trade_no": out_trade_no, "total_amount": yuan(amount_fen), "subject": subject[:256],
                      "product_code": "QUICK_MSECURITY_PAY", "time_expire": time_expire},
                     separators=(",", ":"), ensure_ascii=False)
    params = {"app_id": cfg.app_id, "method": "alipay.trade.app.pay", "charset": "utf-8", "sign_type": "RSA2",
              "timestamp": timestamp, "version": "1.0", "notify_url": notify_url, "biz_content": biz}
    params["sign"] = sign(cfg.merchant_private_key_pem, signing_string(params))
    return "&".join(f"{k}={quote_plus(v)}" for k, v in sorted(params.items()))


def response_content(raw: bytes, method: str, alipay_public_key_pem: str) -> dict:
    """The verified ``<method>_response`` object of a gateway answer."""
    text = raw.decode("utf-8")
    key = '"' + method.replace(".", "_") + '_response"'
    at = text.find(key)
    if at < 0:
        raise GatewayError(f"no {method} response")
    start = text.index(":", at + len(key)) + 1
    while text[start].isspace():
        start += 1
    content, end = json.JSONDecoder().raw_decode(text, start)
    signature = json.loads(text).get("sign")
    if not signature or not verify(alipay_public_key_pem, text[start:end].encode("utf-8"), signature):
        raise GatewayError(f"{method} response signature does not verify")
    return content


class AlipayClient:
    """The merchant side of the gateway: signed requests, verified answers."""

    def __init__(self, cfg: AlipayConfig, transport: Transport, timestamp: Callable[[], str]):
        self.cfg, self.transport, self.timestamp = cfg, transport, timestamp

    def call(self, method: str, biz: dict) -> dict:
        params = {"app_id": self.cfg.app_id, "method": method, "format": "JSON", "charset": "utf-8",
                  "sign_type": "RSA2", "timestamp": self.timestamp(), "version": "1.0",
                  "biz_content": json.dumps(biz, separators=(",", ":"), ensure_ascii=False)}
        params["sign"] = sign(self.cfg.merchant_private_key_pem, signing_string(params))
        status, _, raw = self.transport("POST", self.cfg.gateway_url,
                                        {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
                                        urlencode(params).encode())
        if status != 200:
            raise GatewayError(f"{method}: HTTP {status}")
        return response_content(raw, method, self.cfg.alipay_public_key_pem)

    def query(self, out_trade_no: str) -> dict:
        """``trade_status`` (WAIT_BUYER_PAY, TRADE_SUCCESS, …); ACQ.TRADE_NOT_EXIST before the payer starts."""
        return self.call("alipay.trade.query", {"out_trade_no": out_trade_no})

    def close(self, out_trade_no: str) -> dict:
        """Stop a trade the payer has not paid (ACQ.TRADE_NOT_EXIST if they never opened it)."""
        return self.call("alipay.trade.close", {"out_trade_no": out_trade_no})

    def refund(self, out_trade_no: str, out_request_no: str, refund_fen: int, reason: str) -> dict:
        return self.call("alipay.trade.refund", {"out_trade_no": out_trade_no, "out_request_no": out_request_no,
                                                 "refund_amount": yuan(refund_fen), "refund_reason": reason[:256]})

    def query_refund(self, out_trade_no: str, out_request_no: str) -> dict:
        return self.call("alipay.trade.fastpay.refund.query", {"out_trade_no": out_trade_no,
                                                               "out_request_no": out_request_no,
                                                               "query_options": ["gmt_refund_pay"]})


def refunded(res: dict, amount_fen: int) -> bool:
    """Whether a refund query answer shows the refund done (Alipay: data returned means refunded)."""
    return (res.get("code") == OK and res.get("refund_status", "REFUND_SUCCESS") == "REFUND_SUCCESS"
            and fen(res.get("refund_amount", "")) == amount_fen)
