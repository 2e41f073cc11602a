"""Alipay (open platform, RSA2), written directly with ``cryptography``.

The async notify is verified over all parameters except ``sign`` and ``sign_type``, sorted by
name and joined as ``k=v&…``, with Alipay's public key (SHA256withRSA); then ``app_id``,
``out_trade_no``, ``total_amount`` and ``seller_id`` are compared with the stored order.
"""

import json
from dataclasses import dataclass
from urllib.parse import quote_plus

from .wechat import sign, verify

SUCCESS_STATES = ("TRADE_SUCCESS", "TRADE_FINISHED")


@dataclass
class AlipayConfig:
    app_id: str
    seller_id: str
    merchant_private_key_pem: str
    alipay_public_key_pem: str

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
                     timestamp: str, timeout_express: str = "15m") -> str:
    """The signed order string the Alipay APP SDK takes (``alipay.trade.app.pay``)."""
    biz = json.dumps({"out_trade_no": out_trade_no, "total_amount": yuan(amount_fen), "subject": subject[:256],
                      "product_code": "QUICK_MSECURITY_PAY", "timeout_express": timeout_express},
                     separators=(",", ":"), ensure_ascii=False)
    params = {"app_id": cfg.app_id, "method": "alipay.trade.app.pay", "charset": "utf-8", "sign_type": "RSA2",
              "timestamp": timestamp, "version": "1.0", "notify_url": notify_url, "biz_content": biz}
    params["sign"] = sign(cfg.merchant_private_key_pem, signing_string(params))
    return "&".join(f"{k}={quote_plus(v)}" for k, v in sorted(params.items()))
