"""Request and response bodies of the payments routes."""

from typing import Literal

from pydantic import Field

from chalicelib.core.schemas import ListQuery, Request, Response

Channel = Literal["wechat_app", "wechat_jsapi", "alipay_app"]


class OrderOut(Response):
    order_id: str
    product_type: str
    product_id: str
    doctor_id: str | None = None
    description: str
    amount_fen: int
    currency: str = "CNY"
    status: str
    refunded_fen: int
    channel: str | None = None
    created_at: str
    expires_at: str
    paid_at: str | None = None


class PayRequest(Request):
    channel: Channel
    openid: str | None = Field(default=None, max_length=128, description="payer openid, for wechat_jsapi")


class PayParams(Response):
    order_id: str
    channel: str
    params: dict = Field(description="What the client SDK needs: WeChat APP/JSAPI fields or the Alipay order string")


class RefundOut(Response):
    refund_id: str
    order_id: str
    amount_fen: int
    status: str
    reason: str
    created_at: str


class AdminRefund(Request):
    amount_fen: int | None = Field(default=None, gt=0)
    reason: str = Field(min_length=2, max_length=200)


class EarningsQuery(Request):
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")


class LedgerLine(Response):
    entry_id: str
    order_id: str
    kind: str
    amount_fen: int
    created_at: str


class Earnings(Response):
    month: str
    credits_fen: int
    debits_fen: int
    net_fen: int
    entries: list[LedgerLine]


class OrdersQuery(ListQuery):
    pass


class Ack(Response):
    code: str = "SUCCESS"

