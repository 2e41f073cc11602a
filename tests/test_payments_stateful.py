"""Money is exact: a hypothesis state machine interleaves create / pay / duplicate and probe
callbacks / refund / partial refund / refund completion / reconcile / expiry, and checks after
every step that, per order, ledger = paid − refunded, refunds never exceed the payment, and a
payment is recorded at most once."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from chalicelib.core.errors import ApiError
from chalicelib.core.http import Caller
from chalicelib.payments import service, wechat
from chalicelib.payments.models import LedgerEntry, Order


def _ledger(order_id: str) -> list[LedgerEntry]:
    return [e for e in LedgerEntry.scan(LedgerEntry.order_id == order_id)]


@pytest.mark.filterwarnings("ignore")
def test_money_invariants(aws, wxpay):
    sb = wxpay

    class Payments(RuleBasedStateMachine):
        orders = Bundle("orders")

        @initialize()
        def setup(self):
            self.payer = Caller("01PAYER00000000000000000000", "patient")
            self.notifications: dict[str, tuple] = {}
            self.known: list[str] = []

        @rule(target=orders, amount=st.integers(min_value=1, max_value=20000))
        def create(self, amount):
            o = service.create_order(payer_account_id=self.payer.account_id, product_type="consultation",
                                     product_id="p", amount_fen=amount, doctor_id="01DOCTOR000000000000000000",
                                     description="问诊")
            self.known.append(o.order_id)
            return o.order_id

        @rule(order_id=orders)
        def start_pay(self, order_id):
            try:
                service.pay(self.payer, order_id, "wechat_app", None)
            except ApiError:
                pass

        @rule(order_id=orders)
        def provider_pays(self, order_id):
            if order_id in sb.orders and sb.orders[order_id]["state"] in ("NOTPAY", "SUCCESS"):
                self.notifications[order_id] = sb.pay(order_id)

        @rule(order_id=orders, probe=st.booleans())
        def callback(self, order_id, probe):
            if order_id not in self.notifications:
                return
            headers, body = self.notifications[order_id]
            if probe:
                body = body.replace(b"TRANSACTION", b"TRANSACTIOM")
            try:
                service.handle_wechat_payment(headers, body)
                assert not probe
            except wechat.SignatureError:
                assert probe

        @rule(order_id=orders, amount=st.one_of(st.none(), st.integers(min_value=1, max_value=20000)),
              key=st.sampled_from(["a", "b", "c"]))
        def refund(self, order_id, amount, key):
            try:
                service.refund(order_id=order_id, amount_fen=amount, reason="退款", request_key=key)
            except ApiError:
                pass

        @rule(order_id=orders, ok=st.booleans())
        def provider_settles_refund(self, order_id, ok):
            for no, r in list(sb.refunds.items()):
                if r["out_trade_no"] == order_id and r["status"] == "PROCESSING":
                    if ok:
                        headers, body = sb.complete_refund(no)
                        service.handle_wechat_refund(headers, body)
                    else:
                        r["status"] = "ABNORMAL"
                        service.reconcile_refund(no)

        @rule(order_id=orders)
        def reconcile(self, order_id):
            service.reconcile_order(order_id)

        @rule(order_id=orders)
        def expire(self, order_id):
            try:
                service.close_order(order_id, "expired")
            except ApiError:
                pass

        @invariant()
        def books_balance(self):
            for order_id in self.known:
                o = Order.get(order_id, consistent_read=True)
                entries = _ledger(order_id)
                credits = [e for e in entries if int(e.amount_fen) > 0]
                paid = int(o.amount_fen) if o.status in ("paid", "refunding", "refunded") else 0
                assert sum(int(e.amount_fen) for e in entries) == paid - int(o.refunded_fen or 0)
                assert 0 <= int(o.refunded_fen or 0) <= int(o.amount_fen)
                assert len(credits) <= 2  # one payment: doctor share + platform fee, never twice
                provider_refunded = sum(r["amount"]["refund"] for r in sb.refunds.values()
                                        if r["out_trade_no"] == order_id and r["status"] == "SUCCESS")
                assert provider_refunded == int(o.refunded_fen or 0)

    run_state_machine_as_test(Payments, settings=settings(max_examples=20, stateful_step_count=12, deadline=None,
                                                          suppress_health_check=list(HealthCheck)))
