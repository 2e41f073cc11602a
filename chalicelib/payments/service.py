"""Payments rules: orders, provider callbacks, refunds, reconciliation and the earnings ledger.

Used by other domains (the contract): ``create_order``, ``get_order``, ``order_out``,
``refund``, ``close_order``, ``credit_deferred_share``; they react to ``order.paid`` / ``order.closed`` /
``order.refunded`` events with payload ``{order_id, product_type, product_id,
payer_account_id, doctor_id, amount_fen}`` (+ ``refund_id``/``refund_amount_fen``, ``reason``).

Exactly once: every transition is a conditional write in one transaction with its ledger entries
(keyed by the provider's transaction/refund id) and its outbox event, so duplicate, late or
out-of-order callbacks change nothing after the first valid one.
"""

import hashlib
from datetime import timedelta

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock, timers
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import alipay, providers, wechat
from .models import LedgerEntry, Order, Refund
from .schemas import Earnings, LedgerLine, OrderOut, PayParams, RefundOut, delivery_for

PRODUCTS = ("consultation", "booking", "second_opinion", "surgery_deposit")


class Rejected(Exception):
    """A provider notification that is authentic but does not match our records."""


# --- orders ----------------------------------------------------------------------------------

def _payload(o: Order, **extra) -> dict:
    return {"order_id": o.order_id, "product_type": o.product_type, "product_id": o.product_id,
            "payer_account_id": o.payer_account_id, "doctor_id": o.doctor_id, "amount_fen": int(o.amount_fen),
            **extra}


def create_order(*, payer_account_id: str, product_type: str, product_id: str, amount_fen: int,
                 doctor_id: str | None, description: str, expires_in_s: int = 900) -> Order:
    """One TransactWriteItems: the order, its expiry timer and ``order.created`` (or, for a free
    product, ``order.paid`` at once)."""
    if product_type not in PRODUCTS:
        raise ValueError(f"unknown product type {product_type}")
    if not isinstance(amount_fen, int) or amount_fen < 0:
        raise ValueError("amount must be a non-negative integer number of fen")
    now = clock.now()
    o = Order(new_id(), payer_account_id=payer_account_id, product_type=product_type, product_id=product_id,
              doctor_id=doctor_id, description=description[:120], amount_fen=amount_fen,
              fee_bps=get_settings().platform_fee_bps, status="paid" if amount_fen == 0 else "created",
              refunded_fen=0, refunding_fen=0, created_at=now, expires_at=now + timedelta(seconds=expires_in_s),
              paid_at=now if amount_fen == 0 else None)
    with transaction() as tx:
        tx.save(o, condition=Order.order_id.does_not_exist())
        if amount_fen == 0:
            emit(tx, "order.paid", _payload(o))
        else:
            timers.schedule("order-expiry", o.expires_at, {"order_id": o.order_id}, key=o.order_id, tx=tx)
            emit(tx, "order.created", _payload(o))
    return o


def get_order(order_id: str, consistent: bool = False) -> Order:
    try:
        return Order.get(order_id, consistent_read=consistent)
    except Order.DoesNotExist:
        raise NotFound("order not found")


def order_out(o: Order) -> OrderOut:
    return OrderOut(order_id=o.order_id, product_type=o.product_type, product_id=o.product_id, doctor_id=o.doctor_id,
                    description=o.description, amount_fen=int(o.amount_fen), status=o.status,
                    refunded_fen=int(o.refunded_fen or 0), channel=o.channel, created_at=clock.iso(o.created_at),
                    expires_at=clock.iso(o.expires_at), paid_at=clock.iso(o.paid_at),
                    delivery=delivery_for(o.product_type, o.product_id))


def _visible_order(caller, order_id: str) -> Order:
    o = get_order(order_id)
    if caller.is_admin or o.payer_account_id == caller.account_id:
        return o
    raise NotFound("order not found")


def list_orders(caller, limit: int | None, cursor: str | None) -> Page:
    page = query_page(Order, Order.by_payer.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    from chalicelib.doctors import service as doctors

    cards = doctors.briefs(o.doctor_id for o in page.items)  # one BatchGetItem per page (none without doctors)
    return Page([order_out(o).model_copy(update={"doctor": cards.get(o.doctor_id)}) for o in page.items],
                page.next_cursor)


def pay(caller, order_id: str, channel: str, openid: str | None) -> PayParams:
    """Start (or restart) a payment attempt: returns what the app's payment SDK needs."""
    o = _visible_order(caller, order_id)
    if o.status != "created":
        raise Conflict(f"the order is {o.status}", code="order_not_payable")
    if o.expires_at <= clock.now():
        raise Conflict("the order has expired", code="order_expired")
    if channel == "wechat_jsapi" and not openid:
        raise Unprocessable("openid is required for JSAPI payments", code="openid_required")
    now = clock.epoch()
    if channel.startswith("wechat"):
        kind = "app" if channel == "wechat_app" else "jsapi"
        prepay_id = providers.wechat_client().prepay(kind, o.order_id, int(o.amount_fen), o.description,
                                                     providers.notify_url("notify"), openid)
        cfg = providers.wechat_config()
        params = (wechat.app_pay_params(cfg, prepay_id, now) if kind == "app"
                  else wechat.jsapi_pay_params(cfg, prepay_id, now))
    else:
        params = {"order_string": alipay.app_order_string(
            providers.alipay_config(), o.order_id, int(o.amount_fen), o.description,
            f"{get_settings().public_base_url.rstrip('/')}/v1/payments/alipay/notify",
            providers.shanghai_timestamp(), providers.shanghai_timestamp(o.expires_at))}
    with transaction() as tx:
        tx.update(Order(o.order_id), actions=[Order.channel.set(channel)], condition=Order.status == "created")
        timers.schedule("payment-check", clock.now() + timedelta(seconds=get_settings().payment_check_after_s),
                        {"order_id": o.order_id}, key=o.order_id, tx=tx)
    return PayParams(order_id=o.order_id, channel=channel, params=params)


# --- ledger ----------------------------------------------------------------------------------

def _month(dt) -> str:
    return dt.astimezone(clock.SHANGHAI).strftime("%Y-%m")


def _doctor_share(o: Order, amount: int) -> int:
    if not o.doctor_id:
        return 0
    return amount - amount * int(o.fee_bps) // 10000


def _entries(o: Order, source: str, doctor_amount: int, platform_amount: int, kind: str) -> list[LedgerEntry]:
    now = clock.now()
    out = []
    for party, amount in ((f"doctor#{o.doctor_id}", doctor_amount), ("platform", platform_amount)):
        if amount == 0 or (party.startswith("doctor#") and not o.doctor_id):
            continue
        eid = f"{source}#{party}"
        doctor = party.startswith("doctor#")
        out.append(LedgerEntry(eid, party=party, month_key=f"{_month(now)}#{eid}", order_id=o.order_id, kind=kind,
                               amount_fen=amount, created_at=now,
                               gross_fen=doctor_amount + platform_amount if doctor else None,
                               fee_fen=platform_amount if doctor else None))
    return out


def credit_deferred_share(order_id: str, doctor_id: str) -> bool:
    """Credit a doctor's share of an order paid without a doctor (e.g. a second opinion, whose
    expert is settled only when the report is published): the share moves from the platform's
    line to the doctor's in one transaction, at most once per order (the entries' ids are fixed
    by the order). Only a paid order that nothing has been refunded from qualifies (409)."""
    o = get_order(order_id, consistent=True)
    if o.doctor_id:
        raise Conflict("this order credits its doctor at payment", code="share_already_credited")
    if o.status != "paid" or int(o.refunded_fen or 0):
        raise Conflict(f"the order is {o.status}", code="order_not_creditable")
    amount = int(o.amount_fen)
    share = amount - amount * int(o.fee_bps) // 10000
    if share <= 0:
        return False
    now = clock.now()
    source = f"share#{order_id}"
    entries = [LedgerEntry(f"{source}#{party}", party=party, month_key=f"{_month(now)}#{source}#{party}",
                           order_id=order_id, kind=kind, amount_fen=fen, created_at=now)
               for party, kind, fen in ((f"doctor#{doctor_id}", "credit", share), ("platform", "debit", -share))]
    try:
        with transaction() as tx:
            tx.condition_check(Order, order_id, condition=(Order.status == "paid") & (Order.refunded_fen == 0))
            for entry in entries:
                tx.save(entry, condition=LedgerEntry.entry_id.does_not_exist())
    except TransactWriteError:
        return False  # credited already (or the order moved meanwhile)
    logger.info("deferred share credited", extra={"order_id": order_id})
    return True


# --- payment settlement ----------------------------------------------------------------------

def settle_paid(order_id: str, txn_id: str, amount: int, channel: str | None = None) -> bool:
    """Record a confirmed payment once. Returns False if it was already recorded."""
    o = get_order(order_id, consistent=True)
    if amount != int(o.amount_fen):
        raise Rejected("amount does not match the order")
    if o.status not in ("created", "closed"):
        if o.provider_txn_id and o.provider_txn_id != txn_id:
            logger.error("second payment for one order", extra={"order_id": order_id})
        return False
    late = o.status == "closed"
    now = clock.now()
    doctor = _doctor_share(o, amount)
    try:
        with transaction() as tx:
            tx.update(Order(order_id), actions=[Order.status.set("paid"), Order.paid_at.set(now),
                                                Order.provider_txn_id.set(txn_id), Order.late_payment.set(late),
                                                *([Order.channel.set(channel)] if channel else [])],
                      condition=Order.status.is_in("created", "closed") & (Order.amount_fen == amount))
            for entry in _entries(o, f"pay#{txn_id}", doctor, amount - doctor, "credit"):
                tx.save(entry, condition=LedgerEntry.entry_id.does_not_exist())
            emit(tx, "order.paid", _payload(o, late=late))
    except TransactWriteError:
        return False  # a concurrent delivery recorded it first
    logger.info("order paid", extra={"order_id": order_id, "late": late})
    return True


def handle_wechat_payment(headers: dict, raw_body: bytes) -> None:
    """Verify, decrypt, match and record a payment notification; raises if it must not be acked."""
    cfg = providers.wechat_config()
    event_type, res = wechat.parse_notification(cfg, headers, raw_body, clock.epoch())
    if event_type != "TRANSACTION.SUCCESS" or res.get("trade_state") != "SUCCESS":
        return  # nothing to record; acknowledging stops the retries
    if res.get("mchid") != cfg.mchid or res.get("appid") != cfg.appid:
        raise Rejected("merchant or app id does not match")
    try:
        settle_paid(res["out_trade_no"], res["transaction_id"], int(res["amount"]["total"]))
    except NotFound:
        raise Rejected("unknown order")
    except (KeyError, TypeError, ValueError):
        raise Rejected("malformed transaction")


def handle_alipay(params: dict[str, str]) -> None:
    cfg = providers.alipay_config()
    if not alipay.verify_notify(cfg, params):
        raise wechat.SignatureError("bad alipay signature")
    if params.get("trade_status") not in alipay.SUCCESS_STATES:
        return
    if params.get("app_id") != cfg.app_id or params.get("seller_id") != cfg.seller_id:
        raise Rejected("app or seller does not match")
    amount = alipay.fen(params.get("total_amount", ""))
    if amount is None:
        raise Rejected("bad amount")
    try:
        settle_paid(params["out_trade_no"], params["trade_no"], amount, "alipay_app")
    except (NotFound, KeyError):
        raise Rejected("unknown order")


# --- expiry, closing, reconciliation ----------------------------------------------------------

def _provider_paid(o: Order) -> tuple[str, int] | None:
    """The provider's record of a successful payment for this order, if any: (transaction id, fen)."""
    channel = o.channel or ""
    if channel.startswith("wechat"):
        tx = providers.wechat_client().query(o.order_id)
        return (tx["transaction_id"], int(tx["amount"]["total"])) if tx.get("trade_state") == "SUCCESS" else None
    if channel.startswith("alipay"):
        try:
            res = providers.alipay_client().query(o.order_id)
        except alipay.GatewayError:
            logger.warning("alipay trade query failed", extra={"order_id": o.order_id})
            return None
        amount = alipay.fen(res.get("total_amount", ""))
        if res.get("code") == alipay.OK and res.get("trade_status") in alipay.SUCCESS_STATES and amount is not None:
            return res["trade_no"], amount
    return None


def close_order(order_id: str, reason: str) -> Order:
    """Close an unpaid order (releasing what it held is the owning domain's reaction to
    ``order.closed``). No-op if closed; 409 if paid."""
    o = get_order(order_id, consistent=True)
    if o.status == "closed":
        return o
    if o.status != "created":
        raise Conflict(f"the order is {o.status}", code="order_not_closable")
    paid = _provider_paid(o)
    if paid:
        settle_paid(o.order_id, *paid)
        raise Conflict("the order was paid", code="order_not_closable")
    if (o.channel or "").startswith("wechat"):
        providers.wechat_client().close(o.order_id)
    elif (o.channel or "").startswith("alipay"):
        try:  # best effort: a payment that still slips through is refunded as a late payment
            providers.alipay_client().close(o.order_id)
        except alipay.GatewayError:
            logger.warning("alipay trade close failed", extra={"order_id": o.order_id})
    try:
        with transaction() as tx:
            tx.update(Order(order_id), actions=[Order.status.set("closed"), Order.closed_reason.set(reason)],
                      condition=Order.status == "created")
            timers.cancel(timers.timer_id_for("order-expiry", order_id), tx=tx)
            emit(tx, "order.closed", _payload(o, reason=reason))
    except TransactWriteError:
        return close_order(order_id, reason)  # moved meanwhile: answer from its new state
    return get_order(order_id, consistent=True)


@consumer("timer.order-expiry")
def _on_expiry(event_id: str, payload: dict) -> None:
    try:
        o = get_order(payload["order_id"], consistent=True)
        if o.status == "created":
            close_order(o.order_id, "expired")
    except (NotFound, Conflict):
        pass


@consumer("timer.payment-check")
def _on_payment_check(event_id: str, payload: dict) -> None:
    reconcile_order(payload["order_id"])


def reconcile_order(order_id: str) -> str:
    """Settle an order whose payment notification has not arrived; safe to run any number of times."""
    o = get_order(order_id, consistent=True)
    if o.status != "created":
        return o.status
    paid = _provider_paid(o)
    if paid:
        settle_paid(o.order_id, *paid)
        return "paid"
    return "created"


@consumer("order.paid")
def _refund_late_payment(event_id: str, payload: dict) -> None:
    """A payment that arrived after the order was closed is returned in full."""
    if payload.get("late"):
        refund(order_id=payload["order_id"], amount_fen=None, reason="order closed before payment",
               request_key="late-payment")


# --- refunds ---------------------------------------------------------------------------------

def _refund_id(order_id: str, request_key: str) -> str:
    return "RF" + hashlib.sha256(f"{order_id}|{request_key}".encode()).hexdigest()[:30]


def refund_out(r: Refund) -> RefundOut:
    return RefundOut(refund_id=r.refund_id, order_id=r.order_id, amount_fen=int(r.amount_fen), status=r.status,
                     reason=r.reason, created_at=clock.iso(r.created_at))


def refund(*, order_id: str, amount_fen: int | None, reason: str, request_key: str) -> Refund:
    """Refund part or all of a paid order. The same ``request_key`` always means the same refund
    (one provider call however often it is asked); the total refunded never exceeds what was paid."""
    rid = _refund_id(order_id, request_key)
    try:
        return Refund.get(rid, consistent_read=True)
    except Refund.DoesNotExist:
        pass
    o = get_order(order_id, consistent=True)
    if o.status == "refunding":
        raise Conflict("another refund of this order is in progress", code="refund_in_progress")
    if o.status not in ("paid", "refunded"):
        raise Conflict(f"the order is {o.status}", code="order_not_refundable")
    remaining = int(o.amount_fen) - int(o.refunded_fen or 0)
    amount = remaining if amount_fen is None else amount_fen
    if amount <= 0 and int(o.amount_fen) == 0:
        r = Refund(rid, order_id=order_id, amount_fen=0, reason=reason, status="succeeded",
                   order_status_before=o.status, created_at=clock.now(), settled_at=clock.now())
        r.save(condition=Refund.refund_id.does_not_exist())
        return r
    if not 0 < amount <= remaining:
        raise Unprocessable(f"at most {remaining} fen can still be refunded", code="refund_exceeds_payment")
    now = clock.now()
    r = Refund(rid, order_id=order_id, amount_fen=amount, reason=reason, status="processing",
               order_status_before=o.status, created_at=now)
    try:
        with transaction() as tx:
            tx.save(r, condition=Refund.refund_id.does_not_exist())
            tx.update(Order(order_id), actions=[Order.status.set("refunding"), Order.refunding_fen.set(amount)],
                      condition=Order.status.is_in("paid", "refunded")
                      & (Order.refunded_fen <= int(o.amount_fen) - amount))
            timers.schedule("refund-check", now + timedelta(minutes=2), {"refund_id": rid}, key=rid, tx=tx)
    except TransactWriteError:
        try:
            return Refund.get(rid, consistent_read=True)  # a double click that won the race
        except Refund.DoesNotExist:
            raise Conflict("the order changed; try again", code="refund_in_progress")
    _submit_refund(o, r)
    return Refund.get(rid, consistent_read=True)


def _submit_refund(o: Order, r: Refund) -> None:
    """Ask the provider; a failure here leaves the refund processing for the refund-check timer,
    which asks again with the same refund number (both providers treat it as the same refund)."""
    channel, amount = o.channel or "", int(r.amount_fen)
    try:
        if channel.startswith("wechat"):
            res = providers.wechat_client().refund(o.order_id, r.refund_id, amount, int(o.amount_fen), r.reason,
                                                   providers.notify_url("refund-notify"))
            if res.get("status") == "SUCCESS":
                settle_refund(r.refund_id, res.get("refund_id", ""), True)
        elif channel.startswith("alipay"):
            client = providers.alipay_client()
            res = client.refund(o.order_id, r.refund_id, amount, r.reason)
            if res.get("code") == alipay.OK:
                # Y: the money moved now; N: asked before, and only the refund query can say it is done
                if res.get("fund_change") == "Y" or alipay.refunded(client.query_refund(o.order_id, r.refund_id),
                                                                    amount):
                    settle_refund(r.refund_id, res.get("trade_no", ""), True)
            elif res.get("code") not in alipay.RETRYABLE and res.get("sub_code") not in alipay.RETRYABLE:
                logger.error("alipay refused the refund", extra={"refund_id": r.refund_id,
                                                                 "sub_code": res.get("sub_code")})
                settle_refund(r.refund_id, "", False)
        else:
            logger.error("refund needs manual handling for this channel", extra={"order_id": o.order_id,
                                                                                    "refund_id": r.refund_id})
    except Exception:  # network or provider error: reconciliation retries with the same refund number
        logger.exception("refund submission failed", extra={"refund_id": r.refund_id})


def settle_refund(refund_id: str, provider_refund_id: str, success: bool) -> bool:
    try:
        r = Refund.get(refund_id, consistent_read=True)
    except Refund.DoesNotExist:
        raise NotFound("refund not found")
    if r.status != "processing":
        return False
    o = get_order(r.order_id, consistent=True)
    amount = int(r.amount_fen)
    before = int(o.refunded_fen or 0)
    now = clock.now()
    try:
        with transaction() as tx:
            if success:
                tx.update(r, actions=[Refund.status.set("succeeded"), Refund.settled_at.set(now),
                                      Refund.provider_refund_id.set(provider_refund_id)],
                          condition=Refund.status == "processing")
                tx.update(Order(o.order_id), actions=[Order.status.set("refunded"), Order.refunding_fen.set(0),
                                                      Order.refunded_fen.add(amount)],
                          condition=(Order.status == "refunding") & (Order.refunded_fen == before))
                total = int(o.amount_fen)
                share = _doctor_share(o, total)
                doctor = (before + amount) * share // total - before * share // total if total else 0
                for entry in _entries(o, f"refund#{refund_id}", -doctor, -(amount - doctor), "debit"):
                    tx.save(entry, condition=LedgerEntry.entry_id.does_not_exist())
                emit(tx, "order.refunded", _payload(o, refund_id=refund_id, refund_amount_fen=amount))
            else:
                tx.update(r, actions=[Refund.status.set("failed"), Refund.settled_at.set(now)],
                          condition=Refund.status == "processing")
                tx.update(Order(o.order_id), actions=[Order.status.set(r.order_status_before),
                                                      Order.refunding_fen.set(0)],
                          condition=Order.status == "refunding")
            timers.cancel(timers.timer_id_for("refund-check", refund_id), tx=tx)
    except TransactWriteError:
        return False
    logger.info("refund settled", extra={"refund_id": refund_id, "success": success})
    return True


def handle_wechat_refund(headers: dict, raw_body: bytes) -> None:
    cfg = providers.wechat_config()
    event_type, res = wechat.parse_notification(cfg, headers, raw_body, clock.epoch())
    if res.get("mchid") != cfg.mchid:
        raise Rejected("merchant does not match")
    try:
        r = Refund.get(res["out_refund_no"], consistent_read=True)
    except (Refund.DoesNotExist, KeyError):
        raise Rejected("unknown refund")
    if r.order_id != res.get("out_trade_no") or int(res.get("amount", {}).get("refund", -1)) != int(r.amount_fen):
        raise Rejected("refund does not match")
    status = res.get("refund_status")
    if status in ("SUCCESS", "ABNORMAL", "CLOSED"):
        settle_refund(r.refund_id, res.get("refund_id", ""), status == "SUCCESS")


@consumer("timer.refund-check")
def _on_refund_check(event_id: str, payload: dict) -> None:
    reconcile_refund(payload["refund_id"])


def reconcile_refund(refund_id: str) -> str:
    """Settle a refund whose notification has not arrived, or submit it again (same out_refund_no)."""
    r = Refund.get(refund_id, consistent_read=True)
    if r.status != "processing":
        return r.status
    o = get_order(r.order_id, consistent=True)
    channel = o.channel or ""
    try:
        if channel.startswith("wechat"):
            res = providers.wechat_client().query_refund(refund_id)
            if res is None:
                _submit_refund(o, r)
            elif res.get("status") in ("SUCCESS", "ABNORMAL", "CLOSED"):
                settle_refund(refund_id, res.get("refund_id", ""), res["status"] == "SUCCESS")
        elif channel.startswith("alipay"):
            res = providers.alipay_client().query_refund(o.order_id, refund_id)
            if alipay.refunded(res, int(r.amount_fen)):
                settle_refund(refund_id, res.get("trade_no", ""), True)
            else:  # not done (or never arrived): the same out_request_no again
                _submit_refund(o, r)
        else:
            return r.status  # manual handling, logged when it was submitted
    except Exception:
        logger.exception("refund reconciliation failed", extra={"refund_id": refund_id})
    status = Refund.get(refund_id, consistent_read=True).status
    if status == "processing":
        timers.schedule("refund-check", clock.now() + timedelta(minutes=5), {"refund_id": refund_id}, key=refund_id)
    return status


def admin_refund(caller, order_id: str, amount_fen: int | None, reason: str, request_key: str) -> RefundOut:
    get_order(order_id)
    return refund_out(refund(order_id=order_id, amount_fen=amount_fen, reason=reason,
                             request_key=f"admin:{request_key}"))


# --- statements ------------------------------------------------------------------------------

def earnings(caller, month: str) -> Earnings:
    entries = list(LedgerEntry.by_party.query(f"doctor#{caller.account_id}", LedgerEntry.month_key.startswith(f"{month}#")))
    lines = []
    for e in entries:
        net = int(e.amount_fen)
        gross = int(e.gross_fen) if e.gross_fen is not None else net  # entries written before the split was kept
        fee = int(e.fee_fen) if e.fee_fen is not None else 0
        lines.append(LedgerLine(entry_id=e.entry_id, order_id=e.order_id, kind=e.kind, amount_fen=net, gross_fen=gross,
                                fee_fen=fee, net_fen=net, created_at=clock.iso(e.created_at)))
    credits = sum(line.amount_fen for line in lines if line.amount_fen > 0)
    debits = sum(line.amount_fen for line in lines if line.amount_fen < 0)
    return Earnings(month=month, credits_fen=credits, debits_fen=debits, net_fen=credits + debits,
                    gross_fen=sum(line.gross_fen for line in lines), fee_fen=sum(line.fee_fen for line in lines),
                    entries=lines)
