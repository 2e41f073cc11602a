"""Request and response bodies of the payments routes."""

from typing import Literal

from pydantic import Field

from chalicelib.core.schemas import ListQuery, Request, Response, Text, Timestamp, Token
from chalicelib.doctors.schemas import DoctorBrief

Channel = Literal["wechat_app", "wechat_jsapi", "alipay_app"]


class Delivery(Response):
    """How a client learns that what it paid for has been delivered. A payment is confirmed by the
    provider's callback; the product (a booking's seat, a consultation) is then delivered by the
    product's own domain from the ``order.paid`` event, usually within a second or two. Poll
    ``path`` (GET) until ``field`` is one of ``ready``; ``failed`` values mean it will not be
    delivered (a late payment is refunded in full)."""

    path: str
    field: str = "status"
    ready: list[str]
    failed: list[str]


# product type → (path template, ready states, failed states)
DELIVERY = {
    "booking": ("/v1/booking/bookings/{product_id}", ["confirmed", "checked_in", "no_show"],
                ["cancelled", "expired", "doctor_cancelled"]),
    "consultation": ("/v1/consultations/{product_id}", ["open", "closed"], ["cancelled", "refunded"]),
}


def delivery_for(product_type: str, product_id: str) -> "Delivery | None":
    spec = DELIVERY.get(product_type)
    if spec is None:
        return None
    path, ready, failed = spec
    return Delivery(path=path.format(product_id=product_id), ready=ready, failed=failed)


class OrderOut(Response):
    order_id: str
    product_type: str
    product_id: str
    doctor_id: str | None = None
    doctor: DoctorBrief | None = Field(default=None, description="lists: who the doctor is")
    description: str
    amount_fen: int
    currency: str = "CNY"
    status: str
    refunded_fen: int
    channel: str | None = None
    created_at: Timestamp
    expires_at: Timestamp
    paid_at: Timestamp | None = None
    delivery: Delivery | None = Field(default=None, description="what to poll once the order is paid")


class PayRequest(Request):
    channel: Channel
    openid: Token | None = Field(default=None, max_length=128, description="payer openid, for wechat_jsapi")


class WechatAppPayParams(Response):
    """channel wechat_app: the WeChat OpenSDK's PayReq fields, as named there."""

    appid: str
    partnerid: str
    prepayid: str
    package: str
    noncestr: str
    timestamp: str
    sign: str


class WechatJsapiPayParams(Response):
    """channel wechat_jsapi: the arguments of ``WeixinJSBridge.invoke('getBrandWCPayRequest', …)``."""

    appId: str  # noqa: N815  (WeChat's own names)
    timeStamp: str  # noqa: N815
    nonceStr: str  # noqa: N815
    package: str
    signType: str  # noqa: N815
    paySign: str  # noqa: N815


class AlipayAppPayParams(Response):
    """channel alipay_app: the signed order string the Alipay SDK's ``payV2`` takes."""

    order_string: str


class PayParams(Response):
    order_id: str
    channel: Channel
    params: WechatAppPayParams | WechatJsapiPayParams | AlipayAppPayParams = Field(
        description="What the client's payment SDK needs, by channel")


class RefundOut(Response):
    refund_id: str
    order_id: str
    amount_fen: int
    status: str
    reason: str
    created_at: Timestamp


class AdminRefund(Request):
    amount_fen: int | None = Field(default=None, gt=0)
    reason: Text = Field(min_length=2, max_length=200)


class EarningsQuery(Request):
    month: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM (Asia/Shanghai)")


class LedgerLine(Response):
    """One line of a doctor's earnings: what the patient paid (gross), the platform's fee, and what
    the doctor gets (net = gross − fee = amount_fen). Refund lines are negative."""

    entry_id: str
    order_id: str
    kind: str
    amount_fen: int = Field(description="the doctor's amount (same as net_fen)")
    gross_fen: int
    fee_fen: int
    net_fen: int
    created_at: Timestamp


class Earnings(Response):
    month: str
    credits_fen: int
    debits_fen: int
    gross_fen: int = Field(description="what patients paid, less refunds")
    fee_fen: int = Field(description="the platform's fees, less refunded fees")
    net_fen: int = Field(description="gross − fee: what the doctor earns")
    entries: list[LedgerLine]


class OrdersQuery(ListQuery):
    pass


