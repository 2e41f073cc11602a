"""A case is paid once and refunded at most once, and at most one expert holds it at any time:
a hypothesis state machine interleaves payment (and duplicate callbacks), withdrawal, triage,
assignment, decline, the 24 h timeout, acceptance, the report, operator refunds and the
deadline, with the real payments domain on the sandbox provider, and checks after every step."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from chalicelib.core import timers
from chalicelib.core.errors import ApiError
from chalicelib.core.http import Caller
from chalicelib.opinions import intake, matching, money, report
from chalicelib.opinions.models import Case, Expert
from chalicelib.opinions.schemas import CaseIn, ReportIn
from chalicelib.payments import service as payments
from chalicelib.payments import wechat
from chalicelib.payments.models import LedgerEntry, Refund
from tests.doctors_support import make_admin, make_patient
from tests.opinions_support import REPORT, make_expert
from tests.payments_support import wxpay  # noqa: F401  (fixture)


@pytest.mark.filterwarnings("ignore")
def test_paid_once_refunded_at_most_once_one_holder(api, clock, drain, wxpay):  # noqa: F811
    sb = wxpay
    admin_user = make_admin(api)
    experts = [make_expert(api, admin_user, name=f"专家{i}", max_open=50) for i in range(3)]
    patient_user = make_patient(api)
    patient = Caller(patient_user.account_id, "patient")
    admin = Caller(admin_user.account_id, "admin")
    expert_ids = [e.account_id for e in experts]
    drain()

    def quietly(fn, *args):
        try:
            fn(*args)
        except ApiError:
            pass
        drain()

    class Opinions(RuleBasedStateMachine):
        @initialize()
        def submit(self):
            body = CaseIn(profile_id=patient_user.profiles[0], reason="other", questions=["q1", "q2"],
                          diagnosis="d", treating_hospital="h", specialty="肺癌")
            created = intake.create_case(patient, body)
            self.case_id, self.order_id = created.case.case_id, created.order.order_id
            self.notice = None

        def case(self) -> Case:
            return Case.get(self.case_id, consistent_read=True)

        def holder(self) -> Caller | None:
            c = self.case()
            return Caller(c.holder_id, "doctor") if c.holder_id else None

        @rule()
        def pay(self):
            try:
                payments.pay(patient, self.order_id, "wechat_app", None)
            except ApiError:
                return
            if self.order_id in sb.orders and sb.orders[self.order_id]["state"] in ("NOTPAY", "SUCCESS"):
                self.notice = sb.pay(self.order_id)
                payments.handle_wechat_payment(*self.notice)
            drain()

        @rule()
        def duplicate_callback(self):
            if self.notice:
                try:
                    payments.handle_wechat_payment(*self.notice)
                except wechat.SignatureError:
                    pass  # a replay past the allowed clock skew is refused (and changes nothing)
                drain()

        @rule()
        def withdraw(self):
            quietly(intake.withdraw, patient, self.case_id)

        @rule()
        def request_records_then_resubmit(self):
            quietly(matching.request_records, admin, self.case_id, "more", "r")
            quietly(intake.resubmit, patient, self.case_id, None)

        @rule()
        def complete(self):
            quietly(matching.complete, admin, self.case_id, "summary", "r")

        @rule(expert=st.sampled_from([None, 0, 1, 2]))
        def assign(self, expert):
            quietly(matching.assign, admin, self.case_id, None if expert is None else expert_ids[expert])

        @rule()
        def decline(self):
            h = self.holder()
            if h:
                quietly(matching.decline, h, self.case_id, None)

        @rule()
        def accept(self):
            h = self.holder()
            if h:
                quietly(matching.accept, h, self.case_id)

        @rule()
        def publish(self):
            h = self.holder()
            if h:
                quietly(report.publish, h, self.case_id, ReportIn.model_validate(REPORT))

        @rule(ground=st.sampled_from(["disagreement", "service_failure"]))
        def operator_refund(self, ground):
            quietly(money.operator_refund, admin, self.case_id, ground, "reason")

        @rule(hours=st.sampled_from([1, 25, 24 * 8]))
        def time_passes(self, hours):
            clock.advance(hours=hours)
            timers.sweep()
            drain()

        @invariant()
        def paid_once_refunded_at_most_once(self):
            if not hasattr(self, "case_id"):
                return
            pays = [e for e in LedgerEntry.scan(LedgerEntry.order_id == self.order_id)
                    if e.entry_id.startswith("pay#")]
            assert len({e.entry_id.split("#")[1] for e in pays}) <= 1
            refunds = list(Refund.scan(Refund.order_id == self.order_id))
            assert len(refunds) <= 1
            c = self.case()
            if c.status == "reported":
                assert refunds == []
            if refunds:
                assert c.status in ("refunded", "withdrawn", "cancelled")

        @invariant()
        def at_most_one_holder(self):
            if not hasattr(self, "case_id"):
                return
            holding = [d for d in expert_ids if any(x.case_id == self.case_id for x in Case.by_holder.query(d))]
            c = self.case()
            assert len(holding) <= 1
            assert holding == ([c.holder_id] if c.status in ("assigned", "accepted") else [])
            for d in expert_ids:  # each expert's load is exactly what they hold
                assert int(Expert.get(d).open_cases) == sum(1 for _ in Case.by_holder.query(d))

    run_state_machine_as_test(Opinions, settings=settings(
        max_examples=10, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
