"""Alipay's side of the open-platform gateway, for tests: it checks the merchant's RSA2 request
signature, keeps trades and refunds, and answers ``{"<method>_response": …, "sign": …}`` signed
with its own key, as Alipay does. ``fail_next`` makes the next refund answer an error code."""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qsl

from chalicelib.payments import alipay
from chalicelib.payments.wechat import new_rsa_pair, sign, verify


class AlipayGateway:
    def __init__(self):
        self.merchant_private, self.merchant_public = new_rsa_pair()
        self.private, self.public = new_rsa_pair()
        self.config = {"app_id": "2021000000000001", "seller_id": "2088000000000001",
                       "merchant_private_key_pem": self.merchant_private, "alipay_public_key_pem": self.public,
                       "gateway_url": "https://openapi.alipay.test/gateway.do"}
        self.trades: dict[str, dict] = {}
        self.refunds: dict[tuple[str, str], int] = {}
        self.requests: list[tuple[str, dict]] = []
        self.fail_next: list[str] = []  # sub_codes to answer, one per refund request
        self.lose_next_answer = False  # do the work, then answer 502 (the answer is lost on the way)
        self.forge_next_answer = False  # answer signed with a key that is not Alipay's

    # --- what the payer does ------------------------------------------------------------------
    def pay(self, out_trade_no: str, amount_fen: int) -> dict[str, str]:
        """The payer pays: the trade succeeds; returns the signed async notify parameters."""
        trade = self.trades.setdefault(out_trade_no, {"trade_no": "2026" + secrets.token_hex(10),
                                                      "amount": amount_fen, "status": "WAIT_BUYER_PAY"})
        if trade["status"] != "WAIT_BUYER_PAY":
            raise AssertionError(f"Alipay does not take payment for a {trade['status']} trade")
        trade["status"] = "TRADE_SUCCESS"
        params = {"app_id": self.config["app_id"], "seller_id": self.config["seller_id"],
                  "out_trade_no": out_trade_no, "trade_no": trade["trade_no"], "total_amount": alipay.yuan(amount_fen),
                  "trade_status": "TRADE_SUCCESS", "notify_time": "2026-11-22 10:00:00", "sign_type": "RSA2"}
        params["sign"] = sign(self.private, alipay.signing_string(params))
        return params

    # --- the gateway --------------------------------------------------------------------------
    def handle(self, method: str, url: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        params = dict(parse_qsl(body.decode()))
        api = params.get("method", "")
        if not verify(self.merchant_public, alipay.signing_string(params).encode(), params.get("sign", "")):
            return self._answer(api, {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"})
        biz = json.loads(params["biz_content"])
        self.requests.append((api, biz))
        content = {"alipay.trade.query": self._query, "alipay.trade.close": self._close,
                   "alipay.trade.refund": self._refund,
                   "alipay.trade.fastpay.refund.query": self._refund_query}[api](biz)
        if self.lose_next_answer:
            self.lose_next_answer = False
            return 502, {}, b"bad gateway"
        return self._answer(api, content)

    def _answer(self, api: str, content: dict) -> tuple[int, dict, bytes]:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        key = self.private
        if self.forge_next_answer:
            self.forge_next_answer, key = False, new_rsa_pair()[0]
        raw = f'{{"{api.replace(".", "_")}_response":{text},"sign":"{sign(key, text)}"}}'
        return 200, {"Content-Type": "text/html;charset=utf-8"}, raw.encode()

    def _query(self, biz: dict) -> dict:
        t = self.trades.get(biz["out_trade_no"])
        if t is None:
            return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}
        return {"code": "10000", "msg": "Success", "out_trade_no": biz["out_trade_no"], "trade_no": t["trade_no"],
                "trade_status": t["status"], "total_amount": alipay.yuan(t["amount"])}

    def open_trade(self, out_trade_no: str, amount_fen: int) -> None:
        """The payer opened the payment in the Alipay app and has not paid yet."""
        self.trades[out_trade_no] = {"trade_no": "2026" + secrets.token_hex(10), "amount": amount_fen,
                                     "status": "WAIT_BUYER_PAY"}

    def _close(self, biz: dict) -> dict:
        t = self.trades.get(biz["out_trade_no"])
        if t is None:
            return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}
        if t["status"] != "WAIT_BUYER_PAY":
            return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_STATUS_ERROR"}
        t["status"] = "TRADE_CLOSED"
        return {"code": "10000", "msg": "Success", "out_trade_no": biz["out_trade_no"], "trade_no": t["trade_no"]}

    def refunded_total(self, out_trade_no: str) -> int:
        return sum(v for (o, _), v in self.refunds.items() if o == out_trade_no)

    def _refund(self, biz: dict) -> dict:
        if self.fail_next:
            return {"code": "40004", "msg": "Business Failed", "sub_code": self.fail_next.pop(0)}
        out, req = biz["out_trade_no"], biz["out_request_no"]
        t = self.trades.get(out)
        if t is None or t.get("status") != "TRADE_SUCCESS":
            return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_STATUS_ERROR"}
        ok = {"code": "10000", "msg": "Success", "out_trade_no": out, "trade_no": t["trade_no"]}
        if (out, req) in self.refunds:  # the same out_request_no: the same refund, no money moves again
            return {**ok, "fund_change": "N", "refund_fee": alipay.yuan(self.refunded_total(out))}
        amount = alipay.fen(biz["refund_amount"])
        if self.refunded_total(out) + amount > t["amount"]:
            return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"}
        self.refunds[(out, req)] = amount
        return {**ok, "fund_change": "Y", "refund_fee": alipay.yuan(self.refunded_total(out))}

    def _refund_query(self, biz: dict) -> dict:
        out, req = biz["out_trade_no"], biz["out_request_no"]
        if (out, req) not in self.refunds:
            return {"code": "10000", "msg": "Success"}  # no data: not refunded
        t = self.trades[out]
        return {"code": "10000", "msg": "Success", "out_trade_no": out, "out_request_no": req,
                "trade_no": t["trade_no"], "total_amount": alipay.yuan(t["amount"]),
                "refund_amount": alipay.yuan(self.refunds[(out, req)]), "refund_status": "REFUND_SUCCESS"}
