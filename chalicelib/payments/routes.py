"""Payments routes: the payer's orders, paying, provider notifications, earnings, operator refunds."""

from urllib.parse import parse_qsl

from chalice import Response as HttpResponse

from chalicelib.core import observability
from chalicelib.core.http import Api, Ctx, ListOf
from chalicelib.core.lazy import lazy_module

service = lazy_module("chalicelib.payments.service")
api = Api("payments")


@api.route("/v1/orders", "GET", roles=("patient",), query="OrdersQuery", response=ListOf("OrderOut"),
           summary="The caller's orders, newest first")
def list_orders(ctx: Ctx):
    return service.list_orders(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/orders/{order_id}", "GET", response="OrderOut", errors=(404,), summary="One of the caller's orders")
def get_order(ctx: Ctx, order_id: str):
    return service.order_out(service._visible_order(ctx.caller, order_id))


@api.route("/v1/orders/{order_id}/pay", "POST", roles=("patient",), request="PayRequest", response="PayParams",
           errors=(404, 409, 422), summary="Start paying: what the WeChat Pay or Alipay SDK needs")
def pay(ctx: Ctx, order_id: str):
    return service.pay(ctx.caller, order_id, ctx.body.channel, ctx.body.openid)


def _wechat_reply(handler, ctx: Ctx) -> HttpResponse:
    """204 only after the durable write; a FAIL body otherwise (WeChat retries)."""
    from chalicelib.payments.wechat import SignatureError

    try:
        handler(dict(ctx.request.headers), ctx.request.raw_body or b"")
    except SignatureError as exc:
        observability.logger.warning("wechat notification refused", extra={"reason": str(exc)})
        return HttpResponse(body={"code": "FAIL", "message": "signature verification failed"}, status_code=401)
    except service.Rejected as exc:
        observability.logger.error("wechat notification does not match our records", extra={"reason": str(exc)})
        return HttpResponse(body={"code": "FAIL", "message": "rejected"}, status_code=400)
    return HttpResponse(body="", status_code=204)


@api.route("/v1/payments/wechat/notify", "POST", auth=False, status=204, errors=(400, 401),
           summary="WeChat Pay v3 payment notification (204 after the durable write)")
def wechat_notify(ctx: Ctx):
    return _wechat_reply(service.handle_wechat_payment, ctx)


@api.route("/v1/payments/wechat/refund-notify", "POST", auth=False, status=204, errors=(400, 401),
           summary="WeChat Pay v3 refund notification (204 after the durable write)")
def wechat_refund_notify(ctx: Ctx):
    return _wechat_reply(service.handle_wechat_refund, ctx)


@api.route("/v1/payments/alipay/notify", "POST", auth=False, content_types=["application/x-www-form-urlencoded"],
           produces="text/plain", errors=(400,), summary="Alipay async notification (replies `success` after the write)")
def alipay_notify(ctx: Ctx):
    from chalicelib.payments.wechat import SignatureError

    params = dict(parse_qsl((ctx.request.raw_body or b"").decode("utf-8", "replace"), keep_blank_values=True))
    try:
        service.handle_alipay(params)
    except (SignatureError, service.Rejected) as exc:
        observability.logger.warning("alipay notification refused", extra={"reason": str(exc)})
        return HttpResponse(body="failure", status_code=400, headers={"Content-Type": "text/plain"})
    return HttpResponse(body="success", status_code=200, headers={"Content-Type": "text/plain"})


@api.route("/v1/doctor/earnings", "GET", roles=("doctor",), query="EarningsQuery", response="Earnings",
           summary="The doctor's earnings statement for a month (Asia/Shanghai)")
def earnings(ctx: Ctx):
    return service.earnings(ctx.caller, ctx.query.month)


@api.route("/v1/admin/orders/{order_id}", "GET", roles=("admin",), response="OrderOut", errors=(404,),
           summary="Any order (operator)")
def admin_get(ctx: Ctx, order_id: str):
    return service.order_out(service.get_order(order_id))


@api.route("/v1/admin/orders/{order_id}/refund", "POST", roles=("admin",), request="AdminRefund",
           response="RefundOut", status=201, idempotent=True, errors=(404, 409, 422),
           summary="Refund an order in full or in part (operator)")
def admin_refund(ctx: Ctx, order_id: str):
    key = ctx.header("Idempotency-Key") or ctx.request_id
    return service.admin_refund(ctx.caller, order_id, ctx.body.amount_fen, ctx.body.reason, key)
