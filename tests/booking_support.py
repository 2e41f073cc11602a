"""Booking tests' helpers: a stand-in for the payments service (its promised contract, in
memory, emitting the real outbox events) until the payments domain lands on main, and quick
ways to make sessions and bound patients."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import publish


@dataclass
class Order:
    order_id: str
    status: str
    amount_fen: int
    expires_at: datetime
    payer_account_id: str = ""
    product_type: str = ""
    product_id: str = ""
    doctor_id: str = ""
    refunded_fen: int = 0


@dataclass
class Refund:
    refund_id: str
    order_id: str
    amount_fen: int
    request_key: str


@dataclass
class FakePayments:
    """``chalicelib.payments.service`` as promised: create_order / refund / close_order and the
    ``order.paid`` / ``order.closed`` / ``order.refunded`` events. ``pay()`` and ``expire()`` play
    the provider and the order's own expiry timer. No DynamoDB calls except the events."""

    orders: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)

    def _event(self, type_: str, o: Order, amount: int | None = None) -> None:
        publish(type_, {"order_id": o.order_id, "product_type": o.product_type, "product_id": o.product_id,
                        "payer_account_id": o.payer_account_id, "doctor_id": o.doctor_id,
                        "amount_fen": o.amount_fen if amount is None else amount})

    def create_order(self, *, payer_account_id, product_type, product_id, amount_fen, doctor_id, description,
                     expires_in_s=900) -> Order:
        self.calls.append(("create_order", product_id))
        o = Order(new_id(), "created", amount_fen, clock.now() + timedelta(seconds=expires_in_s), payer_account_id,
                  product_type, product_id, doctor_id)
        self.orders[o.order_id] = o
        if amount_fen == 0:
            o.status = "paid"
            self._event("order.paid", o)
        return o

    def close_order(self, order_id, reason) -> None:
        self.calls.append(("close_order", order_id))
        o = self.orders.get(order_id)
        if o is None:
            raise NotFound("order not found")
        if o.status == "closed":
            return
        if o.status != "created":
            raise Conflict("order is paid", code="invalid_state")
        o.status = "closed"
        self._event("order.closed", o)

    def refund(self, *, order_id, amount_fen, reason, request_key) -> Refund:
        self.calls.append(("refund", order_id))
        if request_key in self.refunds:
            return self.refunds[request_key]
        o = self.orders[order_id]
        if o.status not in ("paid", "refunded"):
            raise Conflict("order not paid", code="invalid_state")
        amount = o.amount_fen - o.refunded_fen if amount_fen is None else amount_fen
        assert 0 < amount <= o.amount_fen - o.refunded_fen, "refund beyond what was paid"
        o.refunded_fen += amount
        o.status = "refunded"
        r = Refund(new_id(), order_id, amount, request_key)
        self.refunds[request_key] = r
        self._event("order.refunded", o, amount)
        return r

    # -- what the provider / payments' own timer would do --
    def pay(self, order_id) -> bool:
        """The provider's paid callback: paid once; a closed order stays closed but the money
        has moved (provider paid after close) — modelled as paid so the booking refunds it."""
        o = self.orders[order_id]
        if o.status in ("paid", "refunded"):
            return False
        o.status = "paid"
        self._event("order.paid", o)
        return True

    def expire(self, order_id) -> None:
        o = self.orders[order_id]
        if o.status == "created":
            o.status = "closed"
            self._event("order.closed", o)

    def by_product(self, product_id) -> Order:
        return next(o for o in self.orders.values() if o.product_id == product_id)

    def refunded_total(self, order_id) -> int:
        return sum(r.amount_fen for r in self.refunds.values() if r.order_id == order_id)


def session_body(**over) -> dict:
    """A session 3 days ahead, 09:00–11:30 Asia/Shanghai."""
    day = (clock.now().astimezone(clock.SHANGHAI) + timedelta(days=3)).date()
    return {"date": day.isoformat(), "start_time": "09:00", "end_time": "11:30", "hospital": "北京协和医院",
            "campus": "东单院区", "room": "门诊楼 3 层 12 诊室", "capacity": 2, "fee_fen": 5000, **over}


class RobustDrain:
    """``tests.support.OutboxDrain`` reads through stored shard iterators; moto rolls back a
    cancelled TransactWriteItems by swapping in a deep copy of each table, stream shard included,
    so a stored iterator keeps pointing at the discarded shard: it shows the cancelled
    transaction's outbox record (which never committed) and misses every later one. This drain
    keeps only a sequence position and asks for a fresh iterator on the current shard each time.
    (Worth folding into ``tests/support.py``; booking tests fail transactions on purpose.)"""

    def __init__(self):
        self._pos: dict[str, int] = {}
        self._base = None

    def _streams(self):
        return self._base._streams()

    def skip_existing(self):
        from moto.dynamodbstreams.models import dynamodbstreams_backends

        from tests.support import OutboxDrain

        self._base = OutboxDrain()
        streams, arn = self._streams()
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                            ShardIteratorType="LATEST")["ShardIterator"]
            from moto.core import DEFAULT_ACCOUNT_ID

            backend = dynamodbstreams_backends[DEFAULT_ACCOUNT_ID][streams.meta.region_name]
            self._pos[shard["ShardId"]] = backend.shard_iterators[it].sequence_number

    def records(self) -> list[dict]:
        streams, arn = self._streams()
        out = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            sid = shard["ShardId"]
            pos = self._pos.get(sid)
            kw = ({"ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": str(pos)} if pos is not None
                  else {"ShardIteratorType": "TRIM_HORIZON"})
            it = streams.get_shard_iterator(StreamArn=arn, ShardId=sid, **kw)["ShardIterator"]
            recs = streams.get_records(ShardIterator=it)["Records"]
            if recs:
                self._pos[sid] = max(int(r["dynamodb"]["SequenceNumber"]) for r in recs) + 1
            out.extend(recs)
        return out

    def __call__(self, max_rounds: int = 20) -> list[str]:
        from chalicelib.core.outbox import dispatch

        seen = []
        for _ in range(max_rounds):
            recs = [r for r in self.records() if r["eventName"] == "INSERT"]
            if not recs:
                return seen
            seen.extend(r["dynamodb"]["NewImage"]["type"]["S"] for r in recs)
            dispatch(recs)
        raise AssertionError("outbox did not settle")
