"""Payments tables: orders, refunds, and the append-only earnings ledger."""

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.core.db import meta, register


class ByPayer(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_payer"
        projection = AllProjection()

    payer_account_id = UnicodeAttribute(hash_key=True)
    order_id = UnicodeAttribute(range_key=True)


@register
class Order(Model):
    Meta = meta("orders")
    order_id = UnicodeAttribute(hash_key=True)  # also the provider's out_trade_no
    payer_account_id = UnicodeAttribute()
    product_type = UnicodeAttribute()  # consultation | booking | second_opinion | surgery_deposit
    product_id = UnicodeAttribute()
    doctor_id = UnicodeAttribute(null=True)
    description = UnicodeAttribute()
    amount_fen = NumberAttribute()
    fee_bps = NumberAttribute()  # platform fee at the time of the order
    status = UnicodeAttribute()  # created | paid | closed | refunding | refunded
    refunded_fen = NumberAttribute(default=0)
    refunding_fen = NumberAttribute(default=0)
    channel = UnicodeAttribute(null=True)  # wechat_app | wechat_jsapi | alipay_app
    provider_txn_id = UnicodeAttribute(null=True)
    late_payment = BooleanAttribute(default=False)
    closed_reason = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    paid_at = UTCDateTimeAttribute(null=True)
    by_payer = ByPayer()


@register
class Refund(Model):
    Meta = meta("refunds")
    refund_id = UnicodeAttribute(hash_key=True)  # deterministic per (order, request key): out_refund_no
    order_id = UnicodeAttribute()
    amount_fen = NumberAttribute()
    reason = UnicodeAttribute()
    status = UnicodeAttribute()  # processing | succeeded | failed
    order_status_before = UnicodeAttribute()
    provider_refund_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    settled_at = UTCDateTimeAttribute(null=True)


class ByParty(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_party"
        projection = AllProjection()

    party = UnicodeAttribute(hash_key=True)  # "doctor#<id>" | "platform"
    month_key = UnicodeAttribute(range_key=True)  # "YYYY-MM#<entry_id>" (Asia/Shanghai month)


@register
class LedgerEntry(Model):
    """Append-only. Keyed by what caused it (provider transaction or refund) and the party, so a
    duplicate callback can never write it twice."""

    Meta = meta("ledger")
    entry_id = UnicodeAttribute(hash_key=True)  # "<pay|refund>#<source id>#<party>"
    party = UnicodeAttribute()
    month_key = UnicodeAttribute()
    order_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # credit | debit
    amount_fen = NumberAttribute()  # signed: credits positive, debits negative
    gross_fen = NumberAttribute(null=True)  # doctor entries: what the patient paid (or got back), signed
    fee_fen = NumberAttribute(null=True)  # doctor entries: the platform's share of it, signed
    created_at = UTCDateTimeAttribute()
    by_party = ByParty()
